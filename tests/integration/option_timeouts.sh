#!/usr/bin/env bash
# option_timeouts: --flow-timeout and --tcp-close-timeout reach the flow
# table, given on the command line, as DEVOURER_* variables and in a
# --config file.
#
#   option_timeouts.sh PROGRAM
#
# The bundled capture (tests/fixtures/sample.pcap) is silent for 12 s before
# its last frame, a DNS query of its own flow; every other flow ends in its
# first 0.2 s, three TCP flows by FIN or RST. The expectation comes from the
# frame times as tshark reads them, and SPEC section 2 (in --read mode every
# timeout is judged on packet time):
#   --flow-timeout 5s        every row whose last packet is more than 5 s
#                            before the capture's last frame ends idle (the
#                            closed TCP flows may end tcp_close), at least
#                            one ends idle; the others end eof.
#   --tcp-close-timeout 20s  nothing is silent 20 s: no row ends tcp_close,
#                            all end eof (the default 10 s closes three).
# Each is run in the three forms; an option the program parses but does not
# pass on leaves the rows as without it (eof, tcp_close) and fails here.
# Exit: 0 pass, 1 fail, 77 no python3 or tshark (with CI=true: 1).
set -u
program=${1:?usage: option_timeouts.sh PROGRAM}
repo=$(cd "$(dirname "$0")/../.." && pwd)
sample=$repo/tests/fixtures/sample.pcap
for tool in python3 tshark; do
	if ! command -v $tool >/dev/null; then
		[ "${CI:-}" = true ] && { echo "option_timeouts: FAIL: no $tool (CI=true)"; exit 1; }
		echo "option_timeouts: SKIP: no $tool"
		exit 77
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
last=$(tshark -r "$sample" -T fields -e frame.time_epoch 2>/dev/null | tail -1)
[ -n "$last" ] || { echo "option_timeouts: FAIL: tshark read no frame of $sample"; exit 1; }

fail=0
# check NAME OPTION VALUE FORM: run PROGRAM with OPTION=VALUE given in FORM
# (cli, env, config) and check its rows.
check() {
	local name=$1 opt=$2 val=$3 form=$4 env=() args=()
	case $form in
	cli) args=(--"$opt" "$val") ;;
	env) env=("DEVOURER_$(tr 'a-z-' 'A-Z_' <<<"$opt")=$val") ;;
	config)
		printf '# option_timeouts\n%s = %s\n' "$opt" "$val" >"$tmp/conf"
		args=(--config "$tmp/conf") ;;
	esac
	if ! env "${env[@]}" timeout 60 "$program" --read "$sample" -o stdout -s 0 "${args[@]}" \
		>"$tmp/rows" 2>"$tmp/err"; then
		echo "FAIL $name ($form): exit status $?: $(tail -1 "$tmp/err")"
		fail=1
		return
	fi
	python3 - "$tmp/rows" "$last" "$opt" "$val" "$name ($form)" <<'EOF' || fail=1
import datetime, json, sys
rows_path, last, opt, val, label = sys.argv[1:6]
last = float(last)
secs = float(val.rstrip("s"))
rows = [json.loads(l) for l in open(rows_path) if l.strip()]
bad = []

def gap(r):
    t = datetime.datetime.strptime(r["last_seen_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return last - t.replace(tzinfo=datetime.timezone.utc).timestamp()

for r in rows:
    g, why = gap(r), r["end_reason"]
    if opt == "flow-timeout":
        want = ("idle", "tcp_close") if g > secs else ("eof",)
    else:  # tcp-close-timeout longer than any silence in the capture
        want = ("eof",)
    if why not in want:
        bad.append("%s %s:%s-%s:%s silent %.3f s: %s, want %s" % (
            r["protocol"], r["src_addr"], r["src_port"], r["dst_addr"], r["dst_port"], g,
            why, " or ".join(want)))
if opt == "flow-timeout" and not any(r["end_reason"] == "idle" for r in rows):
    bad.append("no row ended idle")
if len(rows) != 13:
    bad.append("%d rows, the capture has 13 flows" % len(rows))
print("%s %s: --%s %s: %d rows%s" % ("FAIL" if bad else "ok  ", label, opt, val, len(rows),
                                     "".join("\n    " + b for b in bad)))
sys.exit(1 if bad else 0)
EOF
}

for form in cli env config; do
	check flow-timeout flow-timeout 5s $form
	check tcp-close-timeout tcp-close-timeout 20s $form
done
if [ $fail -ne 0 ]; then
	echo "option_timeouts: FAIL"
	exit 1
fi
echo "option_timeouts: pass (2 options in 3 forms)"
