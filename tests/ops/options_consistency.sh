#!/usr/bin/env bash
# options_consistency: the options a user can read about are the options the
# program has. Every long option printed by "PROGRAM --help" must be described
# in the man page (docs/dpdk-devourer.8) and present in the example config
# (config/devourer.conf; help, version, config itself and the Go tool's
# show-stats excepted), and the reverse: every key of the example config and
# every option heading of the man page must be an option of the program. The
# man page must render with no warning. Every option --help names in its
# prose (EAL ones such as --no-huge) is in the man page too; every option is
# in a table of README.md, and every option a README table names exists.
#
# Usage: tests/ops/options_consistency.sh [PROGRAM]
# Without PROGRAM the list of SPEC section 1 (plus --rss, --log-level) is used.
# Exit: 0 pass, 1 fail, 77 skip (man is not installed: rendering unchecked).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
page=$root/docs/dpdk-devourer.8
conf=$root/config/devourer.conf
prog=${1:-}
failures=0

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# Long options named in the option column of --help: lines that start (after
# indentation) with "-", up to the first run of two spaces or a tab, which is
# where the description starts, and aliases a description names ("alias
# --x"). Other options a description mentions (EAL ones) are not taken.
help_options()
{
	local text
	text=$(cat)
	{
		printf '%s\n' "$text" | sed -n 's/^[[:space:]]*\(-.*\)$/\1/p' |
			sed 's/\(  \|\t\).*//' | grep -oE -- '--[a-z][a-z0-9-]*'
		# Aliases named in a description: "(alias --bq-project-id)".
		printf '%s\n' "$text" | grep -oE -- 'alias(es)?:? --[a-z][a-z0-9-]*' |
			grep -oE -- '--[a-z][a-z0-9-]*'
	} | sed 's/^--//' | sort -u
}

spec_options()
{
	printf '%s\n' read interface workers output write-file stat-interval flow-timeout \
		active-timeout tcp-close-timeout max-flows sensor clock spool-dir dead-letter \
		config log-level version help bq-project bq-project-id bq-dataset bq-dataset-id \
		bq-table bq-sa-key-file bq-sa-key-data bq-auth bq-endpoint bq-token-uri \
		bq-ca-file bq-batch-rows bq-flush-interval bq-max-inflight shutdown-timeout \
		spool-max-bytes drain-spool rss | sort -u
}

if [ -n "$prog" ]; then
	if ! help=$(timeout 20 "$prog" --help 2>&1); then
		echo "FAIL: '$prog --help' exited with status $? (it must print the options and exit 0)"
		exit 1
	fi
	opts=$(printf '%s\n' "$help" | help_options)
	source="$prog --help"
else
	opts=$(spec_options)
	source="SPEC section 1 (no PROGRAM given)"
fi
nopts=$(printf '%s\n' "$opts" | grep -c .)
echo "options from $source: $nopts"
# A parser that found almost nothing would make every check below pass.
if [ "$nopts" -lt 20 ]; then
	echo "FAIL: only $nopts long options found in $source; expected the ~38 of SPEC section 1"
	exit 1
fi

have_man=0
if command -v man >/dev/null 2>&1; then
	have_man=1
	rendered=$(LC_ALL=C MANWIDTH=80 man -l "$page" 2>/dev/null | col -b)
	warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	if [ -n "$warnings" ]; then
		fail "man -l $page printed warnings:"
		printf '%s\n' "$warnings" | sed 's/^/    /'
	else
		echo "ok: man --warnings -l renders $page without warnings ($(printf '%s\n' "$rendered" | wc -l) lines)"
	fi
fi

is_word_in()
{ # is_word_in TEXT OPTION: "--OPTION" as a whole token in TEXT
	printf '%s\n' "$1" | grep -qE -- "(^|[^a-z0-9-])--$2([^a-z0-9-]|$)"
}

# roff writes "--max-flows" as \-\-max\-flows.
roff_word()
{
	printf '%s' "\\-\\-${1//-/\\-}"
}

missing_man=0
missing_conf=0
for o in $opts; do
	if [ $have_man -eq 1 ]; then
		is_word_in "$rendered" "$o" || {
			fail "--$o is in $source but not in the rendered man page"
			missing_man=$((missing_man + 1))
		}
	else
		grep -qF -- "$(roff_word "$o")" "$page" || {
			fail "--$o is in $source but not in $page"
			missing_man=$((missing_man + 1))
		}
	fi
	# show-stats is the Go tool's command-line flag (and DEVOURER_SHOW_STATS):
	# in a config file stat-interval says the same, so it needs no key line.
	case $o in help | version | config | show-stats) continue ;; esac
	# A key line ("# key = default" or "key = value"), or for an alias a
	# comment naming it ("(alias: bq-project-id)").
	if ! grep -qE "^[[:space:]]*#?[[:space:]]*$o[[:space:]]*=" "$conf" &&
		! grep -qE "^#.*alias(es)?:[^)]*(^|[^a-z0-9-])$o([^a-z0-9-]|$)" "$conf"; then
		fail "--$o is in $source but has no key line in $conf"
		missing_conf=$((missing_conf + 1))
	fi
done
echo "checked $nopts options against the man page ($missing_man missing) and $conf ($missing_conf missing)"

# Reverse: nothing documented that the program does not have.
keys=$(sed -nE 's/^[[:space:]]*#?[[:space:]]*([a-z][a-z0-9-]*)[[:space:]]*=.*/\1/p' "$conf" | sort -u)
nkeys=$(printf '%s\n' "$keys" | grep -c .)
for k in $keys; do
	printf '%s\n' "$opts" | grep -qxF -- "$k" || fail "config key '$k' in $conf is not an option of $source"
done
echo "checked $nkeys config keys are options"

headings=$(awk 'prev == ".TP" { print } { prev = $0 }' "$page" |
	grep -oE -- '\\-\\-[a-z][a-z0-9\\-]*' | sed 's/\\//g; s/^--//' | sort -u)
nhead=$(printf '%s\n' "$headings" | grep -c .)
for h in $headings; do
	printf '%s\n' "$opts" | grep -qxF -- "$h" || fail "man page describes --$h, which is not an option of $source"
done
echo "checked $nhead man page option headings are options"

# --help mentions options in its prose too (the EAL options devourer picks,
# such as --no-huge): each must be in the man page as well.
if [ -n "$prog" ]; then
	prose=$(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sed 's/^--//' | sort -u)
	for o in $prose; do
		printf '%s\n' "$opts" | grep -qxF -- "$o" && continue
		if [ $have_man -eq 1 ]; then
			is_word_in "$rendered" "$o" || fail "--help names --$o, which the man page does not"
		else
			grep -qF -- "$(roff_word "$o")" "$page" || fail "--help names --$o, which $page does not"
		fi
	done
	echo "checked the $(printf '%s\n' "$prose" | grep -c .) options --help names against the man page"
fi

# The README's option tables (lines starting with '|' in its "## Options"
# section): every option of the program is in one (a "--bq-*" row stands for
# every --bq- option), and every option they name is one the program has, or
# one --help names (EAL options). The "Coming from devourer (Go)" table names
# Go flags on purpose, some of them not taken, so it is not read.
readme=$root/README.md
rows=$(awk '/^## / { on = ($0 == "## Options") } on && /^\|/' "$readme")
wild=$(printf '%s\n' "$rows" | grep -oE -- '--[a-z][a-z0-9-]*-\*' | sed 's/^--//; s/\*$//' | sort -u)
in_tables=$(printf '%s\n' "$rows" | sed 's/--[a-z][a-z0-9-]*-\*//g' |
	grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' | sed 's/^--//' | sort -u)
missing_readme=0
for o in $opts; do
	case $o in help | version) continue ;; esac
	printf '%s\n' "$in_tables" | grep -qxF -- "$o" && continue
	covered=0
	for w in $wild; do
		case $o in "$w"*) covered=1 ;; esac
	done
	[ $covered -eq 1 ] && continue
	fail "--$o is in $source but in no table of README.md"
	missing_readme=$((missing_readme + 1))
done
known=$(printf '%s\n%s\n' "$opts" "${prose:-}" | sort -u)
for o in $in_tables; do
	printf '%s\n' "$known" | grep -qxF -- "$o" || fail "README.md's tables name --$o, which is not an option of $source"
done
echo "checked $nopts options against README.md's tables ($missing_readme missing) and its $(printf '%s\n' "$in_tables" | grep -c .) table options back"

# The defaults the example config shows must be values the program accepts:
# uncomment every "# key = value" line and let PROGRAM read the result. With
# no input it stops after the options, so any message naming the file is a
# rejected line. A deliberately bad key shows that such a message appears.
if [ -n "$prog" ]; then
	tmpconf=$(mktemp /tmp/ops-options-conf.XXXXXX)
	sed -nE 's/^#[[:space:]]*([a-z][a-z0-9-]*[[:space:]]*=[[:space:]]*[^[:space:]].*)$/\1/p' \
		"$conf" >"$tmpconf"
	nvals=$(grep -c . "$tmpconf")
	msg=$(timeout 20 "$prog" --config "$tmpconf" 2>&1 </dev/null)
	if printf '%s\n' "$msg" | grep -qF -- "$tmpconf"; then
		fail "$prog rejects the example config's defaults: $msg"
	else
		echo "ok: $prog accepts the $nvals defaults of the example config"
	fi
	echo "no-such-option = 1" >>"$tmpconf"
	msg=$(timeout 20 "$prog" --config "$tmpconf" 2>&1 </dev/null)
	printf '%s\n' "$msg" | grep -qF -- "$tmpconf" ||
		fail "$prog does not name the config file when a key is unknown (the check above proves nothing): $msg"
	rm -f "$tmpconf"
fi

if [ $failures -gt 0 ]; then
	echo "options_consistency: $failures failure(s)"
	exit 1
fi
if [ $have_man -eq 0 ]; then
	echo "SKIP: man not installed: the page source was checked, its rendering was not"
	exit 77
fi
echo "options_consistency: pass"
exit 0
