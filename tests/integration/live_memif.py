"""live_memif: dpdk-testpmd in a second process sends over net_memif to
devourer; everything testpmd sent is received and accounted in the rows.

devourer is the memif server (socket in a temp dir), testpmd the client,
both --no-huge with their own file prefix, sharing the two cores through
--lcores. testpmd runs txonly (one flow) or flowgen (--flowgen-flows N) for
a few seconds; the "stop" command on its stdin ends forwarding and prints
its forwarding statistics, whose TX-packets is the expected count. When
telemetry rx_packets reaches it, testpmd gets "quit" (which closes the
memif link) and devourer SIGTERM, and then:
- rx_packets == ip_packets == testpmd TX-packets (final stats line),
- the packets in the rows add up to it, and the bytes to the frame size
  per packet: --txpkts=64 is the frame length in txonly, while flowgen
  takes 4 bytes off it for the FCS (testpmd's flowgen.c), so 60 there,
- flowgen: the rows have exactly N flow keys, all UDP; txonly: one key,
  198.18.0.1:9 -> 198.18.0.2:9 (testpmd's --tx-ip/--tx-udp defaults, given
  explicitly here).
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib as L  # noqa: E402

NAME = "live_memif"
SECONDS = 3


def testpmd_tx(text):
    """TX-packets of the accumulated forward statistics testpmd prints at exit."""
    m = re.search(r"Accumulated forward statistics.*?TX-packets:\s*(\d+)", text, re.S)
    return int(m.group(1)) if m else None


def tp_say(tp, line):
    """One command line to interactive testpmd."""
    try:
        tp.p.stdin.write(line.encode() + b"\n")
        tp.p.stdin.flush()
    except OSError:
        pass


def run_case(prog, mode, workers, rep, flows=0):
    tag = "%s, %d worker(s)" % (mode + (" %d flows" % flows if flows else ""), workers)
    d = L.tmpdir("memif")
    sock = os.path.join(d, "memif.sock")
    dv_prefix, tp_prefix = L.new_prefix("memif-dv"), L.new_prefix("memif-tp")
    lcores = "0@0,1@1" if workers == 1 else "0@0,1@1,2@1"
    dv = L.Proc([prog] + L.eal_args(dv_prefix, lcores=lcores, vdevs=[
        "net_memif0,role=server,socket=%s" % sock]) +
        ["--", "--stat-interval", "0", "--max-flows", "65536"],
        os.path.join(d, "rows.ndjson"), os.path.join(d, "dv-err.txt"))
    tp = None
    try:
        up = L.wait_telemetry(dv_prefix, dv, 30)
        rep.check(up is not None, "%s: devourer up as memif server" % tag,
                  dv.stderr()[-400:])
        if up is None:
            return
        args = ["--forward-mode=" + mode, "--nb-cores=1", "--rxq=1", "--txq=1",
                "--total-num-mbufs=8192", "--txpkts=64"]
        if mode == "txonly":
            args += ["--tx-ip=198.18.0.1,198.18.0.2", "--tx-udp=9,9"]
        else:
            args += ["--flowgen-flows=%d" % flows]
        # Interactive, line-buffered: "stop" ends forwarding and prints the
        # statistics while the memif link is still up; "quit" (which closes
        # the port and so the link) only follows once devourer has read
        # every packet testpmd counts as sent. Quitting straight away could
        # drop the last burst still in the shared ring.
        tp = L.Proc(["stdbuf", "-oL", "dpdk-testpmd", "--no-huge", "-m", "256", "--no-pci",
                     "--file-prefix", tp_prefix, "--lcores", "0@0,1@1",
                     "--log-level=lib.*:error",
                     "--vdev", "net_memif0,role=client,socket=%s" % sock, "--",
                     "-i", "--auto-start"] + args,
                    os.path.join(d, "tp-out.txt"), os.path.join(d, "tp-err.txt"),
                    stdin=subprocess.PIPE)
        time.sleep(SECONDS)
        tp_say(tp, "stop")
        L.wait_for(lambda: testpmd_tx(tp.stdout()) is not None, 30)
        sent = testpmd_tx(tp.stdout())
        st = (L.wait_rx(dv_prefix, dv, sent, 30) or {}) if sent else {}
        tp_say(tp, "quit")
        rc = tp.wait(30)
        tp.stop(signal.SIGTERM, 5)  # closes the files; a no-op if it exited
        L.remove_runtime(tp_prefix)
        rep.check(rc == 0 and sent is not None and sent > 0,
                  "%s: testpmd ran %ds and reports TX-packets %s" % (tag, SECONDS, sent),
                  "status %r; %s" % (rc, (tp.stdout() + tp.stderr())[-600:]))
        if not sent:
            return
        rep.check(st.get("rx_packets") == sent,
                  "%s: devourer rx_packets == testpmd TX-packets (%d)" % (tag, sent),
                  "got %r" % st.get("rx_packets"))
    finally:
        rc, secs = dv.stop(signal.SIGTERM, 10)
        L.remove_runtime(dv_prefix)
        if tp is not None and tp.alive():
            tp.stop(signal.SIGKILL, 5)
    rep.check(rc == 0, "%s: devourer exit 0 after SIGTERM (%.2fs)" % (tag, secs),
              "status %r; %s" % (rc, dv.stderr()[-400:]))
    fin = L.final_stats(dv.stderr()) or {}
    rep.check(fin.get("packets") == sent and fin.get("ip") == sent,
              "%s: final stats packets == ip == %d" % (tag, sent), repr(fin))
    rows = L.read_rows(os.path.join(d, "rows.ndjson"))
    pkts = sum(r["src_packets"] + r["dst_packets"] for r in rows)
    nbytes = sum(r["src_bytes"] + r["dst_bytes"] for r in rows)
    frame = 64 if mode == "txonly" else 60
    rep.check(pkts == sent and nbytes == frame * sent,
              "%s: rows hold %d packets, %d bytes (%d per packet)" %
              (tag, sent, frame * sent, frame),
              "rows: %d packets, %d bytes" % (pkts, nbytes))
    keys = L.key_sums(rows)
    if mode == "txonly":
        want = {(17, None, ("198.18.0.1", 9), ("198.18.0.2", 9))}
        rep.check(set(keys) == want and len(rows) == 1,
                  "%s: one row, udp 198.18.0.1:9 -> 198.18.0.2:9" % tag, repr(rows)[:400])
    else:
        rep.check(len(keys) == flows and all(k[0] == 17 for k in keys),
                  "%s: %d udp flow keys, as --flowgen-flows" % (tag, flows),
                  "%d keys" % len(keys))
    rep.check(all(r["end_reason"] == "shutdown" for r in rows),
              "%s: every row end_reason shutdown" % tag)


def main():
    if len(sys.argv) < 2:
        print("usage: live_memif.py PROGRAM")
        return 2
    prog = os.path.abspath(sys.argv[1])
    if subprocess.run(["sh", "-c", "command -v dpdk-testpmd"],
                      capture_output=True).returncode != 0:
        L.skip(NAME, "dpdk-testpmd is not installed (Debian package dpdk)")
    rep = L.Report(NAME)
    run_case(prog, "txonly", 1, rep)
    run_case(prog, "flowgen", 2, rep, flows=1000)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
