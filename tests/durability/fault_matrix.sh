#!/usr/bin/env bash
# Durability fault matrix (issue 5): see fault_matrix.py. Usage:
#   fault_matrix.sh PROGRAM [SCENARIO...]
# Makes a network namespace with a veth pair (dva: the program's port, dvb:
# the traffic sender's) and loopback, and runs the matrix in it against the
# BigQuery double (tests/bq/run-double.sh). Needs root (namespaces, tmpfs
# mount), iproute2, editcap, dpdk-telemetry.py and ../shared/pcaps; exit 77
# (skipped) without them. The namespace is removed at exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prog=${1:?usage: fault_matrix.sh PROGRAM [SCENARIO...]}
shift
skip() { echo "fault_matrix: skipped: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespace, tmpfs mount)"
for t in ip editcap capinfos dpdk-telemetry.py python3 openssl; do
	command -v "$t" >/dev/null || skip "$t not installed"
done
[ -d "$here/../../../shared/pcaps" ] || skip "no ../shared/pcaps"
[ -x "$prog" ] || { echo "fault_matrix: $prog is not executable"; exit 1; }
ns=dvdur-$$
cleanup() { ip netns del "$ns" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ip netns add "$ns" || skip "cannot create a network namespace"
ip netns exec "$ns" sh -ec '
	ip link set lo up
	ip link add dva type veth peer name dvb
	# MTU 1500: the af_packet PMD cuts frames over 1982 bytes (docs/operations.md),
	# and the replay skips frames over MTU + 14, so every frame sent is counted whole
	for i in dva dvb; do ip link set $i mtu 1500; ip link set $i up; done
	# no IPv6 chatter of our own on the wire: only the replayed captures
	sysctl -qw net.ipv6.conf.dva.disable_ipv6=1 net.ipv6.conf.dvb.disable_ipv6=1
' || skip "cannot set up veth in the namespace"
ip netns exec "$ns" "$here/../bq/run-double.sh" python3 "$here/fault_matrix.py" "$prog" "$@"
