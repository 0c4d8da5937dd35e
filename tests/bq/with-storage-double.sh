#!/usr/bin/env bash
# Run a command with the Storage Write API double (storage_double.py) beside
# the REST double, inside run-double.sh: the storage double takes the tokens
# the REST double issued (as tests/bq/e2e-storage.sh starts it). The command
# gets DV_BQ_STORAGE_PORT (gRPC over TLS, the test CA) and DV_BQ_STORAGE_CTL
# (the control URL); after it the double's /stats are printed as
# "double_<key> <value>" lines, then the double is stopped by its PID.
#   run-double.sh tests/bq/with-storage-double.sh PYTHON3 PROTOC_C COMMAND [ARGS...]
# Exit status: the command's; 77 when the double cannot run (no python3-grpcio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=$1 protoc=$2
shift 2
dir=$DV_BQ_TEST_DIR
"$py" "$here/storage_double.py" --cert "$dir/server.pem" --key "$dir/server.key" \
	--port-file "$dir/sport" --control-port-file "$dir/scport" \
	--token-url "https://127.0.0.1:$DV_BQ_TEST_PORT/_double/tokens" \
	--token-ca "$dir/ca-a.pem" --protoc-c "$protoc" 2>"$dir/storage.log" &
spid=$!
trap 'kill $spid 2>/dev/null || true; wait $spid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	[ -s "$dir/sport" ] && [ -s "$dir/scport" ] && break
	if ! kill -0 $spid 2>/dev/null; then
		wait $spid && rc=0 || rc=$?
		cat "$dir/storage.log" >&2
		exit $((rc == 77 ? 77 : 1))
	fi
	sleep 0.1
done
[ -s "$dir/sport" ] || { echo "with-storage-double: the double did not start" >&2; exit 1; }
export DV_BQ_STORAGE_PORT=$(cat "$dir/sport") DV_BQ_STORAGE_CTL="http://127.0.0.1:$(cat "$dir/scport")"
rc=0
"$@" || rc=$?
curl -sf "$DV_BQ_STORAGE_CTL/stats" | "$py" -c '
import json, sys
for k, v in sorted(json.load(sys.stdin).items()):
    if isinstance(v, int):
        print("double_%s %d" % (k, v))'
[ $rc -eq 0 ] || tail -20 "$dir/storage.log" >&2
exit $rc
