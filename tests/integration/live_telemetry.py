"""live_telemetry: DPDK telemetry of a running instance, read with
dpdk-telemetry.py, says what the capture on its port holds.

devourer runs 2 workers on one net_pcap port (worker 0 reads it and hands
packets to worker 1). The test pipes `/`, `/devourer/stats` and
`/devourer/workers` into `dpdk-telemetry.py -f PREFIX` while it runs and
checks the keys, and the counters against independent tools: frames and
bytes from capinfos, IP / non-IP / malformed frames and the number of flow
keys from tests/expect_tshark.py (tshark fields). Then the per-worker
counters must add up to the totals, and after SIGTERM the rows must be the
flows created.

Inputs: the committed tests/fixtures/sample.pcap (always), and if
../shared/pcaps exists two real captures without snap-length truncation
and with frames <= 1514 bytes (net_pcap reports the captured length).
"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib as L  # noqa: E402

NAME = "live_telemetry"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The counters of SPEC section 5 as the stats line names them (a superset
# is fine: new counters must not break this test).
STATS_KEYS = {
    "rx_packets", "rx_bytes", "ip_packets", "non_ip", "malformed", "imissed", "rx_nombuf",
    "flows_created", "flows_active", "flows_exported", "flows_evicted", "table_full",
    "ring_waits", "handoff_waits", "rows", "rows_delivered", "rows_pending", "rows_spooled",
    "rows_dead_lettered", "rows_dropped", "upload_requests", "upload_errors",
    "upload_retries", "ctx_found", "ctx_flows", "ctx_store_full", "ctx_export_lost",
    "ctx_handoff_lost", "ctx_reasm_full",
}
WORKER_KEYS = {
    "rx_packets", "rx_bytes", "from_ring", "handed_off", "malformed", "non_ip",
    "flows_active", "flows_created", "flows_exported", "flows_evicted", "ring_waits",
    "handoff_waits", "loops",
}


def capinfos_bytes(path):
    r = subprocess.run(["capinfos", "-T", "-r", "-d", "-M", path], capture_output=True,
                       text=True, timeout=60)
    return int(r.stdout.strip().split("\t")[-1])


def tshark_expect(path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "expect_tshark.py"),
                        "--json", path], capture_output=True, text=True, timeout=300)
    return json.loads(r.stdout)


def run_one(prog, path, rep):
    name = os.path.basename(path)
    d = L.tmpdir("tel")
    frames, nbytes = L.frame_count(path), capinfos_bytes(path)
    exp = tshark_expect(path)
    rep.note("--- %s: capinfos %d frames %d bytes; tshark ip=%d non_ip=%d malformed=%d, "
             "%d flow keys" % (name, frames, nbytes, exp["ip"], exp["non_ip"],
                               exp["malformed"], len(exp["flows"])))
    prefix = L.new_prefix("tel")
    proc = L.Proc([prog] + L.eal_args(prefix, vdevs=["net_pcap0,rx_pcap=" + path]) +
                  ["--", "--stat-interval", "0", "--max-flows", "65536"],
                  os.path.join(d, "rows.ndjson"), os.path.join(d, "stderr.txt"))
    try:
        first = L.wait_telemetry(prefix, proc, 30)
        rep.check(first is not None, "%s: dpdk-telemetry.py -f %s answers /devourer/stats"
                  % (name, prefix), proc.stderr()[-500:])
        cmds = L.telemetry(prefix, "/") or []
        rep.check("/devourer/stats" in cmds and "/devourer/workers" in cmds,
                  "%s: / lists /devourer/stats and /devourer/workers" % name, repr(cmds))
        st = L.wait_rx(prefix, proc, frames, 30) or {}
        # Every frame received is not yet every frame accounted: wait until
        # the hand-off is through (ip + non_ip + malformed == rx).
        def accounted():
            s = L.telemetry(prefix, "/devourer/stats")
            return s if s and s["ip_packets"] + s["non_ip"] + s["malformed"] == frames \
                else None
        st = L.wait_for(accounted, 10) or st
        rep.check(STATS_KEYS <= set(st), "%s: /devourer/stats has the %d counters" %
                  (name, len(STATS_KEYS)), "missing %s" % (STATS_KEYS - set(st)))
        rep.check(all(isinstance(v, int) and v >= 0 for v in st.values()),
                  "%s: every stats value is a non-negative integer" % name)
        rep.check(st.get("rx_packets") == frames and st.get("rx_bytes") == nbytes,
                  "%s: rx_packets=%d rx_bytes=%d as capinfos" % (name, frames, nbytes),
                  "got %r %r" % (st.get("rx_packets"), st.get("rx_bytes")))
        got = (st.get("ip_packets"), st.get("non_ip"), st.get("malformed"))
        want = (exp["ip"], exp["non_ip"], exp["malformed"])
        rep.check(got == want, "%s: ip_packets, non_ip, malformed = %r as tshark" %
                  (name, want), "got %r" % (got,))
        rep.check(st.get("imissed") == 0 and st.get("rx_nombuf") == 0,
                  "%s: imissed=0 rx_nombuf=0" % name, repr(st))
        created, active = st.get("flows_created", -1), st.get("flows_active", -1)
        rep.check(created >= len(exp["flows"]) and
                  active + st.get("flows_exported", 0) == created,
                  "%s: flows_created >= %d keys, active + exported == created" %
                  (name, len(exp["flows"])), repr(st))

        # The workers' TSC clock against CLOCK_REALTIME: the control lcore
        # adjusts it every second, so it is within a second of it (in
        # practice microseconds), has not had to jump, and the TSC rate it
        # measured is within 1 % of the EAL's (on this VM the EAL's TSC
        # rate is 1 487 ppm off: 128 s a day, uncorrected).
        clk = L.telemetry(prefix, "/devourer/clock") or {}
        rep.check({"offset_us", "rate_error_ppb", "steps", "tsc_hz"} <= set(clk) and
                  abs(clk["offset_us"]) < 1000000 and clk["steps"] == 0 and
                  abs(clk["rate_error_ppb"]) < 10000000 and clk["tsc_hz"] > 0,
                  "%s: /devourer/clock: offset under 1 s, no step, rate error under 1 %%"
                  % name, repr(clk))

        ws = L.telemetry(prefix, "/devourer/workers") or {}
        rep.check(sorted(ws) == ["worker0", "worker1"],
                  "%s: /devourer/workers lists worker0 and worker1" % name, repr(sorted(ws)))
        rep.check(all(WORKER_KEYS <= set(w) for w in ws.values()),
                  "%s: each worker has the %d counters" % (name, len(WORKER_KEYS)),
                  repr([sorted(WORKER_KEYS - set(w)) for w in ws.values()]))
        w0, w1 = ws.get("worker0", {}), ws.get("worker1", {})
        rep.check(w0.get("rx_packets") == frames and w1.get("rx_packets") == 0,
                  "%s: worker 0 read all %d frames, worker 1 none (one-queue port)" %
                  (name, frames), "%r %r" % (w0.get("rx_packets"), w1.get("rx_packets")))
        rep.check(w0.get("handed_off") == w1.get("from_ring") and
                  w1.get("handed_off") == 0,
                  "%s: worker 1 took from its ring what worker 0 handed off (%r)" %
                  (name, w0.get("handed_off")),
                  "handed_off %r, from_ring %r" % (w0.get("handed_off"), w1.get("from_ring")))
        # Fill levels: a receive pool and an export ring each, in bounds (a
        # one-queue port: worker 1 polls no queue, so it has no pool).
        rep.check(0 < w0.get("mbufs", 0) and 0 <= w0.get("mbufs_in_use", -1) <= w0["mbufs"] and
                  all(0 <= w.get("export_ring_used", -1) <= w.get("export_ring_size", -1) and
                      w.get("export_ring_size", 0) > 0 for w in ws.values()),
                  "%s: worker 0's mbufs in use %r of %r, export rings %r" % (
                      name, w0.get("mbufs_in_use"), w0.get("mbufs"),
                      [(w.get("export_ring_used"), w.get("export_ring_size"))
                       for w in ws.values()]))
        rep.check(sum(w.get("flows_active", 0) for w in ws.values()) == active,
                  "%s: workers' flows_active add up to %d" % (name, active))
    finally:
        rc, secs = proc.stop(signal.SIGTERM, 10)
        L.remove_runtime(prefix)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM (%.2fs)" % (name, secs), repr(rc))
    rows = L.read_rows(os.path.join(d, "rows.ndjson"))
    rep.check(len(rows) == created, "%s: %d rows == flows_created" % (name, len(rows)),
              "created %r" % created)


def main():
    if len(sys.argv) < 2:
        print("usage: live_telemetry.py PROGRAM")
        return 2
    prog = os.path.abspath(sys.argv[1])
    rep = L.Report(NAME)
    inputs = [os.path.join(ROOT, "tests", "fixtures", "sample.pcap")]
    src = L.pcaps_dir()
    if src:
        inputs += [os.path.join(src, c) for c in ("telegram.pcap", "syslog.pcap")
                   if os.path.exists(os.path.join(src, c))]
    else:
        rep.note("../shared/pcaps absent: the committed sample only")
    for path in inputs:
        run_one(prog, path, rep)
    return rep.finish(" over %d captures" % len(inputs))


if __name__ == "__main__":
    sys.exit(main())
