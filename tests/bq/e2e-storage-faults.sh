#!/usr/bin/env bash
# The durability fault matrix with --bq-api storage (issue 17): the program
# reads real captures (moved to the present) with --output bigquery,file and
# write-ahead; the token and the table are the REST double's (bqdouble.py,
# run-double.sh), the rows go to the Storage Write API double
# (storage_double.py, with-storage-double.sh). Each scenario writes to a
# table and a spool directory of its own:
#   unavailable   every append refused UNAVAILABLE for 4 s (the service down)
#   bursts        RESOURCE_EXHAUSTED for 3 s, then 2 ABORTED and 2 INTERNAL
#   drop_store    3 connections reset after the double stored the request,
#                 before it answered
#   vanish        the stream vanishes (NOT_FOUND) mid-run
#   schema        for 3 s every stream in use turns out to predate a
#                 tables.patch (SCHEMA_MISMATCH_EXTRA_FIELDS): no row is
#                 dead-lettered, the program opens new streams
#   sigterm_down  SIGTERM while every append is refused: exit 0, the rows left
#                 in the spool; a --drain-spool with the service back sends them
#   kill9         kill -9 mid-stream (appends slowed to 400 ms, one connection
#                 reset after store), then --drain-spool with the same spool
#   vanish_unsure the documented exception: a request stored, its answer lost
#                 (reset), and the stream vanishes before it is sent again:
#                 its rows go to a new stream and are stored twice, and the
#                 program must count exactly those (twice = bq_may_repeat > 0)
# Per scenario the double compares the rows it stored in that table (every
# stream, vanished ones too) with the rows the file sink wrote (its /check:
# by id:segment): missing (exported, never stored), twice (stored more than
# once), extra (stored, not exported); and the program's last line gives
# delivered, pending, dead-lettered, dropped. Printed as one line per
# scenario; each must have 0 missing, 0 twice, 0 extra, 0 pending, and
# exported = delivered + pending + dead-lettered + dropped (the kill9 and
# sigterm_down scenarios: over both runs, the second one's recovered rows
# being the first one's pending).
#   run-double.sh tests/bq/with-storage-double.sh PYTHON3 PROTOC_C \
#       tests/bq/e2e-storage-faults.sh APP PYTHON3 PCAP...
# E2E_SCENARIOS="kill9 vanish" runs only those. Exit 77 when the storage
# double cannot run (no python3-grpcio).
set -euo pipefail
app=$1 py=$2
shift 2
[ $# -gt 0 ] || { echo "usage: e2e-storage-faults.sh APP PYTHON3 PCAP..." >&2; exit 2; }
dir=$DV_BQ_TEST_DIR
port=$DV_BQ_TEST_PORT
sport=$DV_BQ_STORAGE_PORT
ctl=$DV_BQ_STORAGE_CTL
scenarios=${E2E_SCENARIOS:-unavailable bursts drop_store vanish schema sigterm_down kill9 vanish_unsure}

. "$(dirname "$0")/shift-captures.sh"
shift_captures "$dir" "$@"

fault() { curl -sf -d "$1" "$ctl/fault" >/dev/null; }
clear_faults() { curl -sf -d '{}' "$ctl/clear" >/dev/null; }
pid=
trap '[ -z "$pid" ] || kill -9 $pid 2>/dev/null || true' EXIT

# common TABLE: the options every run of a scenario shares
common() {
	echo --bq-project p --bq-dataset d --bq-table "$1" \
		--bq-endpoint "https://127.0.0.1:$port" --bq-token-uri "https://127.0.0.1:$port/token" \
		--bq-ca-file "$dir/ca-a.pem" --bq-sa-key-file "$dir/sa.json" \
		--bq-flush-interval 200ms --bq-batch-rows 7 \
		--bq-api storage --bq-storage-endpoint "127.0.0.1:$sport" \
		--spool-dir "$dir/spool-$1" --dead-letter "$dir/dead-$1.ndjson" \
		--shutdown-timeout 2s
}

# start SCENARIO: a --read run in the background (pid: the program's own, for
# kill -9; the EXIT trap and the test's timeout bound it), rows to out-SCENARIO
start() {
	# shellcheck disable=SC2046
	"$app" "${reads[@]}" --sensor "e2e-$1" --output bigquery,file \
		-w "$dir/out-$1.ndjson" $(common "$1") -s 0 2>"$dir/app-$1.err" &
	pid=$!
}

# finish SCENARIO: wait for the run; its exit status must be 0
finish() {
	local rc=0
	wait "$pid" || rc=$?
	pid=
	[ $rc -eq 0 ] || { cat "$dir/app-$1.err" >&2; echo "$1: dpdk-devourer exited $rc" >&2; exit 1; }
}

# drain SCENARIO: --drain-spool with the scenario's spool (second run)
drain() {
	local rc=0
	# shellcheck disable=SC2046
	timeout 120 "$app" --drain-spool $(common "$1") 2>"$dir/drain-$1.err" || rc=$?
	[ $rc -eq 0 ] || { cat "$dir/drain-$1.err" >&2; echo "$1: --drain-spool exited $rc" >&2; exit 1; }
}

# stored TABLE: rows the double holds for the table (its live streams)
stored() {
	curl -sf "$ctl/streams" | "$py" -c '
import json, sys
t = "projects/p/datasets/d/tables/" + sys.argv[1]
print(sum(s["next"] for s in json.load(sys.stdin).values() if s["table"] == t))' "$1"
}

# stream TABLE: the name of the table's newest live stream
stream() {
	curl -sf "$ctl/streams" | "$py" -c '
import json, sys
t = "projects/p/datasets/d/tables/" + sys.argv[1]
print([n for n, s in json.load(sys.stdin).items() if s["table"] == t][-1])' "$1"
}

# wait_stored TABLE N: until the double stored N rows of the table (20 s at most)
wait_stored() {
	for _ in $(seq 200); do
		[ "$(stored "$1")" -ge "$2" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1: the double never stored $2 rows while the run was going" >&2
	exit 1
}

# check SCENARIO [drain|repeat]: the double's report and the program's figures
# (repeat: rows stored twice allowed, as many as the program counted in
# bq_may_repeat, and at least one)
check() {
	curl -sf --data-binary @"$dir/out-$1.ndjson" \
		"$ctl/check?table=projects/p/datasets/d/tables/$1" >"$dir/check-$1.json"
	"$py" - "$1" "$dir" "${2:-}" <<'PY'
import json, re, sys
sc, d, drained = sys.argv[1], sys.argv[2], sys.argv[3] == "drain"
repeat = sys.argv[3] == "repeat"
rep = json.load(open("%s/check-%s.json" % (d, sc)))
lines = [l for l in open("%s/app-%s.err" % (d, sc)) if "dpdk-devourer: done in" in l]
n = {k: int(v) for k, v in re.findall(r" (\w+)=(\d+)", lines[-1])} if lines else {}
if drained:
    dl = [l for l in open("%s/drain-%s.err" % (d, sc)) if "drain-spool: recovered=" in l]
    assert dl, "%s: no drain-spool line" % sc
    m = {k: int(v) for k, v in re.findall(r" (\w+)=(\d+)", dl[-1])}
else:
    m = None
exported = rep["exported"]
if m is None:
    assert n, "%s: no final line" % sc
    assert n["rows"] == exported, "%s: final line rows=%d, the file has %d" % (sc, n["rows"], exported)
    fig = {k: n[k] for k in ("delivered", "pending", "dead_lettered", "dropped")}
else:
    # Run 1 (its final line, if it had one) and the drain of what it left.
    first = n.get("delivered", None)
    if n:
        assert m["recovered"] == n["pending"], "%s: recovered %d, run 1 left %d pending" % (
            sc, m["recovered"], n["pending"])
        fig = {k: n[k] + m[k] for k in ("delivered", "dead_lettered", "dropped")}
        fig["pending"] = m["pending"]
    else:  # killed, no final line: every exported row was in the spool for run 2
        assert m["recovered"] == exported, "%s: run 2 recovered %d rows, %d were exported" % (
            sc, m["recovered"], exported)
        fig = {k: m[k] for k in ("delivered", "pending", "dead_lettered", "dropped")}
        fig["run2_recovered"] = m["recovered"]
total = fig["delivered"] + fig["pending"] + fig["dead_lettered"] + fig["dropped"]
print("%s: exported %d, delivered %d, pending %d, dead %d, dropped %d, missing %d, twice %d, "
      "extra %d%s" % (sc, exported, fig["delivered"], fig["pending"], fig["dead_lettered"],
                      fig["dropped"], rep["missing"], rep["twice"], rep["extra"],
                      "" if "run2_recovered" not in fig else
                      " (figures of run 2, after kill -9: it recovered %d rows from the "
                      "spool)" % fig["run2_recovered"]))
if n:
    print("%s: bq_appends %d, bq_already_exists %d, bq_new_streams %d, bq_may_repeat %d" % (
        sc, n["bq_appends"], n["bq_already_exists"], n["bq_new_streams"], n["bq_may_repeat"]))
ok = True
for what, cond in (("rows exported", exported > 0), ("0 missing", rep["missing"] == 0),
                   ("0 twice" if not repeat else "twice = bq_may_repeat > 0",
                    rep["twice"] == 0 if not repeat else
                    0 < rep["twice"] == n.get("bq_may_repeat", -1)),
                   ("0 extra", rep["extra"] == 0),
                   ("0 pending", fig["pending"] == 0),
                   ("exported = delivered + pending + dead + dropped", total == exported)):
    if not cond:
        print("%s: FAILED: %s (%s)" % (sc, what, rep), file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY
}

# What the double saw, for the scenario's own checks.
dstat() { curl -sf "$ctl/stats" | "$py" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

sc_unavailable() {
	fault '{"kind":"unavailable","seconds":4,"method":"AppendRows"}'
	local f0; f0=$(dstat faults_fired)
	start unavailable; finish unavailable; clear_faults
	[ "$(dstat faults_fired)" -gt "$f0" ] || { echo "unavailable: no fault fired" >&2; exit 1; }
	check unavailable
}

sc_bursts() {
	local f0; f0=$(dstat faults_fired)
	fault '{"kind":"resource_exhausted","seconds":3,"method":"AppendRows"}'
	fault '{"kind":"aborted","count":2,"method":"AppendRows"}'
	fault '{"kind":"internal","count":2,"method":"AppendRows"}'
	start bursts; finish bursts; clear_faults
	[ "$(dstat faults_fired)" -ge $((f0 + 5)) ] || { echo "bursts: faults did not fire" >&2; exit 1; }
	check bursts
}

sc_drop_store() {
	local d0; d0=$(dstat dropped_after_store)
	fault '{"kind":"drop_after_store","count":3}'
	start drop_store; finish drop_store; clear_faults
	[ "$(dstat dropped_after_store)" -eq $((d0 + 3)) ] || { echo "drop_store: 3 resets expected" >&2; exit 1; }
	check drop_store
}

sc_vanish() {
	fault '{"kind":"delay","ms":100,"seconds":60}'
	start vanish
	wait_stored vanish 30
	curl -sf -d "{\"stream\":\"$(stream vanish)\"}" "$ctl/vanish" >/dev/null
	finish vanish; clear_faults
	local ns; ns=$(grep "dpdk-devourer: done in" "$dir/app-vanish.err" | grep -o "bq_new_streams=[0-9]*" | cut -d= -f2)
	[ "${ns:-0}" -ge 2 ] || { echo "vanish: the program did not open a second stream (bq_new_streams=$ns)" >&2; exit 1; }
	check vanish
}

sc_schema() {
	local m0; m0=$(dstat schema_mismatches)
	fault '{"kind":"schema_mismatch","seconds":3,"method":"AppendRows"}'
	start schema; finish schema; clear_faults
	[ "$(dstat schema_mismatches)" -gt "$m0" ] || { echo "schema: no mismatch answered" >&2; exit 1; }
	local ns; ns=$(grep "dpdk-devourer: done in" "$dir/app-schema.err" | grep -o "bq_new_streams=[0-9]*" | cut -d= -f2)
	[ "${ns:-0}" -ge 2 ] || { echo "schema: the program did not open a second stream (bq_new_streams=$ns)" >&2; exit 1; }
	check schema
}

sc_sigterm_down() {
	fault '{"kind":"unavailable","seconds":60,"method":"AppendRows"}'
	start sigterm_down
	sleep 3
	kill -TERM "$pid"
	finish sigterm_down
	clear_faults
	drain sigterm_down
	check sigterm_down drain
}

sc_kill9() {
	local before
	fault '{"kind":"delay","ms":400,"seconds":60}'
	fault '{"kind":"drop_after_store","count":1}'
	start kill9
	wait_stored kill9 40
	sleep 0.5 # past a spool commit interval
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	clear_faults
	before=$(stored kill9)
	echo "kill9: killed with $before of $(wc -l <"$dir/out-kill9.ndjson") rows stored"
	! grep -q "dpdk-devourer: done in" "$dir/app-kill9.err" &&
		[ "$before" -lt "$(wc -l <"$dir/out-kill9.ndjson")" ] ||
		{ echo "kill9: the run ended before the kill: not mid-stream" >&2; exit 1; }
	drain kill9
	check kill9 drain
	grep -h "finalized with\|stored by an earlier run" "$dir/drain-kill9.err" | sed 's/^/kill9: /'
	grep -q "stored by an earlier run" "$dir/drain-kill9.err" ||
		{ echo "kill9: no row of the spool was found stored: the kill was not mid-stream" >&2; exit 1; }
}

sc_vanish_unsure() {
	local d0; d0=$(dstat dropped_after_store)
	fault '{"kind":"drop_after_store","count":1,"vanish":true}'
	start vanish_unsure; finish vanish_unsure; clear_faults
	[ "$(dstat dropped_after_store)" -eq $((d0 + 1)) ] || { echo "vanish_unsure: no reset" >&2; exit 1; }
	check vanish_unsure repeat
}

failed=0
for sc in $scenarios; do
	"sc_$sc" || failed=1
done
exit $failed
