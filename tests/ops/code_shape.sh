#!/usr/bin/env bash
# code_shape: the house rules a reader relies on, checked on every run.
#   code_shape.sh SRCDIR
# 1. clang-format: every C file under lib/, app/ and tests/ is as the
#    repository's .clang-format writes it (`clang-format --dry-run -Werror`).
# 2. No function in lib/ or app/ is 100 lines or longer (universal-ctags
#    gives each function's first and last line).
# 3. A column's name is written in one source file only: lib/dv_columns.def
#    (the JSON writer, the BigQuery schema and the installed schema file come
#    from it), so no other C file under lib/ or app/ holds it as a string.
# Exit 0 when all hold; 1 with the findings otherwise; 77 without the tools.
set -uo pipefail
src=${1:?usage: code_shape.sh SRCDIR}
cd "$src" || exit 1
for t in clang-format ctags git; do
	command -v "$t" >/dev/null || { echo "code_shape: skipped: $t not installed"; exit 77; }
done
ctags --version 2>/dev/null | grep -q "Universal Ctags" ||
	{ echo "code_shape: skipped: ctags is not universal-ctags"; exit 77; }
fail=0

mapfile -t cfiles < <(git ls-files 'lib/*.c' 'lib/*.h' 'app/*.c' 'app/*.h' 'tests/*.c' 'tests/*.h' 'config/*.c')
if ! out=$(clang-format --dry-run -Werror "${cfiles[@]}" 2>&1); then
	echo "$out" | grep -o '^[^:]*\.[ch]:[0-9]*' | sort -u | head -20 | sed 's/^/clang-format would change /'
	echo "FAIL: clang-format finds $(echo "$out" | grep -c 'error:') places in $(echo "$out" | grep -o '^[^:]*\.[ch]' | sort -u | wc -l) files (fix: clang-format -i FILE)"
	fail=1
else
	echo "ok   clang-format: ${#cfiles[@]} files as .clang-format writes them"
fi

mapfile -t srcs < <(git ls-files 'lib/*.c' 'app/*.c')
long=$(ctags --c-kinds=f --fields=+ne -o - "${srcs[@]}" | awk -F'\t' '{
	s = ""; e = ""
	for (i = 4; i <= NF; i++) { if ($i ~ /^line:/) s = substr($i, 6); if ($i ~ /^end:/) e = substr($i, 5) }
	if (s != "" && e != "") print e - s + 1, $2 ":" s, $1 }' | sort -rn)
top=$(echo "$long" | head -1)
if [ "$(echo "$top" | cut -d' ' -f1)" -ge 100 ]; then
	echo "$long" | awk '$1 >= 100' | sed 's/^/too long: /'
	echo "FAIL: functions of 100 lines or more in lib/ or app/"
	fail=1
else
	echo "ok   longest function in lib/ and app/: $top"
fi

cols=$(sed -n 's/^DV_COLUMN(\([a-z_0-9]*\),.*/\1/p' lib/dv_columns.def)
[ -n "$cols" ] || { echo "FAIL: no DV_COLUMN in lib/dv_columns.def"; exit 1; }
n=0 bad=0
for c in $cols; do
	n=$((n + 1))
	# app/options.c names the --sensor option, not the column.
	where=$(git grep -l -e "\"$c\"" -e "\\\\\"$c\\\\\"" -- 'lib/*.c' 'lib/*.h' 'app/*.c' 'app/*.h' |
		grep -v -x -e 'app/options.c')
	if [ -n "$where" ]; then
		echo "column $c written as a string in: $where"
		bad=1
	fi
done
if [ $bad -eq 0 ]; then
	echo "ok   the $n column names are written in lib/dv_columns.def only"
else
	echo "FAIL: column names outside lib/dv_columns.def"
	fail=1
fi
[ $fail -eq 0 ] && echo "code_shape: pass" || echo "code_shape: FAIL"
exit $fail
