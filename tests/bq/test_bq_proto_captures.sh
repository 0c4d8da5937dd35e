#!/usr/bin/env bash
# test_bq_proto_captures: the Storage Write API row encoder on every row the
# program writes from the shared captures (issue 17).
#
#   test_bq_proto_captures.sh PROGRAM BQ_PROTO_ROWS PYTHON TEST_BQ_PROTO_PY SCHEMA [DIR...]
#
# PROGRAM reads every capture of each DIR (default ../shared/pcaps and
# ../shared/pcaps-tcpdump), up to 200 per run (--read's limit is 256),
# with -o file, once with a plain sensor name and once with one that needs
# JSON escapes (a quote, a backslash; and a slash and UTF-8, not escaped). BQ_PROTO_ROWS --json
# encodes every row from its text with the library's scanner and with the
# reference encoder over jansson and fails on any difference in bytes;
# TEST_BQ_PROTO_PY then decodes every scanner row with Google's protobuf
# (python3-protobuf, from the descriptor the library emits) and compares
# it field by field with the JSON row. Exit 77 when no capture is there.
set -euo pipefail
prog=$1 rows=$2 py=$3 check=$4 schema=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- "$here/../../../shared/pcaps" "$here/../../../shared/pcaps-tcpdump"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The captures of a link type the program parses (capinfos -E names, as
# tests/integration/replay.py); all of them when capinfos is missing.
parsed=" ether linux-sll linux-sll2 rawip rawip4 rawip6 null loop "
all=()
for d in "$@"; do
	[ -d "$d" ] || continue
	while IFS= read -r -d '' f; do all+=("$f"); done < <(find "$d" -maxdepth 1 -type f \
		\( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -print0 | sort -z)
done
caps=()
if command -v capinfos >/dev/null && [ ${#all[@]} -gt 0 ]; then
	while IFS=$'\t' read -r f link; do
		[[ $parsed == *" $link "* ]] && caps+=("$f")
	done < <(capinfos -T -r -E "${all[@]}" 2>/dev/null || true)
else
	caps=("${all[@]}")
fi
[ ${#caps[@]} -gt 0 ] || { echo "test_bq_proto_captures: skipped: no captures"; exit 77; }
# A capture the program still refuses for its link type (exit 2, its name
# in the message) is left out and the rest run again.
run() {
	local out=$1 sensor=$2 args=() rc
	shift 2
	for f in "$@"; do args+=(-r "$f"); done
	while :; do
		rc=0
		"$prog" "${args[@]}" -o file -w "$out" --sensor "$sensor" -s 0 >"$tmp/log" 2>&1 || rc=$?
		[ $rc -eq 0 ] && return 0
		bad=$(sed -n 's/^dpdk-devourer: \(.*\): unsupported link type .*/\1/p' "$tmp/log")
		[ $rc -eq 2 ] && [ -n "$bad" ] || { tail -5 "$tmp/log"; echo "FAIL: exit $rc"; exit 1; }
		refused+=("$bad")
		local keep=()
		for ((k = 0; k < ${#args[@]}; k += 2)); do
			[ "${args[k + 1]}" = "$bad" ] || keep+=(-r "${args[k + 1]}")
		done
		args=("${keep[@]}")
		[ ${#args[@]} -gt 0 ] || return 0
	done
}
part=0 refused=()
for sensor in "tap-01" 'q"b\s/Ü-é'; do
	for ((i = 0; i < ${#caps[@]}; i += 200)); do
		part=$((part + 1))
		run "$tmp/$part.ndjson" "$sensor" "${caps[@]:i:200}"
	done
done
echo "captures: ${#caps[@]}, runs: $part, refused for their link type: ${#refused[@]}"
"$rows" --json "$tmp"/*.ndjson >"$tmp/rows.txt" || { echo "FAIL: scanner and reference differ"; exit 1; }
"$py" "$check" --rows-file "$tmp/rows.txt" "$schema"
