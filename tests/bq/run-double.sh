#!/usr/bin/env bash
# Run a command against a fresh BigQuery test double (bqdouble.py) over TLS.
#
# Makes, in a temporary directory: a test CA and a server certificate for
# 127.0.0.1 signed by it, a second unrelated CA, a service-account key (and a
# wrong one with the same id), then starts the double, runs the command with
# DV_BQ_TEST_* variables describing all that, stops the double by its PID and
# removes the directory. Exit status: the command's.
#   run-double.sh [--fast|--count-only] COMMAND [ARGS...]
# (--fast, --count-only: the double's benchmark modes, see bqdouble.py --help)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fast=()
case "${1:-}" in --fast|--count-only) fast=("$1"); shift ;; esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/dv-bq.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT

ossl() { openssl "$@" >/dev/null 2>&1; }
caller=$PWD
cd "$dir"
# Test CA (A) signs the server certificate; CA B is unrelated.
for ca in a b; do
	ossl req -x509 -newkey rsa:2048 -nodes -keyout ca-$ca.key -out ca-$ca.pem -days 2 \
		-subj "/CN=devourer test CA $ca" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign
done
ossl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
ossl x509 -req -in server.csr -CA ca-a.pem -CAkey ca-a.key -CAcreateserial -out server.pem \
	-days 2 -extfile server.ext
# A hashed CA directory holding only CA A (stands in for /etc/ssl/certs), and an empty one.
mkdir capath-a capath-empty
cp ca-a.pem capath-a/ && ossl rehash capath-a
# Service-account keys: the right one and a wrong one with the same id and e-mail.
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa-wrong.pem
mkkey() { # pem out token_uri
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
pem, out, uri = sys.argv[1:4]
key = {"type": "service_account", "project_id": "p", "private_key_id": "0123abcd4567ef89",
       "private_key": open(pem).read(), "client_email": "devourer@p.iam.gserviceaccount.com",
       "client_id": "1", "token_uri": uri}
with open(out, "w") as f:
    json.dump(key, f)
PY
	chmod 600 "$2"
}
mkkey sa.pem sa.json https://127.0.0.1:1/token

python3 "$here/bqdouble.py" --cert server.pem --key server.key --sa-key sa.json \
	--dataset p:d --port-file port --metadata-port 0 --metadata-port-file mdport \
	"${fast[@]}" 2>double.log &
pid=$!
for _ in $(seq 100); do [ -s port ] && [ -s mdport ] && break; sleep 0.1; done
if ! [ -s port ]; then echo "run-double: the double did not start" >&2; cat double.log >&2; exit 1; fi
port=$(cat port)
# Now the token URI is known.
mkkey sa.pem sa.json "https://127.0.0.1:$port/token"
mkkey sa-wrong.pem sa-wrong.json "https://127.0.0.1:$port/token"

export DV_BQ_TEST_DIR=$dir DV_BQ_TEST_PORT=$port DV_BQ_TEST_MDPORT=$(cat mdport)
export DV_BQ_TEST_SRC=$(cd "$here/../.." && pwd)
rc=0
cd "$caller"
"$@" || rc=$?
cd "$dir"
if [ $rc -ne 0 ] && [ -s double.log ]; then echo "--- double log:" >&2; tail -20 double.log >&2; fi
exit $rc
