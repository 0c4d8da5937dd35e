#!/usr/bin/env python3
"""delivery_options: the delivery options as the program takes them, each
seen to change what happens (not only what is parsed).

Run through run-double.sh (it starts the BigQuery double over TLS):
    run-double.sh python3 tests/bq/delivery_options.py PROGRAM

  write-ahead  While BigQuery holds its answer (a slow fault), the program is
               killed with SIGKILL: with the default --write-ahead on, every
               row is in the spool's segment files on disk; with
               --write-ahead off, none is (rows that can be delivered now
               are not spooled); with --spool-commit-interval 30s, none is
               either (the group commit has not come yet).
  emulator     BIGQUERY_EMULATOR_HOST=host:port, no key, no --bq-endpoint:
               plain HTTP to an emulator (a second double without TLS and
               without auth) and every row arrives there.
Rows counted against the capture's flows as tshark sees them.
"""

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
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
EP = "https://127.0.0.1:%s" % os.environ["DV_BQ_TEST_PORT"]
CA = os.path.join(D, "ca-a.pem")
NFLOWS = len(expect_tshark.flow_list(expect_tshark.expect(CAPTURE)))
rep = L.Report("delivery_options")
ctx = ssl.create_default_context(cafile=CA)


def get(base, path, body=None, context=ctx):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(req, context=context, timeout=10) as r:
        return r.read().decode()


def spool_records(spool):
    """Records on disk in the spool's segment files (format in lib/bq/dv_spool.h)."""
    n = 0
    for f in os.listdir(spool) if os.path.isdir(spool) else []:
        if not (f.startswith("seg-") and f.endswith(".spool")):
            continue
        data = open(os.path.join(spool, f), "rb").read()
        off = 0
        while off + 12 <= len(data) and data[off:off + 4] == b"DVR1":
            off += 12 + int.from_bytes(data[off + 4:off + 8], "little")
            n += 1
    return n


def killed_while_sending(label, table, extra, want_on_disk):
    spool = os.path.join(D, "wa-" + label)
    get(EP, "/_double/fault", {"kind": "slow", "delay": 6, "count": 1})
    before = json.loads(get(EP, "/_double/stats"))["insert_requests"]
    argv = [PROG, "--read", CAPTURE, "-o", "bigquery", "--bq-api", "insertall", "--bq-project", "p", "--bq-dataset", "d",
            "--bq-table", table, "--bq-endpoint", EP, "--bq-ca-file", CA,
            "--bq-sa-key-file", os.path.join(D, "sa.json"), "--spool-dir", spool,
            "--bq-flush-interval", "100ms", "-s", "0"] + extra
    p = L.Proc(argv, os.path.join(D, label + ".out"), os.path.join(D, label + ".err"))
    asked = L.wait_for(lambda: json.loads(get(EP, "/_double/stats"))["insert_requests"] > before,
                       30, 0.05)
    time.sleep(1.0)  # longer than the default commit interval (200 ms)
    p.stop(signal.SIGKILL, 10)
    L.remove_runtime("devourer-%d" % p.pid)  # the EAL prefix devourer picked for itself
    n = spool_records(spool)
    rep.check(asked and n == want_on_disk,
              "%s: SIGKILL while BigQuery holds the answer: %d of the %d rows on disk in the "
              "spool (want %d)" % (label, n, NFLOWS, want_on_disk))


def emulator():
    """A plain-HTTP double without auth as the emulator."""
    tmp = tempfile.mkdtemp(prefix="dv-emu-", dir=D)
    port_file = os.path.join(tmp, "port")
    dbl = L.Proc(["python3", os.path.join(HERE, "bqdouble.py"), "--no-auth", "--dataset", "p:d",
                  "--port-file", port_file], os.path.join(tmp, "out"), os.path.join(tmp, "err"))
    try:
        port = L.wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(),
                          20, 0.1)
        rep.check(bool(port), "emulator: a plain-HTTP double without auth started")
        env = dict(os.environ, BIGQUERY_EMULATOR_HOST="127.0.0.1:%s" % port)
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        r = subprocess.run([PROG, "--read", CAPTURE, "-o", "bigquery", "--bq-api", "insertall", "--bq-project", "p",
                            "--bq-dataset", "d", "--spool-dir", os.path.join(tmp, "spool"),
                            "-s", "0"], env=env, capture_output=True, text=True, timeout=120)
        base = "http://127.0.0.1:%s" % port
        rows = [json.loads(x) for x in get(base, "/_double/rows?table=p:d.flow_logs",
                                           context=None).splitlines() if x.strip()]
        stats = json.loads(get(base, "/_double/stats", context=None))
        rep.check(r.returncode == 0 and len(rows) == NFLOWS and stats["rows_repeated"] == 0,
                  "emulator: BIGQUERY_EMULATOR_HOST alone: exit %d, %d rows stored over plain "
                  "HTTP for the %d flows tshark finds, %d repeats"
                  % (r.returncode, len(rows), NFLOWS, stats["rows_repeated"]),
                  r.stderr[-400:])
    finally:
        dbl.stop(signal.SIGTERM, 10)


PROG = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
if PROG is None:
    sys.exit("usage: delivery_options.py PROGRAM (through tests/bq/run-double.sh)")
killed_while_sending("write-ahead-on", "wa_on", [], NFLOWS)
killed_while_sending("write-ahead-off", "wa_off", ["--write-ahead", "off"], 0)
killed_while_sending("commit-interval-30s", "wa_slow", ["--spool-commit-interval", "30s"], 0)
emulator()
sys.exit(rep.finish())
