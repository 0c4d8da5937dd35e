#!/usr/bin/env bash
# End to end with --bq-api storage (issue 17, first working path): the
# program reads real captures (moved to the present) with --output
# bigquery,file; the token and the table are the REST double's
# (bqdouble.py, started by run-double.sh), the rows go to the Storage Write
# API double (storage_double.py, started and stopped by
# with-storage-double.sh, which gives its port and control URL).
# One connection is reset after the double stored a request but before it
# answered, so the request is sent again: at its offset it is ALREADY_EXISTS,
# without one it would be stored twice. Checked, against the NDJSON file
# (the same rows, written by the file sink): the rows the storage double
# decoded are exactly the file's rows, value for value (TIMESTAMP as
# microseconds, NULL as a missing field), none stored twice, no offset past
# the end, no insertAll request at all; and the final statistics line keeps
# rows + recovered = delivered + pending + dead_lettered + dropped, with
# every row delivered, and shows what the stream did: bq_appends equal to the
# appends the double answered stored (append_result or ALREADY_EXISTS),
# bq_already_exists 1 (the request sent again after the reset), one stream,
# no row that may repeat.
#   run-double.sh tests/bq/with-storage-double.sh PYTHON3 PROTOC_C \
#       tests/bq/e2e-storage.sh APP PYTHON3 PCAP...
# Exit 77 (skipped) when the storage double cannot run (no python3-grpcio).
set -euo pipefail
app=$1 py=$2
shift 2
[ $# -gt 0 ] || { echo "usage: e2e-storage.sh APP PYTHON3 PCAP..." >&2; exit 2; }
dir=$DV_BQ_TEST_DIR
port=$DV_BQ_TEST_PORT
sport=$DV_BQ_STORAGE_PORT
ctl=$DV_BQ_STORAGE_CTL
curl -sf -d '{"kind":"drop_after_store","count":1}' "$ctl/fault" >/dev/null

. "$(dirname "$0")/shift-captures.sh"
shift_captures "$dir" "$@"
set +e
timeout 300 "$app" "${reads[@]}" --sensor e2e-storage \
	--output bigquery,file -w "$dir/out.ndjson" \
	--bq-project p --bq-dataset d --bq-endpoint "https://127.0.0.1:$port" \
	--bq-token-uri "https://127.0.0.1:$port/token" --bq-ca-file "$dir/ca-a.pem" \
	--bq-sa-key-file "$dir/sa.json" --bq-flush-interval 200ms --bq-batch-rows 7 \
	--bq-api storage --bq-storage-endpoint "127.0.0.1:$sport" \
	--spool-dir "$dir/spool" --dead-letter "$dir/dead.ndjson" -s 0 2>"$dir/app.err"
rc=$?
set -e
cat "$dir/app.err" >&2
[ $rc -eq 0 ] || { echo "e2e-storage: dpdk-devourer exited $rc" >&2; exit 1; }
curl -sf "$ctl/stats" >"$dir/sstats.json"
curl -sf "$ctl/streams" >"$dir/streams.json"
: >"$dir/stored.ndjson"
for s in $("$py" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))))' \
	"$dir/streams.json"); do
	curl -sfG --data-urlencode "stream=$s" "$ctl/rows" >>"$dir/stored.ndjson"
done
curl -sf --cacert "$dir/ca-a.pem" "https://127.0.0.1:$port/_double/stats" >"$dir/stats.json"
"$py" - "$dir" "$(dirname "$(dirname "$app")")" <<'PY'
import json, re, sys
from datetime import datetime, timedelta, timezone
d, build = sys.argv[1:3]
schema = json.load(open(build + "/config/flow_logs.schema.json"))  # from lib/dv_columns.def
epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)

def as_json_row(m):
    """A row the double decoded (python3-protobuf's MessageToDict) as the JSON writer's."""
    out = {}
    for c in schema:
        v = m.get(c["name"])
        if v is None:
            out[c["name"]] = None
        elif c["type"] == "INTEGER":
            out[c["name"]] = int(v)
        elif c["type"] == "TIMESTAMP":
            t = epoch + timedelta(microseconds=int(v))
            out[c["name"]] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            out[c["name"]] = v
    return out

file_rows = {}
for l in open(d + "/out.ndjson"):
    r = json.loads(l)
    k = "%s:%d" % (r["id"], r["segment"])
    assert k not in file_rows, "the file has %s twice" % k
    file_rows[k] = r
assert file_rows, "the captures made no rows: nothing to check"
stored = {}
for l in open(d + "/stored.ndjson"):
    r = as_json_row(json.loads(l))
    k = "%s:%d" % (r["id"], r["segment"])
    assert k not in stored, "the storage double stored %s twice" % k
    stored[k] = r
missing = set(file_rows) - set(stored)
extra = set(stored) - set(file_rows)
differ = [k for k in file_rows if k in stored and stored[k] != file_rows[k]]
assert not missing, "%d rows never stored, e.g. %s" % (len(missing), sorted(missing)[:3])
assert not extra, "%d rows stored that the file has not" % len(extra)
assert not differ, "%d rows differ, e.g. %s: %s" % (len(differ), differ[0],
    {c: (stored[differ[0]][c], file_rows[differ[0]][c]) for c in file_rows[differ[0]]
     if stored[differ[0]][c] != file_rows[differ[0]][c]})
st = json.load(open(d + "/sstats.json"))
assert st.get("rows_stored_twice", 0) == 0, "rows stored twice: %s" % st
assert st.get("resent_mismatch", 0) == 0, "a request sent again with other rows: %s" % st
assert st.get("out_of_range", 0) == 0, "an offset past the end: %s" % st
assert st.get("rows_stored", 0) == len(file_rows), st
assert st.get("dropped_after_store", 0) == 1, "the reset did not happen: %s" % st
assert st.get("already_exists", 0) >= 1, "the request sent again was not at its offset: %s" % st
rest = json.load(open(d + "/stats.json"))
ia = {k: v for k, v in rest.get("requests", {}).items() if k.startswith("insertAll")}
assert not ia, "insertAll requests with --bq-api storage: %s" % ia
line = [l for l in open(d + "/app.err") if "dpdk-devourer: done in" in l]
assert line, "no final statistics line"
n = {k: int(v) for k, v in re.findall(r" (\w+)=(\d+)", line[-1])}
lhs = n["rows"] + n["recovered"]
rhs = n["delivered"] + n["pending"] + n["dead_lettered"] + n["dropped"]
assert lhs == rhs, "rows + recovered = %d, delivered + pending + dead + dropped = %d" % (lhs, rhs)
assert n["delivered"] == len(file_rows) and n["pending"] == 0, n
# What the stream did, as the final line says and as the double counted it:
# every append answered stored (OK or ALREADY_EXISTS), the one sent again
# after the reset ALREADY_EXISTS, one stream, no row that may repeat.
for k in ("bq_appends", "bq_already_exists", "bq_new_streams", "bq_may_repeat"):
    assert k in n, "the final line has no %s: %s" % (k, line[-1].strip())
answered = st.get("appended", 0) + st.get("already_exists", 0)
assert n["bq_appends"] == answered, "final line bq_appends=%d, the double answered %d (%s)" % (
    n["bq_appends"], answered, st)
assert n["bq_already_exists"] == st.get("already_exists") == 1, \
    "final line bq_already_exists=%d, the double %s (1 expected after its reset)" % (
        n["bq_already_exists"], st.get("already_exists"))
assert n["bq_new_streams"] == st.get("streams_created") == 1, (n, st)
assert n["bq_may_repeat"] == 0, n
print("e2e-storage: %d rows in the file = %d stored by the storage double in %d stream(s), "
      "0 twice (%d appends, %d ALREADY_EXISTS after the reset); final line: rows %d + "
      "recovered %d = delivered %d + pending %d + dead %d + dropped %d, bq_appends %d = "
      "%d answered by the double, bq_already_exists %d, bq_new_streams %d, bq_may_repeat %d" % (
          len(file_rows), st["rows_stored"], len(json.load(open(d + "/streams.json"))),
          st.get("appends", 0), st["already_exists"], n["rows"], n["recovered"],
          n["delivered"], n["pending"], n["dead_lettered"], n["dropped"], n["bq_appends"],
          answered, n["bq_already_exists"], n["bq_new_streams"], n["bq_may_repeat"]))
PY
