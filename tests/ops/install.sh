#!/usr/bin/env bash
# install: "meson install --destdir" of a scratch build (prefix /usr, as on an
# appliance) puts in place the binary, the example config, the BigQuery
# schema, the systemd unit and the man page, plus the reference copies, the
# setup script and the pktgen profile, and /usr/bin/devourer, a link to
# dpdk-devourer for the Go tool's scripts (none with -Ddevourer_link=false);
# and a second install keeps an edited /etc/devourer/devourer.conf (the new
# example goes next to it as .new).
# Prints the installed tree.
#
# Usage: tests/ops/install.sh   (DV_JOBS=N limits the build, default 2)
# Exit: 0 pass, 1 fail.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/ops-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
failures=0

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

step()
{ # step LOG CMD...: run, show the log tail on failure
	local log=$tmp/$1.log
	shift
	if ! (cd "$root" && "$@") >"$log" 2>&1; then
		echo "FAIL: $*"
		tail -25 "$log"
		exit 1
	fi
}

step setup timeout 300 meson setup "$tmp/build" --prefix=/usr -Dtests=false
step build timeout 900 ninja -C "$tmp/build" -j "${DV_JOBS:-2}"
step install timeout 300 meson install -C "$tmp/build" --no-rebuild --destdir "$dest"

echo "installed files:"
(cd "$dest" && find . \( -type f -o -type l \) | sort | sed 's/^\./    /')

want_file()
{ # want_file PATH [exec]
	local p=$dest$1
	if [ ! -f "$p" ]; then
		fail "$1 is not installed"
	elif [ "${2:-}" = exec ] && [ ! -x "$p" ]; then
		fail "$1 is not executable"
	else
		echo "ok: $1"
	fi
}

unit=/usr/lib/systemd/system/dpdk-devourer.service
want_file /usr/bin/dpdk-devourer exec
want_file /etc/devourer/devourer.conf
want_file /usr/share/dpdk-devourer/flow_logs.schema.json
want_file $unit
want_file /usr/share/man/man8/dpdk-devourer.8
want_file /usr/share/dpdk-devourer/devourer.conf
want_file /usr/share/dpdk-devourer/dpdk-devourer.default
want_file /usr/share/dpdk-devourer/setup-appliance exec
want_file /usr/share/dpdk-devourer/pktgen/flows.lua
want_file /usr/share/dpdk-devourer/pktgen/flows.pkt

# The BigQuery module: beside the libraries, found by the installed program
# (relative to it, so under the DESTDIR too). "auth mode key needs a
# service-account key" is the module's own message: it was loaded.
multiarch=$(meson introspect --buildoptions "$tmp/build" |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
module=/usr/$multiarch/dpdk-devourer/dpdk-devourer-bigquery.so
want_file "$module"
if [ -f "$dest/usr/bin/dpdk-devourer" ] && [ -f "$dest$module" ]; then
	out=$(env -u GOOGLE_APPLICATION_CREDENTIALS timeout 60 "$dest/usr/bin/dpdk-devourer" \
		--read "$root/tests/fixtures/sample.pcap" -o bigquery --bq-project p --bq-dataset d \
		--bq-auth key 2>&1)
	if echo "$out" | grep -q 'auth mode key needs a service-account key'; then
		echo "ok: the installed program loads $module"
	else
		fail "the installed program did not load $module: $(echo "$out" | tail -2)"
	fi
	libs=$(ldd "$dest/usr/bin/dpdk-devourer" | grep -c 'libcurl\|libgrpc\|libprotobuf-c')
	[ "$libs" = 0 ] || fail "the program itself links BigQuery's libraries ($libs of libcurl, libgrpc, libprotobuf-c)"
fi

# The Go tool's name: a relative link, so it works under any DESTDIR.
if [ "$(readlink "$dest/usr/bin/devourer" 2>/dev/null)" = dpdk-devourer ]; then
	echo "ok: /usr/bin/devourer -> dpdk-devourer"
else
	fail "/usr/bin/devourer is not a link to dpdk-devourer ($(ls -l "$dest/usr/bin/devourer" 2>&1))"
fi

if [ -f "$dest/usr/bin/dpdk-devourer" ]; then
	file_type=$(od -An -c -N4 "$dest/usr/bin/dpdk-devourer" | tr -d ' ')
	[ "$file_type" = '177ELF' ] || fail "/usr/bin/dpdk-devourer is not an ELF file"
fi
if [ -f "$dest/etc/devourer/devourer.conf" ]; then
	cmp -s "$root/config/devourer.conf" "$dest/etc/devourer/devourer.conf" ||
		fail "/etc/devourer/devourer.conf differs from config/devourer.conf"
fi
if [ -f "$dest/usr/share/dpdk-devourer/flow_logs.schema.json" ]; then
	python3 -m json.tool "$dest/usr/share/dpdk-devourer/flow_logs.schema.json" >/dev/null 2>&1 ||
		fail "the installed schema is not valid JSON"
fi
# The unit must point at what was installed, at its real (non-destdir) path.
if [ -f "$dest$unit" ]; then
	grep -qx 'ExecStart=/usr/bin/dpdk-devourer $DEVOURER_EAL_ARGS -- --config /etc/devourer/devourer.conf' \
		"$dest$unit" || fail "the unit's ExecStart is not /usr/bin/dpdk-devourer ... --config /etc/devourer/devourer.conf"
	grep -qx 'EnvironmentFile=-/etc/default/dpdk-devourer' "$dest$unit" ||
		fail "the unit's EnvironmentFile is not /etc/default/dpdk-devourer"
	! grep -q '@[A-Z_]*@' "$dest$unit" || fail "the unit has unreplaced @VARIABLES@"
fi

# An upgrade must not overwrite the operator's configuration.
if [ -f "$dest/etc/devourer/devourer.conf" ]; then
	echo "max-flows = 2097152" >>"$dest/etc/devourer/devourer.conf"
	step reinstall timeout 300 meson install -C "$tmp/build" --no-rebuild --destdir "$dest"
	if ! grep -qx 'max-flows = 2097152' "$dest/etc/devourer/devourer.conf"; then
		fail "a second meson install overwrote the edited /etc/devourer/devourer.conf"
	elif ! cmp -s "$root/config/devourer.conf" "$dest/etc/devourer/devourer.conf.new"; then
		fail "a second meson install did not leave the new example as devourer.conf.new"
	else
		echo "ok: a second install kept the edited devourer.conf and wrote devourer.conf.new"
	fi
fi

# -Ddevourer_link=false leaves the link out (next to the Go tool's own).
step nolink-config timeout 300 meson configure "$tmp/build" -Ddevourer_link=false
# ninja regenerates the install list (meson configure alone does not).
step nolink-regen timeout 300 ninja -C "$tmp/build" -j "${DV_JOBS:-2}"
step nolink-install timeout 300 meson install -C "$tmp/build" --no-rebuild --destdir "$tmp/nolink"
if [ -e "$tmp/nolink/usr/bin/devourer" ] || [ -L "$tmp/nolink/usr/bin/devourer" ]; then
	fail "with -Ddevourer_link=false, /usr/bin/devourer is installed all the same"
elif [ ! -f "$tmp/nolink/usr/bin/dpdk-devourer" ]; then
	fail "with -Ddevourer_link=false, /usr/bin/dpdk-devourer is not installed"
else
	echo "ok: with -Ddevourer_link=false only dpdk-devourer is installed"
fi

if [ $failures -gt 0 ]; then
	echo "install: $failures failure(s)"
	exit 1
fi
echo "install: pass"
exit 0
