"""live_tap: a tapped link replayed on two net_pcap ports gives each flow
of the original capture as one row holding both directions.

For each capture, split_dirs (a libpcap tool that does not link the engine)
splits it into its two directions; the halves become two net_pcap ports
(for some captures each half is dealt again over two rx_pcap queues) read by
2 workers, so packets cross the worker-0 hand-off and both directions meet
in one table. When telemetry says every frame was received, SIGTERM; then
each flow tshark finds in the original capture (tests/expect_tshark.py:
canonical key, packets and bytes per endpoint) must be exactly one row, with
both endpoints' packets and bytes equal to tshark's and status
"established" exactly when both sent. A flow split into two half-flows (one
row per direction: the directions met in two workers) fails, even though
its per-key sums are right. Every live row must say end_reason "shutdown"
(but see not_shutdown) and the program must exit 0.

Captures: Ethernet, no snap-length truncation (tshark frame.len ==
frame.cap_len on every frame) and every frame <= 1824 bytes (mbufs hold
2048), since net_pcap reports the captured length. Captures with IP
fragments are not dealt over two queues: the order of a datagram's
fragments across queues is not defined, and a later fragment seen before
its first is, by the SPEC, a flow with ports 0.
"""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib as L  # noqa: E402

NAME = "live_tap"

# (capture, deal each half over 2 queues, what it brings)
CAPTURES = [
    ("bot.pcap", True, "802.1Q on every frame, HTTP"),
    ("vxlan.pcap", True, "802.1Q, VXLAN over UDP"),
    ("hsrp2_ipv6.pcapng", False, "802.1Q with IPv6 multicast"),
    ("syslog.pcap", True, "tagged and untagged, IPv4 and IPv6"),
    ("dns_fragmented.pcap", False, "IPv6 fragments, 1818-byte frames"),
    ("dnscrypt-v1-and-resolver-pings.pcap", False, "IPv4 fragments, ICMP"),
    ("ip_fragmented_garbage.pcap", False, "1252 IPv4 fragments"),
    ("telegram.pcap", True, "TCP and UDP, IPv4 and IPv6"),
    ("synscan.pcap", True, "2011 frames of SYN scan: many flows, RST"),
    ("pptp.pcap", False, "GRE"),
    ("ah.pcapng", False, "IPsec AH (pcapng)"),
    ("esp.pcapng", False, "IPsec ESP (pcapng)"),
    ("4in6tunnel.pcap", False, "IPv4 in IPv6"),
    ("quic.pcap", True, "QUIC"),
    ("teamspeak3.pcap", True, "UDP"),
    ("pim.pcap", False, "PIM"),
    ("whatsapp_login_call.pcap", True, "mixed, 1253 frames"),
    ("webdav.pcap", False, "1614-byte frames"),
]


def canon(r):
    ends = sorted([(r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])])
    return (r["ip_protocol"], r["vlan_id"], r.get("tunnel_id"), ends[0], ends[1])


def not_shutdown(rows):
    """Rows that did not end with "shutdown" and are not explained, and the
    explained ones. Two ports are not read in capture order: when
    a reply (RST) overtakes the SYN it answers, the RST makes a closed flow
    and the SYN then starts a new flow on it (SPEC 2), which exports the
    closed one as tcp_close before shutdown. Such a row is explained when a
    later row of the same key begins with a SYN."""
    by_key = {}
    for r in rows:
        by_key.setdefault(canon(r), []).append(r)
    bad, reopened = [], []
    for r in rows:
        if r["end_reason"] == "shutdown":
            continue
        if r["end_reason"] == "tcp_close" and any(
                o is not r and o["first_seen_at"] >= r["last_seen_at"] and
                (o["src_tcp_flags"] or 0) & 0x02 for o in by_key[canon(r)]):
            reopened.append(r)
            continue
        bad.append(r)
    return bad, reopened


def check_flows(rep, name, rows, reopened, want):
    """Each flow tshark finds is one row with both directions (livelib)."""
    ids = {id(r) for r in reopened}
    n_re, problems = L.one_row_per_flow(rows, want, lambda r: id(r) in ids)
    rep.check(not problems,
              "%s: each of %d flows (tshark) is one row holding both directions' packets "
              "and bytes as tshark counts them%s" %
              (name, len(want), ", %d of them after a reopened row" % n_re if n_re else ""),
              "; ".join(problems))


def run_one(prog, split_dirs, path, deal, rep, want=None):
    name = os.path.basename(path)
    d = L.tmpdir("tap")
    frames = L.frame_count(path)
    a, b = os.path.join(d, "a.pcap"), os.path.join(d, "b.pcap")
    L.subprocess.run([split_dirs, path, a, b], check=True, capture_output=True, timeout=60)
    ports = []
    for i, half in enumerate((a, b)):
        if deal:
            q0, q1 = half + ".q0", half + ".q1"
            L.split_alternate(half, q0, q1)
            ports.append("net_pcap%d,rx_pcap=%s,rx_pcap=%s" % (i, q0, q1))
        else:
            ports.append("net_pcap%d,rx_pcap=%s" % (i, half))
    halves = (L.frame_count(a), L.frame_count(b))
    rep.note("%s: %d frames (capinfos), halves %d + %d, %s" %
             (name, frames, halves[0], halves[1],
              "dealt over 2 queues per port" if deal else "1 queue per port"))
    rep.check(sum(halves) == frames, "%s: halves add up to the capture" % name)

    prefix = L.new_prefix("tap")
    rows_path = os.path.join(d, "rows.ndjson")
    proc = L.Proc([prog] + L.eal_args(prefix, vdevs=ports) +
                  ["--", "--stat-interval", "1s", "--max-flows", "65536"],
                  rows_path, os.path.join(d, "stderr.txt"))
    st = L.wait_rx(prefix, proc, frames, 60)
    got_rx = st.get("rx_packets") if st else None
    rep.check(got_rx == frames, "%s: telemetry rx_packets == %d" % (name, frames),
              "got %r; stderr: %s" % (got_rx, proc.stderr()[-500:]))
    rc, secs = proc.stop(signal.SIGTERM, 10)
    L.remove_runtime(prefix)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM (%.2fs)" % (name, secs),
              "status %r; stderr: %s" % (rc, proc.stderr()[-800:]))
    rep.check(secs < 2.0, "%s: exited within 2 s of SIGTERM" % name, "%.2fs" % secs)
    rows = L.read_rows(rows_path)
    bad, reopened = not_shutdown(rows)
    rep.check(not bad, "%s: all %d live rows end_reason shutdown%s" %
              (name, len(rows), " but %d tcp_close reopened by a SYN" % len(reopened)
               if reopened else ""),
              "%d rows otherwise, e.g. %r" % (len(bad), bad[:1]))
    fin = L.final_stats(proc.stderr()) or {}
    row_pkts = sum(r["src_packets"] + r["dst_packets"] for r in rows)
    rep.check(fin.get("packets") == frames and fin.get("ip") == row_pkts,
              "%s: final stats packets=%d, ip=%d == packets in rows" %
              (name, frames, row_pkts), "final line %r" % fin)

    check_flows(rep, name, rows, reopened, want if want is not None else L.tshark_flows(path))
    shutil.rmtree(d, ignore_errors=True)


def run_fanin(prog, path, copies, rep, want):
    """One net_pcap port whose `copies` queues each replay the whole capture,
    so worker 0 stages up to `copies` bursts for worker 1 in one loop, and
    queues with the same frames stage the same share: the case that once
    overflowed the hand-off staging (a segfault at exit). want is tshark's
    flows of the capture with every count multiplied by `copies`; each is
    still one row."""
    name = "%s x %d queues" % (os.path.basename(path), copies)
    d = L.tmpdir("fanin")
    frames = L.frame_count(path) * copies
    qs = []
    for i in range(copies):
        qs.append(os.path.join(d, "q%d.pcap" % i))
        shutil.copy(path, qs[-1])
    prefix = L.new_prefix("fanin")
    rows_path = os.path.join(d, "rows.ndjson")
    vdev = "net_pcap0," + ",".join("rx_pcap=" + q for q in qs)
    proc = L.Proc([prog] + L.eal_args(prefix, vdevs=[vdev]) +
                  ["--", "--stat-interval", "0", "--max-flows", "65536"],
                  rows_path, os.path.join(d, "stderr.txt"))
    st = L.wait_rx(prefix, proc, frames, 60)
    got_rx = st.get("rx_packets") if st else None
    rep.check(got_rx == frames, "%s: telemetry rx_packets == %d" % (name, frames),
              "got %r" % got_rx)
    rc, secs = proc.stop(signal.SIGTERM, 10)
    L.remove_runtime(prefix)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM (%.2fs)" % (name, secs),
              "status %r; stderr: %s" % (rc, proc.stderr()[-800:]))
    rows = L.read_rows(rows_path)
    bad, reopened = not_shutdown(rows)
    rep.check(not bad and not reopened, "%s: all %d live rows end_reason shutdown" %
              (name, len(rows)), "%d rows otherwise, e.g. %r" % (len(bad), bad[:1]))
    check_flows(rep, name, rows, reopened, want)
    shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        print("usage: live_tap.py PROGRAM")
        return 2
    prog = os.path.abspath(sys.argv[1])
    src = L.pcaps_dir()
    if src is None:
        L.skip(NAME, "../shared/pcaps is absent")
    split_dirs = L.tool(prog, "split_dirs")
    rep = L.Report(NAME)
    t0 = time.monotonic()
    n = 0
    only = sys.argv[2:]  # optional capture names, for debugging
    for cap, deal, what in CAPTURES:
        if only and cap not in only:
            continue
        path = os.path.join(src, cap)
        if not os.path.exists(path):
            rep.note("%s: absent, not tested" % cap)
            continue
        rep.note("--- %s (%s)" % (cap, what))
        run_one(prog, split_dirs, path, deal, rep)
        n += 1
    if not only or "gen_bench" in only:
        d = L.tmpdir("gen")
        path = os.path.join(d, "gen_bench.pcap")
        L.subprocess.run([L.tool(prog, "gen_bench"), path, "200000", "5000", "64"],
                         check=True, capture_output=True, timeout=120)
        rep.note("--- gen_bench 200000 packets, 5000 flows, 64 bytes (hand-off load)")
        want = L.tshark_flows(path)
        run_one(prog, split_dirs, path, True, rep, want)
        run_fanin(prog, path, 4, rep, {k: {e: [4 * c[0], 4 * c[1]] for e, c in v.items()}
                                       for k, v in want.items()})
        n += 1
    return rep.finish(" over %d captures in %.0fs" % (n, time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(main())
