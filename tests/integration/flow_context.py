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

server_name, dns_query and dns_rcode are checked against the frames of the
row's flow (its key, within the first and last time of the flow's rows: a
later segment carries the flow's values): dns_query is tshark's first
`dns.qry.name` of the flow, dns_rcode the `dns.flags.rcode` of its first
response, server_name its first `tls.handshake.extensions_server_name` (TLS
or QUIC) or `http.host`, whichever comes first. A row whose flow has no such
value in tshark must have NULL (a value tshark does not see is a mismatch
too). Not compared, counted apart with the reason (`-v` names each row):
- the row is not TCP or UDP (tshark read DNS or TLS inside an ICMP error's
  quoted packet, which is no flow of its own);
- DNS on ports other than 53, 5353 and 5355 (tshark's heuristics or port
  tables open more; the issue names these three);
- a name tshark prints differently (other bytes than printable ASCII, a '.'
  or '\\' inside a label, the root as <Root>: docs/flow-context.md);
- HTTP over UDP (SSDP's M-SEARCH and NOTIFY): the issue's Host is that of
  HTTP/1.x requests on TCP;
- a first question cut by the capture after its name (tshark gives no
  dns.qry.name without the type and class; the program has the whole name),
  and a Host tshark read behind a request line that is not HTTP/1.x (fuzzed
  captures), when the row differs;
- a ClientHello behind a PROXY protocol header (haproxy.pcap: not read);
  a server_name where tshark decodes no TLS or QUIC and no HTTP Host in the
  flow (its port tables: HTTP on the SIP port 5060 read as SIP, TLS on 8080
  read as HTTP);
- QUIC other than version 1 (drafts), a QUIC ClientHello whose SNI tshark
  finds only in a later Initial datagram (the reader reads one datagram),
  a ClientHello over UDP other than QUIC (DTLS, RDP-UDP);
- a row whose value tshark shows is on another row of the same key (a flow
  the program split into several rows: steam.pcapng's packet times);
- a SNI the program read from the first part of a ClientHello whose rest the
  capture lacks (tshark names none: tls_missing_ch_frag.pcap);
- a value tshark read inside a packet the row's flow carries and the
  program does not open (CAPWAP, Teredo: the same test as community_id's
  "another header").

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
import re
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
    """expect_tshark's accounting, remembering each key's frames."""

    def __init__(self):
        super().__init__()
        self.frame = None
        self.first = {}
        self.key_frames = {}

    def add(self, proto, vlan, vni, src, dst, length, cols):
        super().add(proto, vlan, vni, src, dst, length, cols)
        lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
        key = (proto, vlan, vni, lo, hi)
        self.first.setdefault(key, self.frame)
        self.key_frames.setdefault(key, []).append(self.frame)


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
    return exp.first, exp.key_frames, extra


def tshark_fields(capture, extra, fields, occurrence="l", communityid=True):
    """{frame number: [values of each field]} from tshark, by default with the
    communityid post-dissector on and the last occurrence (the innermost
    header's)."""
    cmd = ["tshark", "-n", "-r", capture]
    if communityid:
        cmd += ["--enable-protocol", "communityid"]
    cmd += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=" + occurrence]
    cmd += expect_tshark.TSHARK_OPTS + extra + ["-e", "frame.number"]
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

CTX_FIELDS = ["frame.time_epoch", "frame.protocols", "dns.qry.name", "dns.flags.response",
              "dns.flags.rcode", "tls.handshake.extensions_server_name", "http.host",
              "http.request.version", "dns.count.queries", "quic.version"]
DNS_PORTS = (53, 5353, 5355)


def ctx_frames(capture, extra):
    """{frame number: CTX_FIELDS values}, the first occurrence of each."""
    return {n: dict(zip(CTX_FIELDS, v)) for n, v in
            tshark_fields(capture, extra, CTX_FIELDS, "f", communityid=False).items()}


def iso_epoch(text):
    """'YYYY-MM-DDTHH:MM:SS.uuuuuuZ' as microseconds since the epoch."""
    import datetime
    d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000000 + d.microsecond


def ctx_want(frames, fields, lo_us, hi_us):
    """What tshark says the flow's values are: {field: (value, source)}."""
    want = {}
    for n in frames:
        f = fields.get(n)
        if f is None:
            continue
        t = f["frame.time_epoch"].split(".")
        us = int(t[0]) * 1000000 + int((t[1] + "000000")[:6]) if t[0] else None
        if us is not None and (us < lo_us or us > hi_us):
            continue
        want.setdefault("_protos", []).append(f["frame.protocols"])
        if "dns_query" not in want and f["dns.qry.name"]:
            want["dns_query"] = (f["dns.qry.name"], "dns", n)
        if "dns_rcode" not in want and f["dns.flags.response"] in ("1", "True") \
                and f["dns.flags.rcode"] != "":
            want["dns_rcode"] = (int(f["dns.flags.rcode"]), "dns", n)
        if "server_name" not in want:
            protos = f["frame.protocols"].split(":")
            if f["tls.handshake.extensions_server_name"]:
                src = "quic" if "quic" in protos else "dtls" if "dtls" in protos else "tls"
                if src == "quic" and f["quic.version"] not in ("0x00000001", "1"):
                    src = "quic-other"
                elif src == "quic" and any("quic" in x.split(":") for x in want["_protos"][:-1]):
                    src = "quic-later"
                want["server_name"] = (f["tls.handshake.extensions_server_name"], src, n)
            elif f["http.host"]:
                v = f["http.request.version"]
                want["server_name"] = (f["http.host"], "http" if v in (
                    "HTTP/1.0", "HTTP/1.1") else "http-odd", n)
        if "dns_query" not in want and not f["dns.qry.name"] and \
                f["dns.count.queries"] not in ("", "0"):
            want["dns_query"] = (None, "dns-cut", n)
    return want


def printed_apart(a, b):
    """A name tshark prints another way than the program (docs/flow-context.md)."""
    for v in (a, b):
        if isinstance(v, str) and (v == "<Root>" or "\\" in v or
                                   any(ord(c) < 0x20 or ord(c) > 0x7e for c in v)):
            return True
    return False


CTX_COLS = ("server_name", "dns_query", "dns_rcode")


def check_ctx(name, rows, frames_of, fields, ids, verbose, counts, said):
    """server_name, dns_query, dns_rcode of every row against tshark."""
    window = {}
    for r in rows:
        lo, hi = iso_epoch(r["first_seen_at"]), iso_epoch(r["last_seen_at"])
        w = window.get(r["id"], (lo, hi))
        window[r["id"]] = (min(w[0], lo), max(w[1], hi))
    siblings = {}
    for r in rows:
        siblings.setdefault(replay.row_key(r)[0], []).append(r)
    for r in rows:
        key = replay.row_key(r)[0]
        lo, hi = window[r["id"]]
        want = ctx_want(frames_of.get(key, []), fields, lo, hi)
        for col in CTX_COLS:
            c = counts[col]
            got = r.get(col)
            w, src, frame = want.get(col, (None, None, None))
            why = None
            if r["ip_protocol"] not in (6, 17):
                if got is None and w is None:
                    continue
                why = "not TCP or UDP"
            elif col != "server_name" and w is not None and \
                    r["src_port"] not in DNS_PORTS and r["dst_port"] not in DNS_PORTS:
                why = "DNS on ports %d/%d" % (r["src_port"], r["dst_port"])
            elif src in ("http", "http-odd") and r["ip_protocol"] == 17:
                why = "HTTP over UDP (SSDP): server_name reads HTTP/1.x on TCP"
            elif src == "quic-other" and got != w:
                why = "a QUIC version other than 1 (drafts; the issue reads v1)"
            elif src == "quic-later" and got != w:
                why = "the ClientHello spans QUIC Initial datagrams (not followed)"
            elif src in ("dtls", "tls") and r["ip_protocol"] == 17 and got != w:
                why = "a ClientHello over UDP (DTLS, RDP-UDP; not read)"
            elif src == "tls" and got != w and any(
                    "proxy" in x.split(":") for x in want.get("_protos", [])):
                why = "TLS behind a PROXY protocol header (not read)"
            elif col == "server_name" and w is None and got is not None and any(
                    "tls" in x.split(":") for x in want.get("_protos", [])):
                why = ("tshark has no whole ClientHello (a segment the capture lacks); the "
                       "program reads the SNI once it is whole")
            elif col == "server_name" and w is None and got is not None and not any(
                    set(x.split(":")) & {"tls", "quic"} for x in want.get("_protos", [])):
                why = "tshark read no ClientHello or request there (%s)" % ", ".join(
                    sorted(set(x.split(":")[-1] for x in want.get("_protos", []))))
            elif src == "http-odd" and got != w:
                why = "tshark read a request line that is not HTTP/1.x (fuzzed bytes)"
            elif src == "dns-cut" and got != w:
                why = "tshark names no question cut before its type and class"
            elif got != w and w is not None and any(
                    o["id"] != r["id"] and o.get(col) == w for o in siblings[key]):
                why = "the value is on another row of this key (the flow is split into rows)"
            elif got != w and printed_apart(got, w):
                why = "printed apart"
            elif got != w and frame is not None and other_header(r, ids.get(frame, [""] * 6)[1:]):
                why = "tshark read it in another packet: " + other_header(r, ids[frame][1:])
            if why:
                c["apart"] += 1
                if verbose:
                    said.append("  %s %s %s: %s (row %r, tshark %r)" % (
                        name, replay.key_text(key), col, why, got, w))
                continue
            c["checked"] += 1
            if w is not None:
                c["with_value"] += 1
            if got == w:
                c["matched"] += 1
                continue
            said.append("MISMATCH %s %s %s: row %r tshark %r" % (
                name, replay.key_text(key), col, got, w))


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


def new_counts():
    counts = {"checked": 0, "matched": 0, "row_null": 0, "oracle_none": 0, "other": 0,
              "ctx_with_value": 0, "ctx_flows": 0, "ctx_counters_bad": 0}
    for col in CTX_COLS:
        counts[col] = {"checked": 0, "matched": 0, "with_value": 0, "apart": 0}
    return counts


def check_capture(work):
    cap, program, args, verbose = work
    name = os.path.basename(cap)
    counts = new_counts()
    said = []
    rc, out, err = replay.run_program(program, cap, args)
    if rc == 2:
        return "skip", counts, ["SKIP %s: exit 2" % name]
    if rc != 0:
        return "bad", counts, ["FAIL %s: exit %s: %s" % (name, rc, err.strip()[-200:])]
    firsts, frames_of, extra = first_frames(cap)
    ids = tshark_fields(cap, extra, ["communityid", "frame.protocols", "ip.src", "ip.dst",
                                     "ipv6.src", "ipv6.dst"])
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    check_ctx(name, rows, frames_of, ctx_frames(cap, extra), ids, verbose, counts, said)
    # The final line's counters: every flow whose rows carry a value kept
    # one in the store, nothing was dropped on the way (small captures).
    fin = dict(re.findall(r"\b(ctx_\w+)=(\d+)", err.strip().splitlines()[-1] if err.strip()
                                                     else ""))
    with_value = len({r["id"] for r in rows
                      if any(r.get(c) is not None for c in CTX_COLS)})
    counts["ctx_with_value"] += with_value
    counts["ctx_flows"] += int(fin.get("ctx_flows", -1))
    if "ctx_flows" not in fin or int(fin["ctx_flows"]) < with_value or \
            int(fin.get("ctx_dropped", -1)) != 0:
        counts["ctx_counters_bad"] += 1
        said.append("COUNTERS %s: final line %r, %d flows with a value in their rows" % (
            name, fin, with_value))
    for r in rows:
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
    bad = counts["ctx_counters_bad"] or counts["matched"] != counts["checked"] or any(
        counts[c]["matched"] != counts[c]["checked"] for c in CTX_COLS)
    return ("bad" if bad else "ok"), counts, said


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
    total = new_counts()
    n_bad = n_skip = 0
    work = [(c, opt.program, opt.args, opt.verbose) for c in caps]
    with concurrent.futures.ProcessPoolExecutor(max_workers=replay.jobs()) as pool:
        for verdict, counts, said in pool.map(check_capture, work):
            for line in said[:20]:
                print(line, flush=True)
            for k in total:
                if k in CTX_COLS:
                    for j in total[k]:
                        total[k][j] += counts[k][j]
                else:
                    total[k] += counts[k]
            n_bad += verdict == "bad"
            n_skip += verdict == "skip"
    print("captures=%d failed=%d skipped=%d" % (len(caps), n_bad, n_skip))
    print("community_id: flows checked=%d matched=%d (row NULL where tshark has one: %d; "
          "not compared: tshark has none %d, tshark hashed another header %d)" % (
              total["checked"], total["matched"], total["row_null"], total["oracle_none"],
              total["other"]))
    for col in CTX_COLS:
        c = total[col]
        print("%s: flows checked=%d matched=%d mismatched=%d (with a value in tshark: %d; "
              "not compared: %d)" % (col, c["checked"], c["matched"], c["checked"] - c["matched"],
                                     c["with_value"], c["apart"]))
    print("ctx counters: ctx_flows=%d (flows with a value in their rows %d), captures whose "
          "final line disagrees or drops contexts: %d" % (
              total["ctx_flows"], total["ctx_with_value"], total["ctx_counters_bad"]))
    if total["checked"] == 0 or any(total[c]["with_value"] == 0 for c in CTX_COLS):
        print("flow_context: FAIL: nothing compared")
        return 1
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
