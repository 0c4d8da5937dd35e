#!/usr/bin/env python3
"""expect_tshark: the flow totals a capture should produce, derived from tshark.

    expect_tshark.py [--json] CAPTURE

This is the independent side of the replay test: it never runs dpdk-devourer.
tshark decodes every frame (with IP reassembly off, so each fragment is its
own frame) and this script applies SPEC section 2 to tshark's fields:

- key = (IP protocol number, outer VLAN id or None, unordered endpoint pair),
  endpoint = (address in RFC 5952 / dotted form, port);
- value = packets and bytes (frame.len) sent by each endpoint;
- the outer IP header is the first IPv4/IPv6 header of the frame, reached from
  the link layer only through Ethernet II / 802.1Q / 802.1ad tags (or Linux
  cooked, raw IP, BSD loopback) and the link shims MPLS and PPPoE session;
  anything else in between (LLC, a pseudowire) makes the frame non-IP, as it
  is for the program;
- the IP protocol is the outer header's, after IPv6 extension headers
  (hop-by-hop, routing, fragment, destination options);
- ports only for TCP, UDP and SCTP that are not a later fragment, taken from
  the first (outer) transport header; tunnels and ICMP errors carry inner
  headers that must not count;
- a later fragment (IPv4 offset > 0, or IPv6 fragment header offset > 0)
  takes the ports of the first fragment with the same source, destination,
  protocol and IP id if that was seen before it, else ports 0;
- frames whose link, outer IP or transport header is truncated or invalid
  are malformed and make no flow (see MALFORMED RULES below).

Output: one line per key, `proto vlan addr1 port1 addr2 port2 pkts1 bytes1
pkts2 bytes2` with endpoint 1 < endpoint 2, then a `# frames=...` summary; or
with --json, {"flows": [...], "frames": N, "ip": N, "non_ip": N,
"malformed": N}. replay.py imports expect() directly.
"""

import ipaddress
import json
import subprocess
import sys

# Link-layer and tag protocols tshark may list before the outer IP header for
# frames the program parses (SPEC section 2). Anything else before the first
# ip/ipv6 makes the frame non-IP.
LINK_PROTOS = {"eth", "ethertype", "vlan", "ieee8021ad", "sll", "raw", "null", "loop",
               "mpls", "pppoes", "ppp"}
IPV6_EXT = ("ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts")
PORT_PROTOS = {6: "tcp", 17: "udp", 132: "sctp"}

# Field names in output order; the parser below indexes by name.
FIELDS = [
    "frame.number", "frame.len", "frame.cap_len", "frame.encap_type", "frame.protocols",
    "eth.type", "vlan.id", "vlan.etype", "ieee8021ad.id", "sll.etype", "sll.ifindex",
    "null.family", "mpls.label", "ppp.protocol",
    "ip.src", "ip.dst", "ip.proto", "ip.id", "ip.flags.mf", "ip.frag_offset",
    "ip.hdr_len", "ip.len",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen",
    "ipv6.hopopts.nxt", "ipv6.routing.nxt", "ipv6.fraghdr.nxt", "ipv6.dstopts.nxt",
    "ipv6.hopopts.len", "ipv6.routing.len", "ipv6.dstopts.len",
    "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
    "tcp.srcport", "tcp.dstport", "tcp.hdr_len",
    "udp.srcport", "udp.dstport",
    "sctp.srcport", "sctp.dstport",
]

# MALFORMED RULES. tshark's fields give each header's length fields; the
# byte arithmetic on them is done here, as SPEC section 2 asks: a frame is
# malformed when its link header, its outer IP header (IPv4 with options,
# IPv6 with its extension headers) or, for TCP/UDP/SCTP that is not a later
# fragment, the fixed transport header (TCP 20 bytes with a data offset of
# at least 5, UDP 8, SCTP 12) does not fit in the captured bytes and in the
# packet as its IP length field declares it. A length field of 0 (TSO / BIG
# TCP) or one longer than the capture (snap length) leaves the capture as the
# bound. A frame whose link layer announces IPv4/IPv6 but does not carry a
# readable IP header is malformed too, not non-IP. ICMP and other protocols
# without ports are not checked beyond the IP header.
TRANSPORT_FIXED = {6: 20, 17: 8, 132: 12}
IP_ETHERTYPES = {0x0800, 0x86dd}
NULL_IP_FAMILIES = {2, 10, 23, 24, 26, 28, 30}  # AF_INET and the BSDs' AF_INET6 values
RAW_IP_ENCAPS = {7, 129, 130}  # wiretap's RAW_IP, RAW_IP4, RAW_IP6: the frame is the IP header


def tshark_rows(capture):
    """Yield one dict per frame: field name -> list of occurrences."""
    cmd = ["tshark", "-n", "-r", capture, "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
           "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           # Sequence analysis and reassembly only cost time here.
           "-o", "tcp.analyze_sequence_numbers:FALSE",
           "-o", "tcp.desegment_tcp_streams:FALSE"]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("tshark failed on %s: %s" % (capture, proc.stderr.strip()))
    for line in proc.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        yield {name: (val.split(",") if val else []) for name, val in zip(FIELDS, cols)}


def first(row, name, default=None):
    vals = row[name]
    return vals[0] if vals else default


def num(text):
    return int(text, 0) if text else 0


def norm_addr(text):
    return ipaddress.ip_address(text).compressed


def link_layer(row, protos):
    """Walk the link-layer part of the chain. Returns (index of the outer
    ip/ipv6 or None, link header length, whether the link layer announced IP)."""
    length = 0
    announced = 0x0800 if num(first(row, "frame.encap_type")) in RAW_IP_ENCAPS else None
    vlans = 0
    for i, p in enumerate(protos):
        if p in ("ip", "ipv6"):
            return i, length, True
        if p not in LINK_PROTOS:
            break
        if p == "eth":
            length += 14
            announced = num(first(row, "eth.type"))
        elif p == "sll":
            length += 20 if row["sll.ifindex"] else 16
            announced = num(first(row, "sll.etype"))
        elif p in ("null", "loop"):
            length += 4
            announced = 0x0800 if num(first(row, "null.family")) in NULL_IP_FAMILIES else None
        elif p == "raw":
            announced = 0x0800  # raw IP: whatever follows was meant to be IP
        elif p == "vlan":
            length += 4
            etypes = row["vlan.etype"]
            announced = num(etypes[vlans]) if vlans < len(etypes) else None
            vlans += 1
        elif p == "ieee8021ad":
            length += 4
            announced = None  # tshark gives no field for the type behind an S-tag
        # Link shims (issue 16): the program reads the IP packet an MPLS stack
        # or a PPPoE session carries; what they carry is announced only by the
        # payload itself (MPLS) or the PPP protocol field.
        elif p == "mpls":
            length += 4 * max(1, len(row["mpls.label"]))
            announced = None
        elif p == "pppoes":
            length += 6
            announced = None
        elif p == "ppp":
            length += 2
            announced = {0x21: 0x0800, 0x57: 0x86dd}.get(num(first(row, "ppp.protocol")))
    return None, length, announced in IP_ETHERTYPES


def outer_vlan(row, protos, ip_at):
    """Outer VLAN id: the first tag in the chain, 802.1Q or 802.1ad."""
    for p in protos[:ip_at]:
        if p == "vlan":
            return num(first(row, "vlan.id"))
        if p == "ieee8021ad":
            return num(first(row, "ieee8021ad.id"))
    return None


def ipv6_walk(row, protos, ip_at, off, end):
    """Follow the outer IPv6 header's extension headers. Returns (protocol,
    transport offset, fragment header index or None), or None if an extension
    header does not fit. The outer header's extension headers follow it
    directly in the chain, and their fields are the first occurrences of each
    kind."""
    proto = num(first(row, "ipv6.nxt"))
    pos = off + 40
    seen = {}
    frag_idx = None
    for p in protos[ip_at + 1:]:
        if not p.startswith("ipv6."):
            break
        if p not in IPV6_EXT:
            continue  # a sub-protocol such as ipv6.routing.type.srh
        idx = seen.get(p, 0)
        seen[p] = idx + 1
        nxt = row[p + ".nxt"]
        if p == "ipv6.fraghdr":
            size = 8
            frag_idx = idx
        else:
            lens = row[p + ".len"]
            if idx >= len(lens):
                return None
            size = (num(lens[idx]) + 1) * 8
        if idx >= len(nxt) or pos + size > end:
            return None
        proto = num(nxt[idx])
        pos += size
    return proto, pos, frag_idx


class Expectation:
    def __init__(self):
        self.flows = {}  # (proto, vlan, ep_lo, ep_hi) -> {ep: [pkts, bytes]}
        self.frames = self.ip = self.non_ip = self.malformed = 0
        self.frag_ports = {}  # (src, dst, proto, id) -> (sport, dport)

    def add(self, proto, vlan, src, dst, length):
        lo, hi = sorted([src, dst], key=ep_sort_key)
        per_ep = self.flows.setdefault((proto, vlan, lo, hi), {})
        c = per_ep.setdefault(src, [0, 0])
        c[0] += 1
        c[1] += length


def ep_sort_key(ep):
    addr = ipaddress.ip_address(ep[0])
    return (addr.version, addr.packed, ep[1])


def account(exp, row):
    exp.frames += 1
    length = num(first(row, "frame.len"))
    cap = num(first(row, "frame.cap_len"))
    protos = (first(row, "frame.protocols") or "").split(":")
    ip_at, off, announced_ip = link_layer(row, protos)
    if ip_at is None:
        if announced_ip or cap < off:
            exp.malformed += 1  # IP ethertype without a readable IP header, or cut link header
        else:
            exp.non_ip += 1
        return
    vlan = outer_vlan(row, protos, ip_at)
    avail = cap - off
    frag_id = None
    later = first_frag = False
    if protos[ip_at] == "ip":
        src, dst = first(row, "ip.src"), first(row, "ip.dst")
        hlen, tot = num(first(row, "ip.hdr_len")), num(first(row, "ip.len"))
        if (src is None or dst is None or first(row, "ip.proto") is None or avail < 20
                or hlen < 20 or hlen > avail or (tot and tot < hlen)):
            exp.malformed += 1
            return
        end = off + tot if 0 < tot < avail else cap
        l4 = off + hlen
        proto = num(first(row, "ip.proto"))
        offset = num(first(row, "ip.frag_offset"))
        mf = num(first(row, "ip.flags.mf"))
        if offset or mf:
            frag_id = num(first(row, "ip.id"))
            later, first_frag = offset > 0, offset == 0
    else:
        src, dst = first(row, "ipv6.src"), first(row, "ipv6.dst")
        plen = num(first(row, "ipv6.plen"))
        if src is None or dst is None or first(row, "ipv6.nxt") is None or avail < 40:
            exp.malformed += 1
            return
        end = off + 40 + plen if 0 < plen < avail - 40 else cap
        walked = ipv6_walk(row, protos, ip_at, off, end)
        if walked is None:
            exp.malformed += 1  # extension header cut short
            return
        proto, l4, fidx = walked
        if fidx is not None:
            offset = num(row["ipv6.fraghdr.offset"][fidx])
            more = num(row["ipv6.fraghdr.more"][fidx])
            if offset or more:
                frag_id = num(row["ipv6.fraghdr.ident"][fidx])
                later, first_frag = offset > 0, offset == 0
    src, dst = norm_addr(src), norm_addr(dst)
    sport = dport = 0
    name = PORT_PROTOS.get(proto)
    if name and not later:
        if l4 + TRANSPORT_FIXED[proto] > end or (proto == 6 and
                                                 num(first(row, "tcp.hdr_len")) < 20):
            exp.malformed += 1  # transport header truncated or invalid
            return
        sport = num(first(row, name + ".srcport"))
        dport = num(first(row, name + ".dstport"))
    if frag_id is not None:
        fkey = (src, dst, proto, frag_id)
        if first_frag:
            exp.frag_ports[fkey] = (sport, dport)
        else:
            sport, dport = exp.frag_ports.get(fkey, (0, 0))
    exp.ip += 1
    exp.add(proto, vlan, (src, sport), (dst, dport), length)


def expect(capture):
    exp = Expectation()
    for row in tshark_rows(capture):
        account(exp, row)
    return exp


def flow_list(exp):
    """Flows as sorted plain lists (for JSON and printing)."""
    out = []
    for (proto, vlan, lo, hi), per_ep in sorted(
            exp.flows.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or 0,
                                               ep_sort_key(kv[0][2]), ep_sort_key(kv[0][3]))):
        a = per_ep.get(lo, [0, 0])
        b = per_ep.get(hi, [0, 0]) if hi != lo else [0, 0]
        out.append([proto, vlan, lo[0], lo[1], hi[0], hi[1], a[0], a[1], b[0], b[1]])
    return out


def main(argv):
    args = [a for a in argv[1:] if a != "--json"]
    if len(args) != 1:
        print("usage: expect_tshark.py [--json] CAPTURE", file=sys.stderr)
        return 2
    exp = expect(args[0])
    flows = flow_list(exp)
    if "--json" in argv:
        json.dump({"flows": flows, "frames": exp.frames, "ip": exp.ip,
                   "non_ip": exp.non_ip, "malformed": exp.malformed}, sys.stdout)
        print()
        return 0
    for f in flows:
        print(" ".join("-" if v is None else str(v) for v in f))
    print("# frames=%d ip=%d non_ip=%d malformed=%d flows=%d"
          % (exp.frames, exp.ip, exp.non_ip, exp.malformed, len(flows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
