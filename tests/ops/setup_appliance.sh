#!/usr/bin/env bash
# setup_appliance: scripts/setup-appliance checks before it acts and a dry run
# changes nothing.
#  1. On this machine, --dry-run prints the plan and exits 0, and hugepages
#     and PCI driver bindings are the same afterwards.
#  2. --dry-run --nic 0000:ff:1f.7 (no such device) prints one error line
#     naming the address and exits non-zero, printing no plan.
#  3. Against a fake sysfs tree (SETUP_APPLIANCE_SYSFS), with stub DPDK tools
#     and modprobe that record every call: an interface that is up, a missing
#     IOMMU, a non-network device are each one clear error; a good NIC gives a
#     plan that binds it, an mlx5 port is left on its kernel driver; a dry
#     run never calls anything that changes state.
# Exit: 0 pass, 1 fail.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
script=$root/scripts/setup-appliance
tmp=$(mktemp -d /tmp/ops-setup-appliance.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# run NAME ARGS...: run the script, keep stdout, stderr and status.
run()
{
	local name=$1
	shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
lines() { grep -c . "$tmp/$1.$2"; }

# What a run without --dry-run would change: pages reserved (not free pages,
# which any DPDK process on the machine moves), hugetlbfs mounts, drivers.
state()
{
	grep -E '^HugePages_Total' /proc/meminfo
	cat /sys/kernel/mm/hugepages/hugepages-*/nr_hugepages 2>/dev/null
	grep -w hugetlbfs /proc/mounts | sort
	for d in /sys/bus/pci/devices/*; do
		echo "$(basename "$d") $(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)"
	done
}

# --- 1. the plan on this machine ---------------------------------------------
state >"$tmp/before"
run plan "$script" --dry-run
state >"$tmp/after"
if [ "$(rc plan)" -ne 0 ]; then
	fail "--dry-run exited $(rc plan): $(cat "$tmp/plan.err")"
elif ! grep -q 'would run: dpdk-hugepages.py .*--reserve 2G' "$tmp/plan.out"; then
	fail "--dry-run printed no hugepage step"
else
	echo "ok: --dry-run exits 0 with a plan of $(lines plan out) lines:"
	sed 's/^/    | /' "$tmp/plan.out"
fi
if cmp -s "$tmp/before" "$tmp/after"; then
	echo "ok: hugepages and PCI drivers unchanged by --dry-run"
else
	fail "--dry-run changed the machine:"
	diff "$tmp/before" "$tmp/after"
fi

# --- 2. an unknown PCI address -----------------------------------------------
run unknown "$script" --dry-run --nic 0000:ff:1f.7
if [ "$(rc unknown)" -eq 0 ]; then
	fail "--nic 0000:ff:1f.7 exited 0"
elif [ "$(lines unknown err)" -ne 1 ]; then
	fail "--nic 0000:ff:1f.7 printed $(lines unknown err) error lines, want 1"
elif ! grep -q '0000:ff:1f.7.*no such PCI device' "$tmp/unknown.err"; then
	fail "--nic 0000:ff:1f.7 error does not say what is wrong: $(cat "$tmp/unknown.err")"
elif [ -s "$tmp/unknown.out" ]; then
	fail "--nic 0000:ff:1f.7 printed a plan before failing"
else
	echo "ok: --nic 0000:ff:1f.7 exits $(rc unknown) with: $(cat "$tmp/unknown.err")"
fi

# --- 3. a fake machine ---------------------------------------------------------
sys=$tmp/sys
mkdev()
{ # mkdev PCI CLASS [IFNAME FLAGS]
	local d=$sys/bus/pci/devices/$1
	mkdir -p "$d"
	echo "$2" >"$d/class"
	if [ $# -ge 4 ]; then
		mkdir -p "$d/net/$3"
		echo "$4" >"$d/net/$3/flags"
	fi
}
mkdir -p "$sys/kernel/iommu_groups"
mkdev 0000:01:00.0 0x020000 ens1f0 0x1003 # up
mkdev 0000:01:00.1 0x020000 ens1f1 0x1002 # down
mkdev 0000:02:00.0 0x010802               # NVMe
mkdev 0000:03:00.0 0x020000 ens3f0 0x1003 # mlx5, up: must stay as it is
echo 0x15b3 >"$sys/bus/pci/devices/0000:03:00.0/vendor"

# Stubs: state-changing calls are logged; only status queries may run.
mkdir -p "$tmp/bin"
for tool in dpdk-hugepages.py dpdk-devbind.py modprobe; do
	cat >"$tmp/bin/$tool" <<EOF
#!/bin/sh
case "\$*" in --status*|-s|--show) exit 0 ;; esac
echo "$tool \$*" >>"$tmp/calls"
EOF
	chmod +x "$tmp/bin/$tool"
done
fake() { SETUP_APPLIANCE_SYSFS=$sys PATH=$tmp/bin:$PATH "$script" "$@"; }

expect_error()
{ # expect_error NAME PATTERN ARGS...
	local name=$1 pattern=$2
	shift 2
	run "$name" fake "$@"
	if [ "$(rc "$name")" -eq 0 ]; then
		fail "$name: exited 0"
	elif [ "$(lines "$name" err)" -ne 1 ] || ! grep -qE -- "$pattern" "$tmp/$name.err"; then
		fail "$name: want one line matching '$pattern', got: $(cat "$tmp/$name.err")"
	else
		echo "ok: $name: exits $(rc "$name") with: $(cat "$tmp/$name.err")"
	fi
}

expect_error iface-up 'interface ens1f0 is up.*ip link set dev ens1f0 down' --dry-run --nic 0000:01:00.0
expect_error not-a-nic 'not a network controller' --dry-run --nic 02:00.0
expect_error no-iommu 'no IOMMU.*enable_unsafe_noiommu_mode' --dry-run --nic 0000:01:00.1
expect_error bad-size "--hugepages 'lots'" --dry-run --hugepages lots

mkdir -p "$sys/kernel/iommu_groups/7"
run good fake --dry-run --hugepages 1G --nic 01:00.1 --nic 0000:03:00.0
if [ "$(rc good)" -ne 0 ]; then
	fail "a down NIC with an IOMMU: exited $(rc good): $(cat "$tmp/good.err")"
elif ! grep -q 'would run: modprobe vfio-pci' "$tmp/good.out" ||
	! grep -q 'would run: dpdk-devbind.py --bind=vfio-pci 0000:01:00.1$' "$tmp/good.out" ||
	! grep -q 'would run: dpdk-hugepages.py --reserve 1G --mount' "$tmp/good.out" ||
	! grep -q '0000:03:00.0 is an mlx5 .*stays on mlx5_core' "$tmp/good.out"; then
	fail "a down NIC with an IOMMU: plan lacks a step:"
	cat "$tmp/good.out"
else
	echo "ok: a down NIC (given as 01:00.1) and an mlx5 port with an IOMMU give the plan:"
	sed 's/^/    | /' "$tmp/good.out"
fi

if [ -e "$tmp/calls" ]; then
	fail "a dry run called state-changing commands:"
	cat "$tmp/calls"
else
	echo "ok: no dry run called modprobe, dpdk-devbind.py --bind or dpdk-hugepages.py --reserve"
fi

if [ $failures -gt 0 ]; then
	echo "setup_appliance: $failures failure(s)"
	exit 1
fi
echo "setup_appliance: pass"
exit 0
