#!/usr/bin/env bash
# End to end over TLS (issue 4, first acceptance point): dpdk-devourer --read
# of real captures, their timestamps moved to the present with editcap -t,
# with --output bigquery,file to the test double. The expected flows come
# from tshark (tests/expect_tshark.py over the same shifted captures), not
# from devourer: per flow key, the packets and bytes of the rows the double
# stored plus those dead-lettered must equal tshark's, and there must be
# flows at all (a capture that makes none fails). The NDJSON file must hold
# the same rows, row for row by insertId (<id>:<segment>). The double stores
# repeats for this run (dedup window 0) and reports every repeated insertId:
# none may be stored twice or sent again after it was accepted. The table
# must have the schema the build installs (build/config/flow_logs.schema.json,
# made from lib/dv_columns.def), DAY partitioning on
# first_seen_at and the clustering of SPEC section 3. A capture whose packets
# span years (1kxun.pcap does) makes rows BigQuery's streaming API refuses
# (partition day more than 1825 days back or 366 ahead): those must be in the
# dead-letter file with that error, and this script checks the bound itself.
# Run through run-double.sh:
#   run-double.sh tests/bq/e2e-app.sh APP PCAP...
# E2E_FAULT='{"kind":...}' (bqdouble.py fault JSON, ';'-separated for several)
# is injected before the run: every row must still arrive, and each fault
# must be seen to fire in the double's counters.
set -euo pipefail
app=$1; shift
[ $# -gt 0 ] || { echo "usage: e2e-app.sh APP PCAP..." >&2; exit 2; }
dir=$DV_BQ_TEST_DIR
port=$DV_BQ_TEST_PORT
. "$(dirname "$0")/shift-captures.sh"
shift_captures "$dir" "$@"
curl -sf --cacert "$dir/ca-a.pem" -d '{"dedup_window":0}' "https://127.0.0.1:$port/_double/config" >/dev/null
IFS=';' read -r -a faults <<<"${E2E_FAULT:-}"
for f in "${faults[@]}"; do
	curl -sf --cacert "$dir/ca-a.pem" -d "$f" "https://127.0.0.1:$port/_double/fault" >/dev/null
done
set +e
timeout 300 "$app" "${reads[@]}" --sensor e2e \
	--output bigquery,file --bq-api insertall -w "$dir/out.ndjson" \
	--bq-project p --bq-dataset d --bq-endpoint "https://127.0.0.1:$port" \
	--bq-token-uri "https://127.0.0.1:$port/token" --bq-ca-file "$dir/ca-a.pem" \
	--bq-sa-key-file "$dir/sa.json" --bq-flush-interval 200ms \
	--spool-dir "$dir" --dead-letter "$dir/dead.ndjson" -s 0 2>"$dir/app.err"
rc=$?
set -e
cat "$dir/app.err" >&2
[ $rc -eq 0 ] || { echo "e2e: dpdk-devourer exited $rc" >&2; exit 1; }
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/rows?table=p:d.flow_logs" \
	>"$dir/stored.ndjson"
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/table?table=p:d.flow_logs" \
	>"$dir/table.json"
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/repeats?table=p:d.flow_logs" \
	>"$dir/repeats.json"
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/stats" >"$dir/stats.json"
python3 - "$dir" "$DV_BQ_TEST_SRC" "$(dirname "$(dirname "$app")")" "${reads[@]}" <<'PY'
import json, os, sys
from datetime import datetime, timezone
d, src, build = sys.argv[1:4]
captures = [a for a in sys.argv[4:] if a != "--read"]
schema_file = build + "/config/flow_logs.schema.json"  # made from lib/dv_columns.def
sys.path.insert(0, src + "/tests")
import expect_tshark
today = datetime.now(timezone.utc).date()
def streamable(ts):
    day = datetime.strptime(ts[:10], "%Y-%m-%d").date()
    return -366 <= (today - day).days <= 1825
dead = {}
try:
    for l in open(d + "/dead.ndjson"):
        x = json.loads(l)
        assert x["insertId"] not in dead
        dead[x["insertId"]] = x
except FileNotFoundError:
    pass
file_rows = [json.loads(l) for l in open(d + "/out.ndjson")]
stored = [json.loads(l) for l in open(d + "/stored.ndjson")]
want = {}
for r in file_rows:
    iid = "%s:%d" % (r["id"], r["segment"])
    assert iid not in want, "file has %s twice" % iid
    want[iid] = r
got = {}
for s in stored:
    assert s["insertId"] not in got, "double stored %s twice" % s["insertId"]
    got[s["insertId"]] = s["json"]
for iid, x in dead.items():
    assert iid in want and iid not in got, iid
    assert x["row"] == want[iid], "dead letter of %s is not the row" % iid
    assert not streamable(want[iid]["first_seen_at"]), "%s was streamable" % iid
    assert "outside the allowed bounds" in x["error"], x["error"]
unstreamable = {k for k, r in want.items() if not streamable(r["first_seen_at"])}
assert unstreamable == set(dead), "dead letters are not exactly the unstreamable rows"
missing = set(want) - set(got) - set(dead)
extra = set(got) - set(want)
differ = [k for k in want if k in got and want[k] != got[k]]
assert not missing, "%d rows never reached the double, e.g. %s" % (len(missing), sorted(missing)[:3])
assert not extra, "%d rows only in the double" % len(extra)
assert not differ, "%d rows differ, e.g. %s" % (len(differ), differ[:1])
rep = json.load(open(d + "/repeats.json"))
assert not rep["unexplained"], "rows sent again after the double took them: %s" % rep["unexplained"][:3]

# The independent side: tshark's flows of the same captures. Sums per key do
# not depend on how flows were cut into rows (idle splits, segments).
def sums_of_rows(rows):
    out = {}
    for r in rows:
        a, b = (r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])
        lo, hi = sorted([a, b], key=expect_tshark.ep_sort_key)
        per = out.setdefault((r["ip_protocol"], r["vlan_id"], r.get("tunnel_id"), lo, hi), {})
        for ep, k, n in ((a, r["src_packets"], r["src_bytes"]), (b, r["dst_packets"], r["dst_bytes"])):
            c = per.setdefault(ep, [0, 0])
            c[0] += k
            c[1] += n
    return {key: {ep: c for ep, c in per.items() if c != [0, 0]} for key, per in out.items()}
oracle = {}
for cap in captures:
    for proto, vlan, vni, a1, p1, a2, p2, k1, b1, k2, b2 in expect_tshark.flow_list(expect_tshark.expect(cap)):
        per = oracle.setdefault((proto, vlan, vni, (a1, p1), (a2, p2)), {})
        for ep, k, n in (((a1, p1), k1, b1), ((a2, p2), k2, b2)):
            if k or n:
                c = per.setdefault(ep, [0, 0])
                c[0] += k
                c[1] += n
assert oracle, "tshark finds no flow in %s: nothing to check" % captures
delivered = list(got.values()) + [x["row"] for x in dead.values()]
have = sums_of_rows(delivered)
bad = [k for k in set(oracle) | set(have) if oracle.get(k) != have.get(k)]
assert not bad, "%d of %d flow keys differ from tshark, e.g. %r: rows %r, tshark %r" % (
    len(bad), len(oracle), bad[0], have.get(bad[0]), oracle.get(bad[0]))

# Each injected fault must have fired.
stats = json.load(open(d + "/stats.json"))
for f in filter(None, os.environ.get("E2E_FAULT", "").split(";")):
    f = json.loads(f)
    if f["kind"] == "status":
        n, what = stats["requests"].get("insertAll %d" % f.get("code", 503), 0), "insertAll %d" % f.get("code", 503)
    elif f["kind"] == "reset":
        n, what = stats["requests"].get("insertAll 0", 0), "connection resets"
    elif f["kind"] == "row":
        n, what = stats.get("row_faults", 0), "row faults"
    else:
        continue
    assert n >= f.get("count", 1), "fault %s fired %d times, wanted %d" % (what, n, f.get("count", 1))
    print("e2e: fault %s fired %d times" % (what, n))
t = json.load(open(d + "/table.json"))
fields = [(f["name"], f["type"], f.get("mode")) for f in t["schema"]["fields"]]
expect = [(f["name"], f["type"], f["mode"]) for f in json.load(open(schema_file))]
assert fields == expect, "schema differs: %s" % fields
assert t["timePartitioning"] == {"type": "DAY", "field": "first_seen_at"}, t["timePartitioning"]
assert t["clustering"]["fields"] == ["sensor", "protocol", "src_addr", "dst_addr"]
print("e2e: %d flows as tshark sees them = %d rows stored by the double (none twice, %d "
      "repeats received, all explained) + %d dead-lettered as outside the streaming window; "
      "the NDJSON file has the same %d rows; table schema, partitioning and clustering as "
      "specified" % (len(oracle), len(got), rep["rows"], len(dead), len(want)))
PY
