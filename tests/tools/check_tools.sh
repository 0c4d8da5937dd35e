#!/usr/bin/env bash
# Checks the fixture tools against tshark/capinfos (independent decoders):
#   check_tools.sh SAMPLE.pcap SPLIT_DIRS GEN_BENCH
# - every frame of the sample but the deliberately truncated one decodes with
#   good IPv4/TCP/UDP/ICMP/ICMPv6 checksums and no expert error;
# - split_dirs puts each side of every address pair in one file (30 frames
#   from initiators, 18 from responders: counted by hand from gen_sample.c);
# - gen_bench writes the asked number of 64-byte frames over the asked flows.
set -u
sample=$1 split=$2 bench=$3
for t in tshark capinfos; do
	command -v $t >/dev/null || { echo "check_tools: SKIP: $t not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name expected actual
	if [ "$2" = "$3" ]; then echo "ok   $1 = $3"; else echo "FAIL $1: expected $2, got $3"; fail=1; fi
}
ts() { tshark -n -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-o udp.check_checksum:TRUE -o ip.defragment:FALSE -o ipv6.defragment:FALSE "$@" 2>/dev/null; }

check "sample frames" 48 "$(capinfos -T -M -c -r "$sample" | cut -f2)"
# Checksum status 0 is "Bad"; 1 "Good". Count the bad ones and the good ones.
bad=$(ts -r "$sample" -T fields -E occurrence=a -E aggregator=' ' -e ip.checksum.status \
	-e tcp.checksum.status -e udp.checksum.status -e icmp.checksum.status \
	-e icmpv6.checksum.status | tr '\t ' '\n\n' | grep -c '^0$')
check "bad checksums" 0 "$bad"
good=$(ts -r "$sample" -T fields -E occurrence=a -E aggregator=' ' -e ip.checksum.status \
	-e tcp.checksum.status -e udp.checksum.status -e icmp.checksum.status \
	-e icmpv6.checksum.status | tr '\t ' '\n\n' | grep -c '^1$')
# 37 IPv4 headers (all IPv4 frames but the truncated one), 30 TCP segments,
# 7 UDP datagrams (3 DNS, 2 VLAN, 2 QinQ; the first fragments' UDP checksums cover
# data in later fragments, so tshark leaves them unverified without
# reassembly), 2 ICMP and 2 ICMPv6 messages.
check "good checksums" 78 "$good"
errs=$(ts -r "$sample" -Y '_ws.expert.severity == error' -T fields -e frame.number | tr '\n' ' ')
check "frames with expert errors" "47 " "$errs"

"$split" "$sample" "$tmp/a.pcap" "$tmp/b.pcap" >/dev/null || fail=1
check "split A frames" 30 "$(capinfos -T -M -c -r "$tmp/a.pcap" | cut -f2)"
check "split B frames" 18 "$(capinfos -T -M -c -r "$tmp/b.pcap" | cut -f2)"
# Responders are 192.0.2.0/24, 10.1.0.2, 10.2.0.2 and 2001:db8::2.
resp='ip.src == 192.0.2.0/24 || ip.src == 10.1.0.2 || ip.src == 10.2.0.2 || ipv6.src == 2001:db8::2'
check "responder frames in A" 0 "$(ts -r "$tmp/a.pcap" -Y "$resp" | wc -l)"
check "initiator frames in B" 18 "$(ts -r "$tmp/b.pcap" -Y "$resp" | wc -l)"

"$bench" "$tmp/bench.pcap" 5000 37 >/dev/null || fail=1
check "bench frames" 5000 "$(capinfos -T -M -c -r "$tmp/bench.pcap" | cut -f2)"
check "bench frame sizes" 64 "$(ts -r "$tmp/bench.pcap" -T fields -e frame.len | sort -u | tr '\n' ' ' | sed 's/ $//')"
check "bench flows" 37 "$(ts -r "$tmp/bench.pcap" -T fields -e ip.src -e udp.srcport \
	-e ip.dst -e udp.dstport | awk '{a=$1":"$2; b=$3":"$4; print (a<b) ? a" "b : b" "a}' |
	sort -u | wc -l)"
exit $fail
