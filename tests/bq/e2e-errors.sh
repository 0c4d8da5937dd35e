#!/usr/bin/env bash
# Startup errors of dpdk-devourer with BigQuery output (issue 4 acceptance):
# a wrong key, an untrusted certificate, a missing dataset, a bad endpoint URL
# and key data that is not JSON each give exit status 2, one line on stderr
# saying what is wrong, and no secret (no 16-character piece of either
# private key, no "PRIVATE KEY", no bearer token). Run through run-double.sh:
#   run-double.sh tests/bq/e2e-errors.sh APP PCAP
set -uo pipefail
app=$1 pcap=$2
d=$DV_BQ_TEST_DIR p=$DV_BQ_TEST_PORT
ep=https://127.0.0.1:$p
common=(--read "$pcap" -o bigquery --bq-api insertall --bq-project p --bq-token-uri "$ep/token" --spool-dir "$d" -s 0)
fail=0
# Every 16-character window of the two keys' base64 bodies.
grep -hv -- '-----' "$d/sa.pem" "$d/sa-wrong.pem" | tr -d '\n' | fold -w 16 | awk 'length == 16' >"$d/windows"

check() { # label expected-substring options...
	local label=$1 want=$2
	shift 2
	timeout 60 "$app" "${common[@]}" "$@" >/dev/null 2>"$d/err"
	local rc=$? lines
	lines=$(wc -l <"$d/err")
	if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" "$d/err" ||
		grep -qF -f "$d/windows" "$d/err" || grep -qE 'PRIVATE KEY|Bearer|ya29\.' "$d/err"; then
		echo "FAIL [$label] exit $rc, $lines lines: $(cat "$d/err")"
		fail=1
	else
		echo "ok   [$label] $(cat "$d/err")"
	fi
}
check wrong-key "Invalid JWT Signature" --bq-dataset d --bq-endpoint "$ep" \
	--bq-ca-file "$d/ca-a.pem" --bq-sa-key-file "$d/sa-wrong.json"
check untrusted-cert "not trusted" --bq-dataset d --bq-endpoint "$ep" --bq-sa-key-file "$d/sa.json"
check missing-dataset "dataset p:nope not found" --bq-dataset nope --bq-endpoint "$ep" \
	--bq-ca-file "$d/ca-a.pem" --bq-sa-key-file "$d/sa.json"
check bad-endpoint "'htps:/x' is not a valid URL" --bq-dataset d --bq-endpoint htps:/x \
	--bq-ca-file "$d/ca-a.pem" --bq-sa-key-file "$d/sa.json"
check key-data-not-json "not valid JSON" --bq-dataset d --bq-endpoint "$ep" \
	--bq-ca-file "$d/ca-a.pem" --bq-sa-key-data "$(head -c 400 "$d/sa.pem")"
exit $fail
