#!/usr/bin/env python3
"""replay: every shared capture through dpdk-devourer --read, checked against tshark.

    replay.py [--pcaps DIR] [--cache DIR] [--only SUBSTR] [--decap on|off] [-v] PROGRAM [ARGS...]

For each capture in DIR (default: ../shared/pcaps relative to the repo root)
the program runs as

    PROGRAM --read CAPTURE --flow-timeout 1h --active-timeout 1d -o stdout ARGS...

(long timeouts keep one row per flow; sums per key would not change anyway),
its rows are summed per canonical key (IP protocol, VLAN, tunnel_id,
unordered endpoint pair; packets and bytes per endpoint, mapped from
src_*/dst_*), and the sums are compared with tests/expect_tshark.py, which
derives them from tshark without running the program. ARGS go to the
program, e.g. `--workers 2`. `--decap on|off` is given to both the oracle
and the program (`--decap off` to the program; with `on`, the default, the
program gets no option). Each row's tunnel, tunnel_id, tunnel_src_addr and
tunnel_dst_addr must be the columns one of its key's packets had in the
oracle's walk (the program takes them from a flow's first packet).

The program's final stats line must also agree with tshark on the frames,
IP packets, non-IP frames and malformed frames of the capture (the
expect_tshark rules), and, when the line has them, on tunnelled,
decap_depth and bad_tunnel; a capture with no stats line fails, and so
does one with a frame the oracle could not decode (it cannot vouch for it).

Prints one line per mismatching capture with the differing keys and counts,
then `captures=N ok=N mismatched=N skipped=N`. A capture the program refuses
with exit 2 is skipped only when capinfos says its link type is one SPEC 2
does not parse (the program must refuse it); exit 2 on a link type it
parses (Ethernet, Linux cooked, raw IP, BSD loopback) is a failure. Exit
status: 0 all compared captures match and at least one was compared, 1 a
mismatch, a program failure or no capture compared (e.g. every capture
refused), 77 the capture directory is absent.

--cache DIR keeps tshark's expectations between runs (keyed by the capture's
content, expect_tshark.py's source, a format number here and tshark's version),
so the run with 2 workers does not decode everything again. Default:
tests/out/replay-cache (git-ignored); --cache '' turns it off.
"""

import argparse
import concurrent.futures
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import expect_tshark  # noqa: E402  (tests/expect_tshark.py)

PROGRAM_TIMEOUT = 300
CAPTURE_EXT = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")

# Captures where tshark and SPEC legitimately disagree, with the reason. Each
# entry names the keys (as printed in a mismatch line) whose difference is
# accepted, and optionally "counts": the stats counters (packets, ip, non_ip,
# malformed) whose difference is accepted; anything else in the same capture
# still fails. Empty means none.
EXCEPTIONS = {
    # The fuzzed record's original length is 4093509168 (checked in the raw
    # record header: caplen 48, len 0xF3FDFE30). No frame is that long: the
    # program does not believe an original length over 262144 (libpcap's
    # largest snap length) and counts the record's 48 captured bytes
    # (bad_length); tshark's frame.len is a signed 32-bit field and clamps
    # it to 2147483647.
    "fuzz-2021-06-07-c6c72a0a56.pcap": {
        "reason": "the record claims 4093509168 bytes: the program counts its 48 captured "
                  "bytes, tshark clamps frame.len to 2^31-1",
        "keys": ["17/- 0.6.255.0:53975-102.110.128.32:2152"],
    },
}


# Link types (capinfos -E names) that SPEC section 2 parses: the program
# must read these, never refuse them with exit 2.
PARSED_LINK_TYPES = {"ether", "linux-sll", "linux-sll2", "rawip", "rawip4", "rawip6",
                     "null", "loop"}
COUNTERS = ("packets", "ip", "non_ip", "malformed")
# Counters of issue 16, compared when the program's stats line has them.
DECAP_COUNTERS = ("tunnelled", "decap_depth", "bad_tunnel")


def link_type(capture):
    """The capture's encapsulation as capinfos names it ("ether", ...), or
    None if capinfos cannot say."""
    try:
        r = subprocess.run(["capinfos", "-T", "-r", "-E", capture], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = r.stdout.strip().split("\t")
    return fields[-1] if r.returncode == 0 and len(fields) >= 2 else None


def norm_ep(addr, port):
    return (ipaddress.ip_address(addr).compressed, int(port))


def key_text(key):
    proto, vlan, vni, lo, hi = key
    return "%d/%s%s %s:%d-%s:%d" % (proto, "-" if vlan is None else vlan,
                                    "" if vni is None else "/vni%d" % vni,
                                    lo[0], lo[1], hi[0], hi[1])


_TSHARK_VERSION = []


def tshark_version():
    """tshark's version banner, asked once (0.4 s a call) and kept."""
    if not _TSHARK_VERSION:
        _TSHARK_VERSION.append(subprocess.run(
            ["tshark", "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            check=False).stdout[:200])
    return _TSHARK_VERSION[0]


def expectation(capture, cache_dir, decap=True):
    """expect_tshark's flows for a capture as {key: {endpoint: [pkts, bytes]}}."""
    path = None
    if cache_dir:
        h = hashlib.sha256()
        with open(capture, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        # The oracle's source, not this script's: editing how the program's
        # rows are compared does not make tshark decode everything again.
        h.update(b"replay cache format 2 decap=%s" % (b"on" if decap else b"off"))
        with open(expect_tshark.__file__, "rb") as f:
            h.update(f.read())
        h.update(tshark_version())
        path = os.path.join(cache_dir, h.hexdigest() + ".json")
        if os.path.exists(path):
            with open(path) as f:
                return from_json(json.load(f))
    exp = expect_tshark.expect(capture, decap=decap)
    doc = expect_tshark.to_doc(exp)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    return from_json(doc)


def from_json(doc):
    flows = {}
    for proto, vlan, vni, a, pa, b, pb, n1, b1, n2, b2 in doc["flows"]:
        lo, hi = (a, pa), (b, pb)
        per = flows.setdefault((proto, vlan, vni, lo, hi), {})
        per[lo] = [n1, b1]
        if hi != lo:
            per[hi] = [n2, b2]
    return flows, doc


def tunnel_columns(doc):
    """{key: set of (tunnel, tunnel_id, tunnel_src_addr, tunnel_dst_addr)} from the oracle."""
    out = {}
    for f, cols in zip(doc["flows"], doc.get("tunnels", [])):
        proto, vlan, vni, a, pa, b, pb = f[:7]
        out[(proto, vlan, vni, (a, pa), (b, pb))] = set(tuple(c) for c in cols)
    return out


ROW_TUNNEL = ("tunnel", "tunnel_id", "tunnel_src_addr", "tunnel_dst_addr")


def row_key(r):
    src = norm_ep(r["src_addr"], r["src_port"])
    dst = norm_ep(r["dst_addr"], r["dst_port"])
    lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
    return (r["ip_protocol"], r["vlan_id"], r.get("tunnel_id"), lo, hi), src, dst


def row_tunnel(r):
    cols = [r.get(c) for c in ROW_TUNNEL]
    for i in (2, 3):
        if cols[i] is not None:
            cols[i] = ipaddress.ip_address(cols[i]).compressed
    return tuple(cols)


def tunnel_diffs(stdout, want):
    """Rows whose tunnel columns are none of their key's packets' (as key text, got, wanted)."""
    bad = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        key = row_key(r)[0]
        got = row_tunnel(r)
        if key in want and got not in want[key]:
            bad.append((key, got, sorted(want[key], key=str)))
    return bad


def run_program(program, capture, args):
    cmd = [program, "--read", capture, "--flow-timeout", "1h", "--active-timeout", "1d",
           "-o", "stdout"] + args
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=PROGRAM_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, "", "timeout after %ds" % PROGRAM_TIMEOUT
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def program_flows(stdout):
    """Rows summed per canonical key. Endpoints are normalized like tshark's."""
    flows = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        key, src, dst = row_key(r)
        per = flows.setdefault(key, {})
        for ep, side in ((src, "src"), (dst, "dst")):
            c = per.setdefault(ep, [0, 0])
            c[0] += r[side + "_packets"]
            c[1] += r[side + "_bytes"]
    # A flow whose two endpoints are equal gets both sides on one endpoint,
    # as expect_tshark counts it; drop all-zero endpoints (no packets sent).
    for per in flows.values():
        for ep in [ep for ep, c in per.items() if c == [0, 0]]:
            del per[ep]
    return flows


def compare(exp, got):
    """Differing keys as (key, expected, got) with {} for a missing key."""
    diffs = []
    for key in sorted(set(exp) | set(got), key=expect_tshark.key_sort):
        e, g = exp.get(key, {}), got.get(key, {})
        e = {ep: c for ep, c in e.items() if c != [0, 0]}
        if e != g:
            diffs.append((key, e, g))
    return diffs


def fmt_side(per, key):
    lo, hi = key[3], key[4]
    a = per.get(lo, [0, 0])
    b = per.get(hi, [0, 0]) if hi != lo else [0, 0]
    if not per:
        return "none"
    return "%d/%dB,%d/%dB" % (a[0], a[1], b[0], b[1])


def stats_line(stderr):
    """The program's final stats line as a dict of integers (may be empty)."""
    stats = {}
    for line in stderr.splitlines():
        if "packets=" in line:
            stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)\b", line)}
    return stats


def captures_in(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.endswith(CAPTURE_EXT) and os.path.isfile(os.path.join(d, f)))


def jobs():
    """Captures checked at once: REPLAY_JOBS, else one per CPU (each program
    run has its own EAL file prefix; tshark and the program overlap)."""
    try:
        return max(1, int(os.environ.get("REPLAY_JOBS", "")))
    except ValueError:
        return max(1, min(4, os.cpu_count() or 1))


def check_capture(work):
    """One capture: ("ok"|"excused"|"bad"|"skip", lines to print)."""
    cap, program, args, cache, decap, verbose = work
    name = os.path.basename(cap)
    said = []
    rc, out, err = run_program(program, cap, args)
    if rc == 2:
        lines = [l for l in err.splitlines() if l.strip()]
        reason = lines[-1] if lines else "(no message)"
        link = link_type(cap)
        if link is None or link in PARSED_LINK_TYPES:
            said.append("FAIL %s: exit 2 on a link type SPEC 2 parses (capinfos: %s): %s" %
                        (name, link, reason))
            return "bad", said
        said.append("SKIP %s: exit 2 (capinfos: link type %s): %s" % (name, link, reason))
        return "skip", said
    if rc != 0:
        said.append("FAIL %s: exit %s: %s" % (name, rc, err.strip().splitlines()[-1:] or err))
        return "bad", said
    try:
        got = program_flows(out)
    except (ValueError, KeyError) as e:
        said.append("FAIL %s: unreadable row: %s" % (name, e))
        return "bad", said
    exp, doc = expectation(cap, cache, decap)
    diffs = compare(exp, got)
    tdiffs = tunnel_diffs(out, tunnel_columns(doc)) if decap else []
    allowed = EXCEPTIONS.get(name, {})
    excused = [d for d in diffs if key_text(d[0]) in allowed.get("keys", ())]
    diffs = [d for d in diffs if d not in excused]
    stats = stats_line(err)
    want = dict(zip(COUNTERS, (doc["frames"], doc["ip"], doc["non_ip"], doc["malformed"])))
    for c in DECAP_COUNTERS:
        if c in stats:
            want[c] = doc.get(c, 0)
    off = [c for c in want if stats.get(c) != want[c]]
    off_excused = [c for c in off if c in allowed.get("counts", ())]
    off = [c for c in off if c not in off_excused]
    counts = ""
    if off or off_excused:
        counts = (" [frames/ip/non_ip/malformed tshark %d/%d/%d/%d program %s/%s/%s/%s]"
                  % (want["packets"], want["ip"], want["non_ip"], want["malformed"],
                     stats.get("packets"), stats.get("ip"), stats.get("non_ip"),
                     stats.get("malformed")))
        extra = [c for c in DECAP_COUNTERS if c in off or c in off_excused]
        if extra:
            counts += " [%s tshark %s program %s]" % (
                "/".join(extra), "/".join(str(want[c]) for c in extra),
                "/".join(str(stats.get(c)) for c in extra))
    bad = bool(doc.get("undecoded") or tdiffs or diffs or off)
    if doc.get("undecoded"):
        said.append("UNDECODED %s: the oracle cannot judge %d frame(s), e.g. frame %s: %s" % (
            name, len(doc["undecoded"]), doc["undecoded"][0][0], doc["undecoded"][0][1]))
    if tdiffs:
        said.append("TUNNEL-COLUMNS %s: %d row(s) with columns no packet of the flow had: %s" % (
            name, len(tdiffs), "; ".join("%s got %s wanted one of %s" % (key_text(k), g, w)
                                         for k, g, w in tdiffs[:3])))
    if diffs or off:
        shown = diffs if verbose else diffs[:4]
        said.append("MISMATCH %s: %d keys differ%s%s%s%s" % (
            name, len(diffs),
            ", counters %s differ" % "/".join(off) if off else "", counts,
            ": " if shown else "",
            "; ".join("%s expected %s got %s" % (key_text(k), fmt_side(e, k),
                                                  fmt_side(g, k)) for k, e, g in shown) +
            ("; ..." if len(shown) < len(diffs) else "")))
        if not stats:
            said.append("  (no final stats line in the program's stderr: %r)" % err[-300:])
    if bad:
        return "bad", said
    if excused or off_excused:
        said.append("ok %s: %d differences excused%s: %s" % (
            name, len(excused) + len(off_excused), counts, allowed.get("reason")))
        return "excused", said
    if verbose:
        said.append("ok %s: %d flows" % (name, len(exp)))
    return "ok", said


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcaps", default=os.path.join(REPO, "..", "shared", "pcaps"))
    ap.add_argument("--cache", default=os.path.join(REPO, "tests", "out", "replay-cache"),
                    help="directory for tshark expectations ('' for none)")
    ap.add_argument("--only", default=None, help="only captures whose name contains this")
    ap.add_argument("--decap", choices=("on", "off"), default=None,
                    help="oracle mode, also given to the program (default: on, "
                         "the program's default, no option passed)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("program")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opt = ap.parse_args()

    if not os.path.isdir(opt.pcaps):
        print("replay: SKIP: no capture directory %s" % os.path.normpath(opt.pcaps))
        return 77
    caps = captures_in(opt.pcaps)
    if opt.only:
        caps = [c for c in caps if opt.only in os.path.basename(c)]
    if not caps:
        print("replay: SKIP: no captures in %s" % os.path.normpath(opt.pcaps))
        return 77
    decap = opt.decap != "off"
    if opt.decap is not None:
        opt.args = ["--decap", opt.decap] + opt.args
    argv_txt = " ".join(opt.args)
    print("replay: %d captures, program %s %s" % (len(caps), opt.program, argv_txt))
    n_ok = n_bad = n_skip = n_excused = 0
    work = [(cap, opt.program, opt.args, opt.cache, decap, opt.verbose) for cap in caps]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs()) as pool:
        for verdict, said in pool.map(check_capture, work):
            for line in said:
                print(line, flush=True)
            n_ok += verdict in ("ok", "excused")
            n_excused += verdict == "excused"
            n_bad += verdict == "bad"
            n_skip += verdict == "skip"
    print("captures=%d ok=%d mismatched=%d skipped=%d%s" % (
        len(caps), n_ok, n_bad, n_skip,
        " (%d with excused differences)" % n_excused if n_excused else ""))
    if n_ok == 0:
        print("replay: FAIL: no capture was compared")
        return 1
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
