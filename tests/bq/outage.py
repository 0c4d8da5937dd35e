#!/usr/bin/env python3
"""outage: a first start while BigQuery cannot be reached (issue 21).

Run through run-double.sh (it starts the BigQuery double over TLS):
    run-double.sh python3 tests/bq/outage.py PROGRAM

Every case starts from a spool directory that does not exist yet (so the
spool has never met BigQuery, and the directory must be created), and
checks the rows against the capture's flows as tshark sees them
(tests/expect_tshark.py), never against devourer's own output:

  read_down  --read while nothing answers (no token endpoint, no BigQuery):
             the file output gets every row, SIGTERM exits 0 with every row
             spooled and the table marked unverified; --drain-spool against
             the double then delivers every row, once.
  live_down  the same for a live port (net_pcap), rows exported while it runs.
  live_503   every request (token, datasets.get, tables.get, insertAll)
             answers 503 for OUTAGE_SECONDS (default 60): the live run starts,
             says the table is unverified, and delivers every row once the
             double answers, without a restart.
  definite   a refused key, a missing dataset and a table with a conflicting
             column each stop start-up at once (under 4 s) with exit 2 and one
             line; so does a spool directory that cannot be created.
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import expect_tshark  # noqa: E402
import livelib as L  # noqa: E402

CAPTURE = os.path.join(ROOT, "tests", "fixtures", "sample.pcap")
D = os.environ["DV_BQ_TEST_DIR"]
PORT = int(os.environ["DV_BQ_TEST_PORT"])
EP = "https://127.0.0.1:%d" % PORT
CA = os.path.join(D, "ca-a.pem")
OUTAGE = float(os.environ.get("OUTAGE_SECONDS", "60"))

rep = L.Report("outage")
ctx = ssl.create_default_context(cafile=CA)


def double(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(EP + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return r.read().decode()


def stored(table):
    text = double("/_double/rows?table=p:d." + table)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dead_port():
    """A loopback port nothing listens on (bound, then closed)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def key_file(name, token_uri):
    """A copy of the double's service-account key with another token_uri."""
    with open(os.path.join(D, "sa.json")) as f:
        key = json.load(f)
    key["token_uri"] = token_uri
    path = os.path.join(D, name)
    with open(path, "w") as f:
        json.dump(key, f)
    os.chmod(path, 0o600)
    return path


def oracle():
    """{(proto, vlan, vni, ep_lo, ep_hi): {ep: [packets, bytes]}} from tshark."""
    exp = expect_tshark.expect(CAPTURE)
    want = {}
    for proto, vlan, vni, a1, p1, a2, p2, k1, b1, k2, b2 in expect_tshark.flow_list(exp):
        lo, hi = (a1, p1), (a2, p2)
        per = {lo: [k1, b1]}
        if hi != lo:
            per[hi] = [k2, b2]
        want[(proto, vlan, vni, lo, hi)] = per
    return want


WANT = oracle()


def check_rows(label, rows):
    """Each tshark flow is exactly one row with both directions' counters."""
    got, diffs = {}, []
    for r in rows:
        a, b = (r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])
        lo, hi = sorted([a, b], key=expect_tshark.ep_sort_key)
        key = (r["ip_protocol"], r["vlan_id"], r.get("tunnel_id"), lo, hi)
        per = {a: [r["src_packets"], r["src_bytes"]]}
        if b != a:
            per[b] = [r["dst_packets"], r["dst_bytes"]]
        per = {ep: c for ep, c in per.items() if c != [0, 0]}
        if key in got:
            diffs.append("%r: more than one row" % (key,))
        got[key] = per
    for key in sorted(set(got) | set(WANT), key=repr):
        w = {ep: c for ep, c in WANT.get(key, {}).items() if c != [0, 0]}
        if got.get(key) != w:
            diffs.append("%r: rows %r, tshark %r" % (key, got.get(key), w or None))
    rep.check(not diffs, "%s: %d rows = the %d flows tshark finds%s"
              % (label, len(rows), len(WANT), "".join("\n    " + d for d in diffs[:5])))


def check_once(label, table):
    """Stored rows of a table: every flow once, no insertId twice. The double
    hides a repeated insertId (BigQuery's dedup), so its count of repeats it
    received must be 0 as well: no case here gives a reason to send a row
    that BigQuery accepted again."""
    rows = stored(table)
    ids = [r["insertId"] for r in rows]
    deduped = json.loads(double("/_double/stats"))["rows_deduped"]
    rep.check(len(ids) == len(set(ids)) and deduped == 0,
              "%s: %d insertIds stored, %d distinct; %d repeats received"
              % (label, len(ids), len(set(ids)), deduped))
    check_rows(label + " (BigQuery)", [r["json"] for r in rows])


def read_file_rows(path):
    try:
        return L.read_rows(path)
    except (OSError, ValueError):
        return []


def common(table, spool, out, endpoint, key):
    return ["-o", "bigquery,file", "--bq-api", "insertall", "-w", out, "--bq-project", "p", "--bq-dataset", "d",
            "--bq-table", table, "--bq-endpoint", endpoint, "--bq-ca-file", CA,
            "--bq-sa-key-file", key, "--spool-dir", spool, "--shutdown-timeout", "2s",
            "--flow-timeout", "1s", "--tcp-close-timeout", "1s"]


def drain_fails(label, table, spool, endpoint):
    """--drain-spool while nothing answers: exit 1 after --shutdown-timeout
    without progress, one line naming the rows left and why."""
    t0 = time.monotonic()
    r = subprocess.run([PROG, "--drain-spool", "--bq-api", "insertall", "--bq-project", "p", "--bq-dataset", "d",
                        "--bq-table", table, "--bq-endpoint", endpoint, "--bq-ca-file", CA,
                        "--bq-sa-key-file", os.path.join(D, "sa.json"), "--spool-dir", spool,
                        "--shutdown-timeout", "2s"], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    want = "%d rows still in the spool %s: BigQuery took none in the last 2 s" % (len(WANT), spool)
    rep.check(r.returncode == 1 and want in r.stderr and "Couldn't connect" in r.stderr
              and took < 30,
              "%s: --drain-spool while BigQuery is down: exit %d after %.0f s: %s"
              % (label, r.returncode, took, [ln[:160] for ln in r.stderr.splitlines()
                                               if "still in the spool" in ln][:1]))


def drain(label, table, spool):
    r = subprocess.run([PROG, "--drain-spool", "--bq-api", "insertall", "--bq-project", "p", "--bq-dataset", "d",
                        "--bq-table", table, "--bq-endpoint", EP, "--bq-ca-file", CA,
                        "--bq-sa-key-file", os.path.join(D, "sa.json"), "--spool-dir", spool],
                       capture_output=True, text=True, timeout=120)
    rep.check(r.returncode == 0 and "delivered=%d pending=0" % len(WANT) in r.stderr,
              "%s: --drain-spool with BigQuery up: exit %d, %s"
              % (label, r.returncode, r.stderr.strip().splitlines()[-1:]))


def run_down(label, table, live):
    """Nothing answers: token endpoint and BigQuery are closed ports."""
    spool = os.path.join(D, label, "new", "spool")
    out = os.path.join(D, label + ".ndjson")
    port = dead_port()
    key = key_file(label + "-sa.json", "https://127.0.0.1:%d/token" % port)
    args = common(table, spool, out, "https://127.0.0.1:%d" % port, key) + ["-s", "1"]
    if live:
        prefix = L.new_prefix(label)
        argv = [PROG] + L.eal_args(prefix, vdevs=["net_pcap0,rx_pcap=" + CAPTURE]) + ["--"] + args
    else:
        argv = [PROG, "--read", CAPTURE] + args
    p = L.Proc(argv, os.path.join(D, label + ".out"), os.path.join(D, label + ".err"))
    rows = L.wait_for(lambda: len(read_file_rows(out)) >= len(WANT) and read_file_rows(out),
                      60)
    alive = p.alive()
    rc, secs = p.stop(signal.SIGTERM, 20)
    err = p.stderr()
    rep.check(alive and rc == 0, "%s: running while BigQuery is down, exit %r %.1f s after "
              "SIGTERM" % (label, rc, secs))
    rep.check(os.path.isdir(spool), "%s: the spool directory %s was created" % (label, spool))
    rep.check("BigQuery cannot be reached" in err and "starting anyway" in err,
              "%s: one warning says BigQuery cannot be reached and devourer starts anyway"
              % label)
    check_rows(label + " (file)", read_file_rows(out) if not rows else rows)
    fin = L.final_stats(err) or {}
    n = len(WANT)
    rep.check(fin.get("rows") == n and fin.get("pending") == n and fin.get("spooled") == n
              and fin.get("delivered") == 0 and fin.get("table_unverified") == 1,
              "%s: final line rows=pending=spooled=%d, delivered=0, table_unverified=1: %r"
              % (label, n, {k: fin.get(k) for k in ("rows", "pending", "spooled", "delivered",
                                                      "table_unverified")}))
    rep.check(stored(table) == [], "%s: nothing reached the double while it was 'down'" % label)
    if not live:
        drain_fails(label, table, spool, "https://127.0.0.1:%d" % port)
    drain(label, table, spool)
    check_once(label, table)


def run_503():
    label, table = "live_503", "outage_503"
    spool = os.path.join(D, label, "spool")
    out = os.path.join(D, label + ".ndjson")
    double("/_double/fault", {"kind": "outage", "code": 503, "seconds": OUTAGE})
    t0 = time.monotonic()
    prefix = L.new_prefix(label)
    argv = ([PROG] + L.eal_args(prefix, vdevs=["net_pcap0,rx_pcap=" + CAPTURE]) + ["--"] +
            common(table, spool, out, EP, os.path.join(D, "sa.json")) + ["-s", "1"])
    p = L.Proc(argv, os.path.join(D, label + ".out"), os.path.join(D, label + ".err"))
    tel = L.wait_telemetry(prefix, p, 30) or {}
    rep.check(tel.get("table_unverified") == 1 and time.monotonic() - t0 < OUTAGE,
              "%s: telemetry says table_unverified %r during the outage"
              % (label, tel.get("table_unverified")))
    got = L.wait_for(lambda: len(stored(table)) >= len(WANT) or not p.alive(), OUTAGE + 150, 1)
    tel = L.telemetry(prefix, "/devourer/stats") or {}
    rep.check(tel.get("table_unverified") == 0,
              "%s: and table_unverified %r once BigQuery answered"
              % (label, tel.get("table_unverified")))
    took = time.monotonic() - t0
    alive = p.alive()
    time.sleep(1.5)  # a row sent twice would show up meanwhile
    rc, secs = p.stop(signal.SIGTERM, 20)
    err = p.stderr()
    stats = json.loads(double("/_double/stats"))
    fired = stats["requests"].get("outage 503", 0)
    rep.check(fired > 0, "%s: the double answered 503 to %d requests" % (label, fired))
    rep.check(got and alive and took >= OUTAGE, "%s: every row arrived %.0f s after start, "
              "after the %.0f s outage, without a restart" % (label, took, OUTAGE))
    rep.check(rc == 0, "%s: exit %r after SIGTERM" % (label, rc))
    lines = [ln for ln in err.splitlines() if "rx " in ln and " pps " in ln]
    rep.check(any("table_unverified=1" in ln for ln in lines)
              and "table_unverified" not in (lines[-1] if lines else "table_unverified"),
              "%s: the stats line said table_unverified=1 during the outage, not after "
              "(%d lines)" % (label, len(lines)))
    rep.check("BigQuery answered: table p:d.%s verified" % table in err,
              "%s: the log says when the table was verified" % label)
    fin = L.final_stats(err) or {}
    rep.check(fin.get("delivered") == len(WANT) and fin.get("pending") == 0
              and "table_unverified" not in fin,
              "%s: final line delivered=%d pending=0: %r"
              % (label, len(WANT), {k: fin.get(k) for k in ("delivered", "pending")}))
    check_once(label, table)


def run_definite():
    bad_parent = os.path.join(D, "a-file")
    open(bad_parent, "w").close()
    conflicting = json.load(open(os.path.join(os.path.dirname(os.path.dirname(PROG)), "config",
                                              "flow_logs.schema.json")))
    for f in conflicting:
        if f["name"] == "src_port":
            f["type"] = "STRING"
    double("/_double/table?table=p:d.conflict",
           {"tableReference": {"projectId": "p", "datasetId": "d", "tableId": "conflict"},
            "schema": {"fields": conflicting}})
    cases = [
        ("refused key", "Invalid JWT Signature",
         ["--bq-sa-key-file", os.path.join(D, "sa-wrong.json")]),
        ("missing dataset", "dataset p:nope not found", ["--bq-dataset", "nope"]),
        ("conflicting table", "column src_port is STRING", ["--bq-table", "conflict"]),
        ("spool directory", "cannot create " + bad_parent,
         ["--spool-dir", os.path.join(bad_parent, "spool")]),
    ]
    for i, (label, want, extra) in enumerate(cases):
        args = [PROG, "--read", CAPTURE, "-o", "bigquery", "--bq-api", "insertall", "--bq-project", "p",
                "--bq-dataset", "d", "--bq-endpoint", EP, "--bq-ca-file", CA,
                "--bq-sa-key-file", os.path.join(D, "sa.json"),
                "--spool-dir", os.path.join(D, "definite-%d" % i), "-s", "0"] + extra
        t0 = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        lines = r.stderr.strip().splitlines()
        rep.check(r.returncode == 2 and len(lines) == 1 and want in r.stderr and took < 4,
                  "definite: %s: exit %d in %.1f s, %d line(s): %s"
                  % (label, r.returncode, took, len(lines), r.stderr.strip()[:300]))


PROG = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
if PROG is None:
    sys.exit("usage: outage.py PROGRAM (through tests/bq/run-double.sh)")
try:
    run_definite()
    run_down("read_down", "outage_read", live=False)
    run_down("live_down", "outage_live", live=True)
    run_503()
finally:
    L._cleanup()
sys.exit(rep.finish())
