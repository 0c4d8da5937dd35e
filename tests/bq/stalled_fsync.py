"""stalled_fsync: a disk whose every fsync takes 500 ms does not stop the
control lcore (issue 18 point 5).

    stalled-fsync.sh PROGRAM LIBSLOW_FSYNC PACED_SEND

dpdk-devourer runs live on a net_tap port in a network namespace made here
(1 worker; lcores 0@0,1@1), BigQuery unreachable (--bq-auth none, endpoint
a closed loopback port), so with write-ahead every row goes to the spool
and is group-committed (write + fdatasync every 200 ms). paced_send writes
STALL_PPS (default 15000) UDP frames a second for STALL_SECONDS (6) into
the tap, each frame a flow of its own; with --max-flows 256 every new flow
evicts one, so the control lcore gets a row per frame, all spooled.

Two runs:
  baseline  no delay: the rate is one the control lcore sustains;
  stalled   LD_PRELOAD=libslow_fsync.so DV_SLOW_FSYNC_MS=STALL_MS (500):
            every fsync/fdatasync of the process sleeps first.
Each must end with packets = rows = the frames paced_send sent (nothing
lost in the tap while the worker waited), ring_waits = 0 (no worker ever
found its export ring full), imissed = 0, rows_dropped = 0, exit 0. The
stalled run must also show the stall happened: the spool's commits took
STALL_MS or more on average (its exit log line) and the shim delayed
syncs. A 500 ms stall at 15000 rows a second is 7500 rows, more than an
export ring (4096) holds: a control lcore that waits for fdatasync fails
this (the program before the syncer thread, run by hand: 25 325 of the
90 000 frames became rows, ring_waits 93 million, the tap's queue refused
42 112 frames).

The tap's queue is made 2 s long and paced_send bypasses the queueing
discipline, so a worker kept off its CPU for a moment by another process
loses nothing; a frame the queue refuses is counted by paced_send.

Expected values come from paced_send's own count, never from devourer.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import livelib as L  # noqa: E402

NAME = "stalled_fsync"
PPS = int(os.environ.get("STALL_PPS", "15000"))
SECONDS = float(os.environ.get("STALL_SECONDS", "6"))
STALL_MS = int(os.environ.get("STALL_MS", "500"))


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20,
                          check=check)


def tap_dropped(ns, iface):
    """Frames the kernel dropped at the tap (its queue to DPDK full), or None."""
    r = ip("-j", "-s", "-n", ns, "link", "show", iface, check=False)
    try:
        return json.loads(r.stdout)[0]["stats64"]["tx"]["dropped"]
    except (ValueError, LookupError):
        return None


def commit_line(err):
    """(commits, average us, most us) from the spool's exit line, or None."""
    m = re.search(r"spool: \d+ rows appended, \d+ replayed, (\d+) commits \(write \+ "
                  r"fdatasync (\d+) us on average, (\d+) us at most\)", err)
    return tuple(int(x) for x in m.groups()) if m else None


def run(rep, prog, shim, sender, ns, tag, slow_ms):
    d = L.tmpdir("stall-" + tag)
    iface = "dvst%d%s" % (os.getpid() % 10000, tag[0])
    prefix = L.new_prefix("stall-" + tag)
    env = ["env", "LD_PRELOAD=" + shim, "DV_SLOW_FSYNC_MS=%d" % slow_ms]
    argv = (["ip", "netns", "exec", ns] + env + [prog] +
            L.eal_args(prefix, lcores="0@0,1@1", mem=256, vdevs=["net_tap0,iface=" + iface]) +
            ["--", "-o", "bigquery", "--bq-api", "insertall", "--bq-project", "p", "--bq-dataset", "d",
             "--bq-auth", "none", "--bq-endpoint", "http://127.0.0.1:9",
             "--spool-dir", os.path.join(d, "spool"), "--max-flows", "256",
             "--stat-interval", "1s", "--shutdown-timeout", "1s", "--log-level", "info"])
    dv = L.Proc(argv, os.path.join(d, "out"), os.path.join(d, "err"))
    up = L.wait_for(lambda: not dv.alive() or
                    ip("-n", ns, "link", "show", iface, check=False).returncode == 0 and
                    "dpdk-devourer: rx" in dv.stderr(), 60, 0.2)
    if not rep.check(up and dv.alive(), "%s: devourer runs on a net_tap port" % tag,
                     dv.stderr()[-600:]):
        dv.stop(signal.SIGKILL, 5)
        return
    # The tap's queue to DPDK holds 2 s of frames: a worker that another
    # process kept off its CPU for a moment loses nothing; one that waits on
    # a full export ring for every stalled fsync still does.
    ip("-n", ns, "link", "set", iface, "txqueuelen", str(2 * PPS))
    s = subprocess.run(["ip", "netns", "exec", ns, sender, iface, str(PPS), str(SECONDS)],
                       capture_output=True, text=True, timeout=SECONDS + 60)
    m = re.search(r"sent (\d+) frames in ([\d.]+) s, (\d+) refused", s.stdout)
    sent, refused = (int(m.group(1)), int(m.group(3))) if m else (-1, -1)
    rep.check(s.returncode == 0 and sent + refused == int(PPS * SECONDS),
              "%s: paced_send wrote %d frames at %d a second (%s)" %
              (tag, sent + refused, PPS, m.group(2) + " s" if m else "?"), s.stderr[-300:])
    time.sleep(2)  # the last burst to the rows
    tap_drops = tap_dropped(ns, iface)
    rc, secs = dv.stop(signal.SIGTERM, 60)
    err = dv.stderr()
    L.remove_runtime(prefix)
    fin = L.final_stats(err) or {}
    figures = {k: fin.get(k) for k in ("packets", "rows", "spooled", "ring_waits", "imissed",
                                       "dropped")}
    rep.note("%s: the tap took %d frames, refused %d (its queue full), dropped %r; "
             "final line %r" % (tag, sent, refused, tap_drops, figures))
    cl = commit_line(err)
    shim_line = [ln for ln in err.splitlines() if ln.startswith("slow_fsync:")]
    rep.note("%s: spool commits (count, average us, most us) %r; %s" %
             (tag, cl, shim_line[0] if shim_line else "shim: no delay"))
    rep.check(rc == 0, "%s: exit 0 after SIGTERM (%.1f s)" % (tag, secs), err[-400:])
    rep.check(refused == 0 and fin.get("packets") == sent and fin.get("rows") == sent,
              "%s: the tap refused none, packets = rows = the %d frames it took (none "
              "lost while the worker waited)" % (tag, sent),
              "refused %d, packets %r, rows %r" % (refused, fin.get("packets"), fin.get("rows")))
    rep.check(fin.get("ring_waits") == 0 and fin.get("imissed") == 0 and
              fin.get("dropped") == 0,
              "%s: ring_waits = imissed = dropped = 0" % tag, repr(figures))
    rep.check(fin.get("spooled") == sent, "%s: every row spooled (BigQuery unreachable)" % tag,
              "spooled %r" % fin.get("spooled"))
    if slow_ms:
        rep.check(cl is not None and cl[0] >= 3 and cl[1] >= slow_ms * 1000,
                  "%s: the spool's commits took %d ms or more each (the stall happened)" %
                  (tag, slow_ms), repr(cl))


def main():
    if len(sys.argv) != 4:
        print("usage: stalled_fsync.py PROGRAM LIBSLOW_FSYNC PACED_SEND", file=sys.stderr)
        return 2
    prog, shim, sender = (os.path.abspath(a) for a in sys.argv[1:])
    rep = L.Report(NAME)
    ns = "dvstall-%d" % os.getpid()
    try:
        ip("netns", "add", ns)
    except (subprocess.CalledProcessError, OSError) as e:
        rep.skip("all", "cannot create a network namespace (%s)" %
                 (getattr(e, "stderr", "") or e).strip())
        return rep.finish()
    try:
        # No IPv6 on the tap: its only traffic is what paced_send writes.
        for k in ("default", "all"):
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.%s.disable_ipv6=1" % k], timeout=20)
        run(rep, prog, shim, sender, ns, "baseline", 0)
        run(rep, prog, shim, sender, ns, "stalled", STALL_MS)
    finally:
        ip("netns", "del", ns, check=False)
    return rep.finish(" (%d frames a second for %.0f s, fsync stalled %d ms)" %
                      (PPS, SECONDS, STALL_MS))


if __name__ == "__main__":
    sys.exit(main())
