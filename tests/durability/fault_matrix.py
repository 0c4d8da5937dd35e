#!/usr/bin/env python3
"""fault_matrix: durability acceptance (issue 5). Live dpdk-devourer runs
against the strict BigQuery double while faults are injected; after each
scenario, zero loss is checked:

  the flows of what went on the wire (replay_live.py records every frame it
  sent; tshark through tests/expect_tshark.py makes the flows of that) equal,
  per flow key in packets and bytes, the rows the double stored: so a row
  lost before both sinks fails too (scenarios that lose rows by design, a
  kill -9 or a full spool, check only the rows below);
  every row in the program's NDJSON file is stored by the double with the
  same contents (or, small-tmpfs case only, accounted for by the dropped
  counter); the double stores no row the program did not export, none twice
  (it stores repeats here: a repeat is allowed only for a request whose
  answer a cut connection may have lost); nothing is dead-lettered (live
  rows are valid and streamable); every run exits 0 with rows + recovered =
  delivered + pending + dead_lettered + dropped on its final line; the last
  run of a scenario leaves nothing pending and no segment in the spool.

Run by fault_matrix.sh inside a network namespace it makes (veth dva/dvb),
through tests/bq/run-double.sh:  fault_matrix.py PROGRAM [SCENARIO...]

Traffic: replay_live.py sends real captures from ../shared/pcaps onto dvb at
a steady rate, again and again, only while a devourer run is up; the program
reads dva with the af_packet PMD (live, system clock, so rows are always
streamable; no editcap -t needed).
"""
import datetime
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, ".."))
import expect_tshark  # noqa: E402
import livelib as L  # noqa: E402

COMMIT_S = 0.2  # the spool's default group-commit interval
CAPTURES = ["1kxun.pcap", "android.pcap", "alicloud.pcap", "443-curl.pcap"]
PPS = 400

prog = os.path.abspath(sys.argv[1])
only = set(sys.argv[2:])
tdir = os.environ["DV_BQ_TEST_DIR"]
port = os.environ["DV_BQ_TEST_PORT"]
base = "https://127.0.0.1:%s" % port
ctx = ssl.create_default_context(cafile=os.path.join(tdir, "ca-a.pem"))
rep = L.Report("fault_matrix")
summary = []


# ---- the double -------------------------------------------------------------

def ctl(path, body=None, timeout=30, tries=3):
    """One control request; the double is Python on a busy machine, so a
    slow TLS handshake is tried again."""
    for k in range(tries):
        req = urllib.request.Request(base + path, data=None if body is None else
                                     json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
                return r.read()
        except OSError:
            if k == tries - 1:
                raise
            time.sleep(1)


def double_up():
    try:
        return json.loads(ctl("/_double/health", timeout=2, tries=1)).get("ok")
    except OSError:
        return False


def iso_s(ts):
    """Seconds since the epoch of a row's timestamp (2026-12-07T11:55:00.123456Z)."""
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def stored(table):
    """{insertId: row} of what the double stored; a row stored again (the
    double keeps repeats in this test) is under "<insertId>#dup"."""
    out = {}
    for line in ctl("/_double/rows?table=p:d.%s" % table).decode().splitlines():
        x = json.loads(line)
        if x["insertId"] in out:
            out[x["insertId"] + "#dup"] = x["json"]
        out[x["insertId"]] = x["json"]
    return out


def flow_sums(rows):
    """Per flow key (protocol, vlan, VNI, endpoints in tshark's order): packets
    and bytes per endpoint, endpoints that sent nothing left out."""
    out = {}
    for r in rows:
        a, b = (r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])
        lo, hi = sorted([a, b], key=expect_tshark.ep_sort_key)
        per = out.setdefault((r["ip_protocol"], r["vlan_id"], r.get("tunnel_id"), lo, hi), {})
        for ep, k, n in ((a, r["src_packets"], r["src_bytes"]),
                         (b, r["dst_packets"], r["dst_bytes"])):
            c = per.setdefault(ep, [0, 0])
            c[0] += k
            c[1] += n
    return {key: {ep: c for ep, c in per.items() if c != [0, 0]} for key, per in out.items()}


def wire_sums(pcaps):
    """The same, from tshark over the frames that were sent."""
    out = {}
    for p in pcaps:
        for proto, vlan, vni, a1, p1, a2, p2, k1, b1, k2, b2 in \
                expect_tshark.flow_list(expect_tshark.expect(p)):
            per = out.setdefault((proto, vlan, vni, (a1, p1), (a2, p2)), {})
            for ep, k, n in (((a1, p1), k1, b1), ((a2, p2), k2, b2)):
                if k or n:
                    c = per.setdefault(ep, [0, 0])
                    c[0] += k
                    c[1] += n
    return out


# ---- the program --------------------------------------------------------------

class Run:
    """One dpdk-devourer process of a scenario."""

    def __init__(self, sc, n, extra=()):
        self.sc, self.n = sc, n
        self.prefix = L.new_prefix("dur%s%d" % (sc.name[:6], n))
        self.out = os.path.join(sc.dir, "run%d.ndjson" % n)
        argv = [prog] + L.eal_args(self.prefix, vdevs=["net_af_packet0,iface=dva,qpairs=2"]) + [
            "--", "-o", "bigquery,file", "--bq-api", "insertall", "-w", self.out, "--sensor", "matrix",
            "--bq-project", "p", "--bq-dataset", "d", "--bq-table", sc.table,
            "--bq-endpoint", base, "--bq-token-uri", base + "/token",
            "--bq-ca-file", os.path.join(tdir, "ca-a.pem"),
            "--bq-sa-key-file", os.path.join(tdir, "sa.json"),
            "--bq-flush-interval", "200ms", "--spool-dir", sc.spool,
            "--dead-letter", os.path.join(sc.dir, "dead.ndjson"),
            # small batches: a window of 1024 rows in memory, so an outage
            # also sends rows back from disk (rows_spooled > 0)
            "--bq-batch-rows", "50", "--bq-max-inflight", "2",
            "--flow-timeout", "2s", "--tcp-close-timeout", "1s", "--shutdown-timeout", "5s",
            "-s", "1s", "--log-level", "info"] + list(extra)
        self.p = L.Proc(argv, os.path.join(sc.dir, "run%d.out" % n),
                        os.path.join(sc.dir, "run%d.err" % n))
        self.max_spooled = self.max_pending = 0
        self.last = None
        ok = L.wait_telemetry(self.prefix, self.p, 60)
        rep.check(ok is not None, "%s run %d: started, telemetry answers" % (sc.name, n),
                  self.p.stderr()[-600:])

    def stats(self):
        s = L.telemetry(self.prefix, "/devourer/stats", 5)
        if s:
            self.last = s
            self.max_spooled = max(self.max_spooled, s.get("rows_spooled", 0))
            self.max_pending = max(self.max_pending, s.get("rows_pending", 0))
        return s

    def watch(self, seconds):
        """Let it run, sampling the counters every second."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.stats()
            time.sleep(min(1.0, max(0, end - time.monotonic())))

    def recover(self, limit=75):
        """After a fault: run until every row exported so far is delivered
        (the sink may sit in its backoff for up to a minute, SPEC section 4),
        at most limit seconds. Returns the seconds it took."""
        t0 = time.monotonic()
        s = self.stats() or {}
        target = s.get("rows", 0) - s.get("rows_dead_lettered", 0) - s.get("rows_dropped", 0)
        while time.monotonic() - t0 < limit:
            s = self.stats() or {}
            if s.get("rows_delivered", 0) >= target:
                break
            time.sleep(1)
        secs = time.monotonic() - t0
        rep.check(s.get("rows_delivered", 0) >= target, "%s run %d: the backlog of %d rows "
                  "delivered %.0f s after the fault" % (self.sc.name, self.n, target, secs), str(s))
        return secs

    def term(self, timeout=60):
        rc, secs = self.p.stop(signal.SIGTERM, timeout)
        L.remove_runtime(self.prefix)
        self.final = L.final_stats(self.p.stderr()) or {}
        rep.check(rc == 0, "%s run %d: SIGTERM -> exit 0 in %.1f s" % (self.sc.name, self.n, secs),
                  "exit %s; %s" % (rc, self.p.stderr()[-800:]))
        return self.final

    def wind_down(self):
        """After the fault: wait for the backlog, stop the traffic, let the
        last flows reach BigQuery, stop devourer and check its books."""
        self.recover()
        self.sc.traffic(False)
        self.watch(3)
        self.term()
        self.check_identity()

    def kill9(self):
        self.p.stop(signal.SIGKILL, 10)
        L.remove_runtime(self.prefix)
        self.final = None

    def recovered(self):
        """Rows the spool held at startup (its info line), 0 if none."""
        m = re.search(r"spool: (\d+) rows in \d+ segment", self.p.stderr())
        return int(m.group(1)) if m else 0

    def check_identity(self):
        f = self.final
        if not f:
            rep.check(False, "%s run %d: final stats line" % (self.sc.name, self.n))
            return
        rec = f.get("recovered", self.recovered())
        lhs = f["rows"] + rec
        rhs = f["delivered"] + f["pending"] + f["dead_lettered"] + f["dropped"]
        rep.check(lhs == rhs, "%s run %d: rows %d + recovered %d = delivered %d + pending %d + "
                  "dead %d + dropped %d" % (self.sc.name, self.n, f["rows"], rec, f["delivered"],
                                            f["pending"], f["dead_lettered"], f["dropped"]),
                  "%d != %d" % (lhs, rhs))
        rep.check(f.get("spooled", 0) <= f["pending"],
                  "%s run %d: spooled %d <= pending %d" % (self.sc.name, self.n,
                                                           f.get("spooled", 0), f["pending"]))


class Scenario:
    def __init__(self, name):
        self.name = name
        self.table = "m_" + re.sub(r"[^a-z0-9]", "_", name)
        self.dir = os.path.join(tdir, "matrix-" + name)
        os.makedirs(self.dir)
        self.spool = os.path.join(self.dir, "spool")
        self.runs = []
        self.sender = None
        self.sent = []  # pcaps of the frames each replay sent

    def run(self, extra=()):
        r = Run(self, len(self.runs) + 1, extra)
        self.runs.append(r)
        return r

    def traffic(self, on):
        """Replay on or off; each replay records what it sent (sent-N.pcap).
        Turn it on only while a run is up, and off before that run stops,
        so that every frame recorded reached a running devourer."""
        if on and not self.sender:
            caps = [os.path.join(L.pcaps_dir(), c) for c in CAPTURES]
            rec = os.path.join(self.dir, "sent-%d.pcap" % len(self.sent))
            self.sent.append(rec)
            time.sleep(1.5)  # telemetry answers a moment before the port runs
            self.sender = L.Proc(["python3", os.path.join(HERE, "replay_live.py"), "--record", rec,
                                  "dvb", str(PPS)] + caps, os.path.join(self.dir, "sender.out"),
                                 os.path.join(self.dir, "sender.err"))
        elif not on and self.sender:
            self.sender.stop(signal.SIGTERM, 10)
            self.sender = None
            time.sleep(0.5)

    def file_rows(self):
        """{insertId: row} of every row the runs wrote to their NDJSON files,
        and the insertIds in order (to find one written twice)."""
        rows, ids = {}, []
        for r in self.runs:
            if os.path.exists(r.out):
                for x in L.read_rows(r.out):
                    iid = "%s:%d" % (x["id"], x["segment"])
                    ids.append(iid)
                    rows[iid] = x
        return rows, ids

    def exported(self):
        """insertIds of every row the runs wrote to their NDJSON files, in order."""
        return self.file_rows()[1]

    def dead(self):
        p = os.path.join(self.dir, "dead.ndjson")
        if not os.path.exists(p):
            return set()
        return {json.loads(l)["insertId"] for l in open(p) if l.strip()}

    def verify(self, dropped_ok=False, excused=(), wire=True, resent_ok=False, killed_at=None):
        """Zero loss over all runs of the scenario; returns the figures.
        wire: compare the stored rows with tshark's flows of what was sent
        (not where rows are lost by design). killed_at: the time of a kill -9,
        which also takes the file sink's unwritten rows (held up to 100 ms)
        while the spool may have committed some of them: those may be stored
        without being in a file."""
        rows, ids = self.file_rows()
        got = stored(self.table)
        dups = [k[:-4] for k in got if k.endswith("#dup")]
        got = {k: v for k, v in got.items() if not k.endswith("#dup")}
        repeats = json.loads(ctl("/_double/repeats?table=p:d.%s" % self.table))
        dead = self.dead()
        exp = set(ids)
        missing = exp - set(got) - dead - set(excused)
        extra = set(got) - exp
        differ = [k for k in exp & set(got) if got[k] != rows[k]]
        last = self.runs[-1].final or {}
        dropped = sum((r.final or {}).get("dropped", 0) for r in self.runs)
        rep.check(len(exp) == len(ids), "%s: every exported insertId unique (%d)" % (self.name, len(ids)))
        rep.check(len(ids) > 50, "%s: traffic made rows (%d)" % (self.name, len(ids)))
        # After a kill -9 (or a repair of damaged segments) the spool sends again rows
        # BigQuery took but whose acknowledgement never reached the disk: at least
        # once, by design (docs/durability.md). Then a repeat must be a recovered row.
        recovered = sum(r.recovered() for r in self.runs)
        allowed = recovered if resent_ok else 0
        rep.check(len(repeats["unexplained"]) <= allowed and set(dups) <= set(repeats["repeats"]),
                  "%s: the double stored no row twice (%d repeats received, %d not explained by "
                  "a cut connection, %d allowed as rows recovered from the spool)"
                  % (self.name, repeats["rows"], len(repeats["unexplained"]), allowed),
                  "sent again after acceptance: %s" % repeats["unexplained"][:3])
        unfiled = set()
        if killed_at is not None:
            # A row the file lacks after a kill was in the file sink's buffer:
            # it came from the spool (at most the rows recovered) and its flow
            # ended at most --flow-timeout (2 s) before the kill, plus 1 s.
            recent = {k for k in extra if iso_s(got[k]["last_seen_at"]) >= killed_at - 3}
            unfiled = recent if len(recent) <= recovered else set()
            rep.note("%s: %d rows stored that the killed run's file lacks (%d recovered from "
                     "the spool)" % (self.name, len(extra), recovered))
        rep.check(not extra - unfiled, "%s: the double stored only exported rows" % self.name,
                  "%d extra, e.g. %s" % (len(extra - unfiled), sorted(extra - unfiled)[:2]))
        rep.check(not differ, "%s: every stored row equals the row in the NDJSON file" % self.name,
                  "%d differ, e.g. %s" % (len(differ), differ[:1]))
        rep.check(not dead, "%s: nothing dead-lettered (live rows are valid)" % self.name,
                  "%d dead letters, e.g. %s" % (len(dead), sorted(dead)[:2]))
        if wire:
            want = wire_sums(self.sent)
            have = flow_sums(got.values())
            bad = sorted((k for k in set(want) | set(have) if want.get(k) != have.get(k)), key=repr)
            imissed = sum((r.final or {}).get("imissed", 0) for r in self.runs)
            rep.check(want and not bad and imissed == 0,
                      "%s: the stored rows hold the %d flows tshark finds in the %d frames sent "
                      "(imissed %d)" % (self.name, len(want), sum(
                          c[0] for per in want.values() for c in per.values()), imissed),
                      "%d keys differ, e.g. %r: stored %r, wire %r" % (
                          len(bad), bad[0], have.get(bad[0]), want.get(bad[0])) if bad else "")
        if dropped_ok:
            rep.check(len(missing) == dropped,
                      "%s: rows not stored = %d = dropped counter %d" % (self.name, len(missing), dropped))
        else:
            rep.check(not missing, "%s: zero loss: every exported row stored or dead-lettered" % self.name,
                      "%d missing, e.g. %s" % (len(missing), sorted(missing)[:3]))
        rep.check(last.get("pending", -1) == 0, "%s: last run leaves nothing pending" % self.name,
                  str(last))
        segs = [f for f in os.listdir(self.spool) if f.startswith("seg-") and f.endswith(".spool")] \
            if os.path.isdir(self.spool) else []
        rep.check(not segs, "%s: spool empty at the end" % self.name, str(segs))
        fig = dict(exported=len(ids), delivered=len(exp & set(got)),
                   spooled=max(max(r.max_spooled, (r.final or {}).get("spooled", 0))
                               for r in self.runs),
                   pending_max=max(r.max_pending for r in self.runs),
                   dead_lettered=len(dead & exp), dropped=dropped)
        line = ("%-16s exported=%d delivered=%d spooled(max)=%d pending(max)=%d dead_lettered=%d "
                "dropped=%d runs=%d" % (self.name, fig["exported"], fig["delivered"], fig["spooled"],
                                        fig["pending_max"], fig["dead_lettered"], fig["dropped"],
                                        len(self.runs)))
        summary.append(line)
        rep.note(line)
        self.traffic(False)
        return fig


def wait_up(timeout=90):
    rep.check(L.wait_for(double_up, timeout, 0.5), "the double is up again")


def fault(body):
    ctl("/_double/fault", body)


# ---- scenarios -------------------------------------------------------------------

def sc_down():
    """BigQuery refuses connections for 30 s in the middle of a run."""
    sc = Scenario("down30")
    r = sc.run()
    sc.traffic(True)
    r.watch(8)
    fault({"kind": "down", "seconds": 30})
    r.watch(31)
    rep.check(r.max_pending > 0, "down30: rows were held while down (pending max %d)" % r.max_pending)
    r.wind_down()
    sc.verify()


def sc_503_429():
    """insertAll answers 503 for 15 s, then 429 for 15 s."""
    sc = Scenario("http503_429")
    r = sc.run()
    sc.traffic(True)
    r.watch(6)
    fault({"kind": "status", "code": 503, "seconds": 15})
    r.watch(15)
    fault({"kind": "status", "code": 429, "seconds": 15})
    r.watch(16)
    st = json.loads(ctl("/_double/stats"))["requests"]
    rep.check(st.get("insertAll 503", 0) > 0 and st.get("insertAll 429", 0) > 0,
              "http503_429: both faults answered (%s 503s, %s 429s)" %
              (st.get("insertAll 503"), st.get("insertAll 429")))
    r.wind_down()
    sc.verify()


def sc_token():
    """The token endpoint fails for 30 s while the token must be renewed."""
    sc = Scenario("token30")
    r = sc.run()
    sc.traffic(True)
    r.watch(6)
    fault({"kind": "token", "code": 503, "seconds": 30})
    ctl("/_double/revoke", {})  # the next insertAll gets 401: a new token is needed now
    r.watch(31)
    st = json.loads(ctl("/_double/stats"))["requests"]
    rep.check(st.get("token 503", 0) > 0, "token30: token requests failed (%s)" % st.get("token 503"))
    r.wind_down()
    sc.verify()


def sc_sigterm_down():
    """SIGTERM while BigQuery is down; a restart with it up sends the rest."""
    sc = Scenario("sigterm_down")
    r = sc.run()
    sc.traffic(True)
    r.watch(5)
    fault({"kind": "down", "seconds": 25})
    r.watch(8)
    sc.traffic(False)
    f = r.term()
    r.check_identity()
    rep.check(f.get("pending", 0) > 0 and f.get("spooled") == f.get("pending"),
              "sigterm_down: everything pending at exit is in the spool (pending %s spooled %s)" %
              (f.get("pending"), f.get("spooled")))
    wait_up()
    r2 = sc.run()
    L.wait_for(lambda: (r2.stats() or {}).get("rows_pending", 1) == 0, 60, 0.5)
    r2.term()
    r2.check_identity()
    rep.check(r2.recovered() == f.get("spooled"),
              "sigterm_down: run 2 recovered exactly what run 1 spooled (%d)" % r2.recovered())
    sc.verify()


def sc_kill9_down():
    """kill -9 while BigQuery is down; every row that reached the sink more
    than one commit interval before the kill arrives after a restart."""
    sc = Scenario("kill9_down")
    r = sc.run()
    sc.traffic(True)
    r.watch(5)
    fault({"kind": "down", "seconds": 25})
    r.watch(10)
    s = r.stats()
    n_before = s["rows"]
    time.sleep(3 * COMMIT_S)  # more than one commit interval (and the commit itself)
    killed_at = time.time()
    r.kill9()
    sc.traffic(False)
    ids = sc.exported()
    rep.check(len(ids) >= n_before, "kill9_down: the file has the %d rows counted before the kill"
              % n_before)
    wait_up()
    r2 = sc.run()
    L.wait_for(lambda: (r2.stats() or {}).get("rows_pending", 1) == 0, 60, 0.5)
    r2.term()
    r2.check_identity()
    got = stored(sc.table)
    lost = [i for i in ids[:n_before] if i not in got]
    late = [i for i in ids[n_before:] if i not in got]
    rep.check(not lost, "kill9_down: all %d rows that reached the sink >%.1f s before the kill "
              "arrived" % (n_before, 3 * COMMIT_S), "%d lost, e.g. %s" % (len(lost), lost[:3]))
    rep.note("kill9_down: of the %d rows of the last %.1f s before the kill, %d arrived too" %
             (len(ids) - n_before, 3 * COMMIT_S, len(ids) - n_before - len(late)))
    # flows open at the kill are lost
    sc.verify(excused=late, wire=False, resent_ok=True, killed_at=killed_at)


def sc_tmpfs_full():
    """The spool on a 256 KiB tmpfs fills while BigQuery is down."""
    sc = Scenario("tmpfs_full")
    os.makedirs(sc.spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "dvdur-spool", sc.spool], check=True)
    try:
        r = sc.run()
        sc.traffic(True)
        r.watch(5)
        fault({"kind": "down", "seconds": 30})
        r.watch(31)
        s = r.stats() or {}
        rep.check(r.p.alive(), "tmpfs_full: still running with the spool full")
        rep.check(s.get("rows_dropped", 0) > 0, "tmpfs_full: drops counted (%s)" % s.get("rows_dropped"))
        r.wind_down()
        rep.check("dropping new rows" in r.p.stderr(), "tmpfs_full: drops logged as an error")
        sc.verify(dropped_ok=True, wire=False)  # dropped rows are counted, not stored
    finally:
        subprocess.run(["umount", sc.spool])


def parse_segment(path):
    """Offsets and insertIds of the records of a segment (format in dv_spool.h)."""
    data = open(path, "rb").read()
    off, out = 0, []
    while off + 12 <= len(data) and data[off:off + 4] == b"DVR1":
        n = int.from_bytes(data[off + 4:off + 8], "little")
        il = int.from_bytes(data[off + 12:off + 14], "little")
        out.append((off, 12 + n, data[off + 14:off + 14 + il].decode()))
        off += 12 + n
    return out


def sc_corrupt():
    """Two runs while BigQuery is down leave segments; the newest of run 1 is
    cut inside its last record, the newest of run 2 gets garbage appended;
    a restart with BigQuery up keeps every good row and moves the rest aside."""
    sc = Scenario("corrupt_files")
    sc.traffic(True)
    r = sc.run()
    r.watch(4)
    fault({"kind": "down", "seconds": 40})
    r.watch(6)
    r.term()
    segs1 = sorted(f for f in os.listdir(sc.spool) if f.endswith(".spool"))
    r2 = sc.run()  # starts while BigQuery is down: an outage never stops start-up
    rep.check("BigQuery cannot be reached" in r2.p.stderr()
              and "(it was verified before)" in r2.p.stderr(),
              "corrupt_files: run 2 started while BigQuery was down (marker named)")
    r2.watch(6)
    sc.traffic(False)
    r2.term()
    segs2 = sorted(f for f in os.listdir(sc.spool) if f.endswith(".spool") and f not in segs1)
    rep.check(segs1 and segs2, "corrupt_files: both runs left segments (%s / %s)" % (segs1, segs2))
    a, b = os.path.join(sc.spool, segs1[-1]), os.path.join(sc.spool, segs2[-1])
    recs = parse_segment(a)
    off, ln, cut_id = recs[-1]
    cut = ln // 2
    os.truncate(a, off + cut)
    garbage = b"\x00\x17 not a spool record, DVR1 nor this \xff\xfe\n" * 3
    with open(b, "ab") as f:
        f.write(garbage)
    wait_up()
    r3 = sc.run()
    L.wait_for(lambda: (r3.stats() or {}).get("rows_pending", 1) == 0, 60, 0.5)
    r3.term()
    r3.check_identity()
    err = r3.p.stderr()
    rep.check(err.count("moved to seg-") == 2, "corrupt_files: both repairs reported")
    ca, cb = a + ".corrupt", b + ".corrupt"
    rep.check(os.path.exists(ca) and os.path.getsize(ca) == cut,
              "corrupt_files: the torn %d bytes of %s moved aside" % (cut, segs1[-1]))
    rep.check(os.path.exists(cb) and os.path.getsize(cb) == len(garbage),
              "corrupt_files: the %d garbage bytes of %s moved aside" % (len(garbage), segs2[-1]))
    got = stored(sc.table)
    rep.note("corrupt_files: the cut record %s %s" % (cut_id, "was delivered before the outage"
                                                     if cut_id in got else "is the one row lost"))
    sc.verify(excused=[cut_id], wire=False, resent_ok=True)  # the cut record; frames between runs


SCENARIOS = [("down30", sc_down), ("http503_429", sc_503_429), ("token30", sc_token),
             ("sigterm_down", sc_sigterm_down), ("kill9_down", sc_kill9_down),
             ("tmpfs_full", sc_tmpfs_full), ("corrupt_files", sc_corrupt)]


def main():
    if not L.pcaps_dir():
        L.skip("fault_matrix", "no ../shared/pcaps")
    ctl("/_double/config", {"dedup_window": 0})  # a repeat is stored, so it shows
    t0 = time.monotonic()
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        print("--- %s: %s" % (name, fn.__doc__.split("\n")[0]), flush=True)
        s0 = time.monotonic()
        try:
            fn()
        except Exception as e:  # a broken scenario is a failure, the others still run
            import traceback
            traceback.print_exc()
            rep.check(False, "%s: ran to the end" % name, repr(e))
        rep.note("%s took %.0f s" % (name, time.monotonic() - s0))
    print("\nscenario         figures (rows)")
    for line in summary:
        print(line)
    return rep.finish(" (%d scenarios in %.0f s)" % (len(summary), time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(main())
