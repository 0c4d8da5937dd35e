#!/usr/bin/env python3
"""flow_context: every row's community_id against tshark's, on every shared capture.

    flow_context.py [--pcaps DIR] [--only SUBSTR] [-v] PROGRAM [ARGS...]

For each capture in DIR (default ../shared/pcaps) the program runs as
replay.py runs it (--read, long timeouts, -o stdout, ARGS). The oracle
walks the capture as tests/expect_tshark.py does for replay.py (the same
tshark options, decode-as ports and tunnel walk, so a row's key is the key
of the same packets there) and remembers the first frame of each key;
tshark's Community ID post-dissector (`--enable-protocol communityid`,
field communityid) gives that frame's ID, which the row must carry (the
program takes it from the flow's first packet: ICMP type and code, the
innermost flow for tunnelled traffic).

Per capture a mismatch line names the key and both IDs; at the end
`community_id: flows checked=N matched=M ...`. A row whose first frame has
no communityid in tshark (it computes none) is counted, not compared.

tshark's post-dissector hashes the last addresses and the last transport
ports it saw, which is not always the flow the row is about. A differing ID
is counted as "tshark hashed another header", not as a mismatch, only when
the frame's dissection shows it (the ID is then of a tuple that is not the
row's):
- the last IP header tshark read is not the row's (it opened a packet the
  program does not: CAPWAP, an ICMP error's quoted packet);
- the row's protocol has no ports but tshark read TCP, UDP, SCTP or ICMP
  behind it (ICMP inside AH) or around it (the outer UDP of a GTP-U tunnel
  carrying ESP). Exit 0 when every compared row matched and at least one was
compared, 1 otherwise, 77 without captures or tshark.
"""

import argparse
import concurrent.futures
import ipaddress
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import expect_tshark  # noqa: E402  (tests/expect_tshark.py)
import replay  # noqa: E402  (tests/integration/replay.py: running the program, row keys)


class FirstFrames(expect_tshark.Expectation):
    """expect_tshark's accounting, remembering each key's first frame."""

    def __init__(self):
        super().__init__()
        self.frame = None
        self.first = {}

    def add(self, proto, vlan, vni, src, dst, length, cols):
        super().add(proto, vlan, vni, src, dst, length, cols)
        lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
        self.first.setdefault((proto, vlan, vni, lo, hi), self.frame)


def first_frames(capture):
    """{key: first frame number}, walking frames as expect_tshark.expect()."""
    exp = FirstFrames()
    ports = dict(expect_tshark.DEFAULT_PORTS)
    extra = expect_tshark.DECAP_OPTS + expect_tshark.decode_as(ports)
    rows = list(expect_tshark.tshark_rows(capture, extra))
    num, first = expect_tshark.num, expect_tshark.first
    deep = set(num(first(r, "frame.number")) for r in rows if expect_tshark.needs_walk(r, ports))
    pkts = expect_tshark.pdml_packets(capture, deep, extra) if deep else {}
    raws = expect_tshark.raw_frames(capture, deep) if deep else {}
    redecode = expect_tshark.Redecoder(capture, ports)
    for row in rows:
        n = num(first(row, "frame.number"))
        exp.frame = n
        if n in deep and n in pkts and n in raws and expect_tshark.walkable(pkts[n]):
            expect_tshark.walk_frame(exp, pkts[n], raws[n], ports, redecode)
        else:
            expect_tshark.account(exp, row)
    return exp.first, extra


def tshark_fields(capture, extra, fields):
    """{frame number: [values of each field]} from tshark with the communityid
    post-dissector on (last occurrence: the innermost header's)."""
    cmd = ["tshark", "-n", "-r", capture, "--enable-protocol", "communityid", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=l"] + expect_tshark.TSHARK_OPTS + extra
    cmd += ["-e", "frame.number"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, check=False)
    if p.returncode != 0:
        raise RuntimeError("tshark failed on %s: %s" % (capture, p.stderr.strip()))
    out = {}
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) + 1 - len(cols))
        out[int(cols[0])] = cols[1:]
    return out


PORT_PROTOS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58}


def other_header(r, fields):
    """Why tshark's ID is of another tuple than row r's, or None."""
    protos, src4, dst4, src6, dst6 = fields
    toks = protos.split(":")
    ips = [i for i, t in enumerate(toks) if t in ("ip", "ipv6")]
    if not ips:
        return None
    k = ips[-1]
    last = {src4, dst4} if toks[k] == "ip" else {src6, dst6}
    try:
        last = {ipaddress.ip_address(a).compressed for a in last if a}
    except ValueError:
        return None
    mine = {ipaddress.ip_address(r["src_addr"]).compressed,
            ipaddress.ip_address(r["dst_addr"]).compressed}
    if last != mine:
        return "tshark's last IP header is %s, the row's %s" % (sorted(last), sorted(mine))
    after = [PORT_PROTOS[t] for t in toks[k + 1:] if t in PORT_PROTOS]
    before = [PORT_PROTOS[t] for t in toks[:k] if t in PORT_PROTOS]
    if r["ip_protocol"] not in PORT_PROTOS.values():
        if after:
            return "tshark hashed protocol %d behind %d" % (after[0], r["ip_protocol"])
        if before:
            return "tshark took the ports of an outer %d" % before[-1]
    return None


def check_capture(work):
    cap, program, args, verbose = work
    name = os.path.basename(cap)
    counts = {"checked": 0, "matched": 0, "row_null": 0, "oracle_none": 0, "other": 0}
    said = []
    rc, out, err = replay.run_program(program, cap, args)
    if rc == 2:
        return "skip", counts, ["SKIP %s: exit 2" % name]
    if rc != 0:
        return "bad", counts, ["FAIL %s: exit %s: %s" % (name, rc, err.strip()[-200:])]
    firsts, extra = first_frames(cap)
    ids = tshark_fields(cap, extra, ["communityid", "frame.protocols", "ip.src", "ip.dst",
                                     "ipv6.src", "ipv6.dst"])
    for line in out.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        key = replay.row_key(r)[0]
        frame = firsts.get(key)
        tf = ids.get(frame, [""] * 6) if frame is not None else [""] * 6
        want = tf[0]
        got = r.get("community_id")
        if not want:
            counts["oracle_none"] += 1
            if verbose:
                said.append("  %s %s: tshark has no ID for frame %s, row %s" % (
                    name, replay.key_text(key), frame, got))
            continue
        counts["checked"] += 1
        if got == want:
            counts["matched"] += 1
            continue
        why = other_header(r, tf[1:])
        if why:
            counts["checked"] -= 1
            counts["other"] += 1
            if verbose:
                said.append("  %s %s (frame %s): %s" % (name, replay.key_text(key), frame, why))
            continue
        if got is None:
            counts["row_null"] += 1
        said.append("MISMATCH %s %s (frame %s): row %s tshark %s" % (
            name, replay.key_text(key), frame, got, want))
    return ("bad" if counts["matched"] != counts["checked"] else "ok"), counts, said


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcaps", default=os.path.join(REPO, "..", "shared", "pcaps"))
    ap.add_argument("--only", default=None, help="only captures whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opt = ap.parse_args()
    if shutil.which("tshark") is None:
        print("flow_context: SKIP: no tshark")
        return 77
    if not os.path.isdir(opt.pcaps):
        print("flow_context: SKIP: no capture directory %s" % os.path.normpath(opt.pcaps))
        return 77
    caps = replay.captures_in(opt.pcaps)
    if opt.only:
        caps = [c for c in caps if opt.only in os.path.basename(c)]
    total = {"checked": 0, "matched": 0, "row_null": 0, "oracle_none": 0, "other": 0}
    n_bad = n_skip = 0
    work = [(c, opt.program, opt.args, opt.verbose) for c in caps]
    with concurrent.futures.ProcessPoolExecutor(max_workers=replay.jobs()) as pool:
        for verdict, counts, said in pool.map(check_capture, work):
            for line in said[:20]:
                print(line, flush=True)
            for k in total:
                total[k] += counts[k]
            n_bad += verdict == "bad"
            n_skip += verdict == "skip"
    print("captures=%d failed=%d skipped=%d" % (len(caps), n_bad, n_skip))
    print("community_id: flows checked=%d matched=%d (row NULL where tshark has one: %d; "
          "not compared: tshark has none %d, tshark hashed another header %d)" % (
              total["checked"], total["matched"], total["row_null"], total["oracle_none"],
              total["other"]))
    if total["checked"] == 0:
        print("flow_context: FAIL: nothing compared")
        return 1
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
