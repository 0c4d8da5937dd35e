#!/usr/bin/env bash
# link_shims: frames behind the link shims the parser reads (issue 16, first
# step): MPLS label stacks (two labels, and under a VLAN tag), a PPPoE
# session (IPv6/TCP both ways, and PPP's own LCP, which carries no IP), an
# MPLS pseudowire (not read: non-IP) and a stack cut short (malformed). The
# capture is written here; replay.py compares the program's rows and counters
# with tshark's view of the same bytes (tests/expect_tshark.py), with 1 and 2
# workers.   link_shims.sh PROGRAM
set -euo pipefail
prog=${1:?usage: link_shims.sh PROGRAM}
here=$(cd "$(dirname "$0")" && pwd)
command -v tshark >/dev/null || { echo "link_shims: skipped: tshark not installed"; exit 77; }
dir=$(mktemp -d /tmp/dv-shims.XXXXXX)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/shims.pcap" <<'PY'
import struct, sys

def ip4(src, dst, proto, payload):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       bytes(src), bytes(dst)) + payload

def udp(sp, dp, n=4):
    return struct.pack("!HHHH", sp, dp, 8 + n, 0) + b"z" * n

def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload

def tcp(sp, dp, flags):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 5 << 4, flags, 65535, 0, 0)

def eth(t):
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02" + struct.pack("!H", t)

def pppoe(payload, proto):
    return struct.pack("!BBHHH", 0x11, 0, 0x1234, len(payload) + 2, proto) + payload

a, b = [10, 1, 1, 1], [10, 2, 2, 2]
s6, d6 = bytes(range(16)), bytes(range(16, 32))
stack = struct.pack("!II", 100 << 12 | 64, 200 << 12 | 1 << 8 | 64)
frames = [
    eth(0x8847) + stack + ip4(a, b, 17, udp(1111, 53)),
    eth(0x8847) + stack + ip4(b, a, 17, udp(53, 1111, 20)),
    eth(0x8864) + pppoe(ip6(s6, d6, 6, tcp(40000, 443, 0x02)), 0x57),
    eth(0x8864) + pppoe(ip6(d6, s6, 6, tcp(443, 40000, 0x12)), 0x57),
    eth(0x8864) + pppoe(b"\x01\x01\x00\x04", 0xc021),
    eth(0x8100) + struct.pack("!HH", 7, 0x8847) + stack + ip4(a, b, 17, udp(2222, 53)),
    eth(0x8847) + struct.pack("!II", 300 << 12 | 1 << 8 | 64, 0) + b"\0" * 40,
    eth(0x8847) + struct.pack("!HB", 100, 0x10),
]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
PY
# The capture must hold what this test is about, as tshark sees it.
flows=$(python3 "$here/../expect_tshark.py" "$dir/shims.pcap" | tail -1)
echo "tshark: $flows"
for want in " ip=5 " " non_ip=2 " " malformed=1 " " flows=3"; do
	case "$flows " in *"$want"*) ;; *) echo "link_shims: FAIL: unexpected capture (no$want)"; exit 1 ;; esac
done
for w in 1 2; do
	python3 "$here/replay.py" --pcaps "$dir" --cache '' "$prog" --workers "$w" | tail -1 |
		tee "$dir/out"
	grep -q "captures=1 ok=1 mismatched=0" "$dir/out" || { echo "link_shims: FAIL with $w worker(s)"; exit 1; }
done
echo "link_shims: pass (MPLS, PPPoE, VLAN+MPLS flows equal tshark's, 1 and 2 workers)"
