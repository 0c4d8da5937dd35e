#!/usr/bin/env bash
# End to end over TLS (issue 4, first acceptance point): dpdk-devourer --read
# of real captures, their timestamps moved to the present with editcap -t,
# with --output bigquery,file to the test double. Checks that the rows the
# double stored equal the NDJSON file row for row by insertId (<id>:<segment>),
# none twice, nothing lost, and that the table has the schema of
# config/flow_logs.schema.json, DAY partitioning on first_seen_at and the
# clustering of SPEC section 3. A capture whose packets span years (1kxun.pcap
# does) makes rows BigQuery's streaming API refuses (partition day more than
# 1825 days back or 366 ahead): those must be in the dead-letter file with
# that error, and this script checks the bound itself. Run through run-double.sh:
#   run-double.sh tests/bq/e2e-app.sh APP PCAP...
# E2E_FAULT='{"kind":...}' (bqdouble.py fault JSON, ';'-separated for several)
# is injected before the run: every row must still arrive.
# Exit 77 (skipped) while the program has no BigQuery sink wired in.
set -euo pipefail
app=$1; shift
[ $# -gt 0 ] || { echo "usage: e2e-app.sh APP PCAP..." >&2; exit 2; }
dir=$DV_BQ_TEST_DIR
port=$DV_BQ_TEST_PORT
reads=()
i=0
now=$(date +%s)
for f in "$@"; do
	# Move each capture so its first packet lies one hour ago.
	first=$(capinfos -T -r -a -S "$f" | awk -F'\t' '{print int($2)}')
	out="$dir/shifted-$i.pcapng"
	editcap -t $((now - 3600 - first)) "$f" "$out"
	reads+=(--read "$out")
	i=$((i + 1))
done
IFS=';' read -r -a faults <<<"${E2E_FAULT:-}"
for f in "${faults[@]}"; do
	curl -sf --cacert "$dir/ca-a.pem" -d "$f" "https://127.0.0.1:$port/_double/fault" >/dev/null
done
set +e
timeout 300 "$app" "${reads[@]}" --sensor e2e \
	--output bigquery,file -w "$dir/out.ndjson" \
	--bq-project p --bq-dataset d --bq-endpoint "https://127.0.0.1:$port" \
	--bq-token-uri "https://127.0.0.1:$port/token" --bq-ca-file "$dir/ca-a.pem" \
	--bq-sa-key-file "$dir/sa.json" --bq-flush-interval 200ms \
	--spool-dir "$dir" --dead-letter "$dir/dead.ndjson" -s 0 2>"$dir/app.err"
rc=$?
set -e
cat "$dir/app.err" >&2
if grep -q "BigQuery sink is not built in yet" "$dir/app.err"; then
	echo "e2e: skipped: app/bq.c does not create the sink yet" >&2
	exit 77
fi
[ $rc -eq 0 ] || { echo "e2e: dpdk-devourer exited $rc" >&2; exit 1; }
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/rows?table=p:d.flow_logs" \
	>"$dir/stored.ndjson"
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/table?table=p:d.flow_logs" \
	>"$dir/table.json"
python3 - "$dir" "$DV_BQ_TEST_SRC/config/flow_logs.schema.json" <<'PY'
import json, sys
from datetime import datetime, timezone
d, schema_file = sys.argv[1:3]
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
t = json.load(open(d + "/table.json"))
fields = [(f["name"], f["type"], f.get("mode")) for f in t["schema"]["fields"]]
expect = [(f["name"], f["type"], f["mode"]) for f in json.load(open(schema_file))]
assert fields == expect, "schema differs: %s" % fields
assert t["timePartitioning"] == {"type": "DAY", "field": "first_seen_at"}, t["timePartitioning"]
assert t["clustering"]["fields"] == ["sensor", "protocol", "src_addr", "dst_addr"]
print("e2e: %d rows in the NDJSON file = %d stored by the double (identical by insertId, "
      "none twice) + %d dead-lettered as outside the streaming window; table schema, "
      "partitioning and clustering as specified" % (len(want), len(got), len(dead)))
PY
