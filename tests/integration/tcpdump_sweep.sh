#!/usr/bin/env bash
# tcpdump_sweep: every capture of tcpdump's test suite through --read.
#
#   tcpdump_sweep.sh PROGRAM        (PROGRAM built with -Db_sanitize=address,undefined)
#
# tcpdump's captures are small and hostile: odd link types, truncated and
# fuzzed records. For each file in ../shared/pcaps-tcpdump (relative to the
# repo root; DV_TCPDUMP_PCAPS overrides) the program runs with
# `--read FILE -o file -w /dev/null` under a timeout. A file passes if the
# program exits 0, or exits 2 with one line on stderr that names the file (an
# unsupported link type or an unreadable file). It fails on any other status,
# a signal, a timeout, or any AddressSanitizer / LeakSanitizer / UBSan report.
# Prints one line per failure and the count of each outcome.
# Exit: 0 pass, 1 fail, 77 no capture directory.
set -u

program=${1:?usage: tcpdump_sweep.sh PROGRAM}
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=${DV_TCPDUMP_PCAPS:-$repo/../shared/pcaps-tcpdump}
per_file_timeout=${DV_SWEEP_TIMEOUT:-60}

if [ ! -d "$dir" ]; then
	echo "tcpdump_sweep: SKIP: no capture directory $dir"
	exit 77
fi
if [ ! -x "$program" ]; then
	echo "tcpdump_sweep: FAIL: $program is not an executable"
	exit 1
fi

# abort_on_error turns a report into SIGABRT, halt_on_error stops UBSan at the
# first finding: either way the status alone already fails the file.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 ok0=0 ok2=0 bad_status=0 bad_signal=0 bad_sanitizer=0 bad_message=0 bad_timeout=0

for f in "$dir"/*; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	name=$(basename "$f")
	timeout -k 5 "$per_file_timeout" "$program" --read "$f" -o file -w /dev/null \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' "$tmp/err"; then
		bad_sanitizer=$((bad_sanitizer + 1))
		echo "FAIL $name: sanitizer report (exit $rc):"
		grep -m 3 -E 'runtime error|AddressSanitizer|LeakSanitizer|#[0-9] ' "$tmp/err" |
			sed 's/^/    /'
	elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		bad_timeout=$((bad_timeout + 1))
		echo "FAIL $name: no exit within ${per_file_timeout}s"
	elif [ $rc -gt 128 ]; then
		bad_signal=$((bad_signal + 1))
		echo "FAIL $name: killed by signal $((rc - 128)): $(tail -n 1 "$tmp/err")"
	elif [ $rc -eq 0 ]; then
		ok0=$((ok0 + 1))
	elif [ $rc -eq 2 ]; then
		lines=$(grep -c . "$tmp/err")
		if [ "$lines" -eq 1 ] && grep -qF "$name" "$tmp/err"; then
			ok2=$((ok2 + 1))
			[ -n "${DV_SWEEP_VERBOSE:-}" ] && echo "exit 2 $name: $(cat "$tmp/err")"
		else
			bad_message=$((bad_message + 1))
			echo "FAIL $name: exit 2 but stderr has $lines lines or does not name the file:"
			head -n 3 "$tmp/err" | sed 's/^/    /'
		fi
	else
		bad_status=$((bad_status + 1))
		echo "FAIL $name: exit $rc: $(tail -n 1 "$tmp/err")"
	fi
done

fail=$((bad_status + bad_signal + bad_sanitizer + bad_message + bad_timeout))
echo "files=$n exit0=$ok0 exit2=$ok2 failed=$fail (sanitizer=$bad_sanitizer" \
	"signal=$bad_signal timeout=$bad_timeout status=$bad_status bad_message=$bad_message)"
if [ $n -eq 0 ]; then
	echo "tcpdump_sweep: SKIP: no files in $dir"
	exit 77
fi
[ $fail -eq 0 ]
