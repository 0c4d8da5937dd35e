#!/usr/bin/env python3
"""expect_tshark: the flow totals a capture should produce, derived from tshark.

    expect_tshark.py [--json] [--decap on|off] [--vxlan-ports L] [--vxlan-gpe-ports L]
                     [--geneve-ports L] [--gtpu-ports L] CAPTURE

This is the independent side of the replay test: it never runs dpdk-devourer.
tshark decodes every frame (with IP reassembly off, so each fragment is its
own frame) and this script applies SPEC section 2 and the decapsulation
rules of issue 16 (docs/tunnels semantics, notes/tunnel-semantics.md) to
tshark's fields:

- key = (IP protocol number, VLAN id or None, VNI or None, unordered endpoint
  pair), endpoint = (address in RFC 5952 / dotted form, port);
- value = packets and bytes sent by each endpoint;
- the IP protocol is the header's, after IPv6 extension headers (hop-by-hop,
  routing, fragment, destination options); ports only for TCP, UDP and SCTP
  that are not a later fragment; ICMP errors carry inner headers that must
  not count;
- a later fragment (IPv4 offset > 0, or IPv6 fragment header offset > 0)
  takes the ports of the first fragment with the same source, destination,
  protocol and IP id if that was seen before it, else ports 0;
- frames whose link, IP or transport header is truncated or invalid are
  malformed and make no flow (see MALFORMED RULES below).

--decap off (decap=False) is the program before issue 16: the IP header is
the first one of the frame, reached from the link layer only through
Ethernet II / 802.1Q / 802.1ad tags (or Linux cooked, raw IP, BSD loopback);
anything else before it (MPLS, PPPoE, FabricPath, LLC) makes the frame
non-IP, and a tunnel is the outer flow. That path reads tshark's field
export (`-T fields`), first occurrences, as it always did.

--decap on (the default) walks to the INNERMOST IP header. A frame whose
fields show anything that can be decapsulated (an MPLS/PPPoE/FabricPath
ethertype, IP protocol 4, 41 or 47, a UDP destination port of an overlay, or
a tunnel layer tshark decoded) is decoded again as PDML, where every layer
has its byte position and size, and walked layer by layer (Walk below):
link shims (MPLS, PPPoE session, FabricPath), IP-in-IP, GRE (IP, MPLS,
Ethernet, NVGRE, ERSPAN I/II/III), VXLAN, VXLAN-GPE, Geneve and GTP-U, each
a decap step (more than 8: malformed and decap_depth); outer fragments are
not decapsulated; the header fields come from tshark's layers (flags,
versions, protocol types, VNIs, option and extension lengths), the byte
arithmetic on them (does a header fit in the captured bytes and in the
enclosing IP packet) is done here. Ethernet type and tag words and the
version nibble of an IP packet announced only by its first nibble are read
from the captured bytes at the position the layers give. Overlay ports are
tshark `-d udp.port==P,DISSECTOR` decode-as rules, so 8472 is VXLAN too. A
tunnel the rules say to follow but tshark did not decode (e.g. a UDP length
of 0 stops tshark's UDP dissector: BIG TCP captures) is decoded a second
time from its payload alone, wrapped in a synthetic Ethernet/IPv4/UDP frame
tshark reads (redecode()); a frame still not decodable is counted
`undecoded` with its reason and makes no flow here.
- VLAN: the first tag of the innermost carried Ethernet frame (tunnels that
  carry Ethernet: ERSPAN, VXLAN, Geneve/VXLAN-GPE with Ethernet, NVGRE, GRE
  0x6558; None if it is untagged), else the wire frame's first tag;
- VNI: the innermost VXLAN / VXLAN-GPE (I flag) / Geneve / NVGRE id;
- bytes: after an Ethernet-carrying tunnel, the carried frame's length =
  the end of the IP packet enclosing it by its length field (0: the wire
  end) minus the carried frame's offset; else frame.len;
- per key, the tunnel columns of each packet (kinds, tunnel_id, outermost
  IP tunnel endpoints as sent) are kept, so a row's columns can be checked.

Output: one line per key, `proto vlan vni addr1 port1 addr2 port2 pkts1
bytes1 pkts2 bytes2` with endpoint 1 < endpoint 2, then a `# frames=...`
summary; or with --json, {"flows": [...], "tunnels": {...}, "frames": N,
"ip": N, "non_ip": N, "malformed": N, "decap_depth": N, "tunnelled": N,
"undecoded": [...]}. replay.py imports expect() directly.
"""

import ipaddress
import json
import os
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# Link-layer and tag protocols tshark may list before the outer IP header for
# frames the program parses (SPEC section 2). Anything else before the first
# ip/ipv6 makes the frame non-IP. (The shims mpls/pppoes/ppp are read by the
# walk, never by this list: with --decap off they are non-IP.)
LINK_PROTOS = {"eth", "ethertype", "vlan", "ieee8021ad", "sll", "raw", "null", "loop"}
IPV6_EXT = ("ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts")
PORT_PROTOS = {6: "tcp", 17: "udp", 132: "sctp"}

# Overlay ports (the program's --vxlan-ports etc.) and tshark's dissector for each.
DEFAULT_PORTS = {"vxlan": (4789, 8472), "vxlan-gpe": (4790,), "geneve": (6081,),
                 "gtpu": (2152,)}
DISSECTOR = {"vxlan": "vxlan", "vxlan-gpe": "vxlan_gpe", "geneve": "geneve", "gtpu": "gtp"}
MAX_DEPTH = 8
MAX_LABELS = 16
SHIM_ETYPES = {0x8847, 0x8848, 0x8864, 0x8903}
TAG_ETYPES = {0x8100, 0x88a8, 0x9100}
TUNNEL_PROTOS = {4, 41, 47}
# Layers tshark names for something the walk may decapsulate.
WALK_LAYERS = {"mpls", "pppoes", "ppp", "cfp", "gre", "erspan", "vxlan", "vxlan_gpe", "geneve",
               "gtp", "nvgre"}

# Field names in output order; the parser below indexes by name.
FIELDS = [
    "frame.number", "frame.len", "frame.cap_len", "frame.encap_type", "frame.protocols",
    "eth.type", "vlan.id", "vlan.etype", "ieee8021ad.id", "sll.etype", "sll.ifindex",
    "null.family",
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
# malformed when its link header, its IP header (IPv4 with options,
# IPv6 with its extension headers) or, for TCP/UDP/SCTP that is not a later
# fragment, the fixed transport header (TCP 20 bytes with a data offset of
# at least 5, UDP 8, SCTP 12) does not fit in the captured bytes and in the
# packet as its IP length field declares it. A length field of 0 (TSO / BIG
# TCP) or one longer than the capture (snap length) leaves the capture as the
# bound. A frame whose link layer announces IPv4/IPv6 but does not carry a
# readable IP header is malformed too, not non-IP. ICMP and other protocols
# without ports are not checked beyond the IP header. With --decap on, a
# tunnel or shim header (and what it carries) must fit in the enclosing IP
# packet the same way (its length field, else the capture), and each one's
# version/flag rules hold (Walk).
TRANSPORT_FIXED = {6: 20, 17: 8, 132: 12}
IP_ETHERTYPES = {0x0800, 0x86dd}
NULL_IP_FAMILIES = {2, 10, 23, 24, 26, 28, 30}  # AF_INET and the BSDs' AF_INET6 values
RAW_IP_ENCAPS = {7, 129, 130}  # wiretap's RAW_IP, RAW_IP4, RAW_IP6: the frame is the IP header
TSHARK_OPTS = ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
               # Sequence analysis and reassembly only cost time here.
               "-o", "tcp.analyze_sequence_numbers:FALSE",
               "-o", "tcp.desegment_tcp_streams:FALSE",
               # An IPv6 payload length of 0 (BIG TCP / GSO) means "up to the
               # end of the capture", as it does for the program (with
               # --decap on or off); without this tshark stops at the
               # transport header behind it: no ports, no overlay.
               "-o", "ipv6.tso_support:TRUE"]
DECAP_OPTS = []


def decode_as(ports):
    """tshark decode-as rules for the overlay ports."""
    args = []
    for kind, plist in sorted(ports.items()):
        for p in plist:
            args += ["-d", "udp.port==%d,%s" % (p, DISSECTOR[kind])]
    return args


def tshark_rows(capture, extra=()):
    """Yield one dict per frame: field name -> list of occurrences."""
    cmd = ["tshark", "-n", "-r", capture, "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"] + TSHARK_OPTS
    cmd += list(extra)
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


# A packet's tunnel columns: (tunnel kinds or None, tunnel_id, tunnel_src_addr, tunnel_dst_addr).
PLAIN = (None, None, None, None)


class Expectation:
    def __init__(self):
        self.flows = {}  # (proto, vlan, vni, ep_lo, ep_hi) -> {ep: [pkts, bytes]}
        self.tunnels = {}  # same key -> set of PLAIN-like tuples its packets had
        self.frames = self.ip = self.non_ip = self.malformed = 0
        self.decap_depth = self.tunnelled = self.bad_tunnel = 0
        self.undecoded = []  # (frame number, reason): frames the oracle cannot judge
        self.frag_ports = {}  # (src, dst, proto, id) -> (sport, dport)

    def add(self, proto, vlan, vni, src, dst, length, cols):
        lo, hi = sorted([src, dst], key=ep_sort_key)
        key = (proto, vlan, vni, lo, hi)
        per_ep = self.flows.setdefault(key, {})
        c = per_ep.setdefault(src, [0, 0])
        c[0] += 1
        c[1] += length
        self.tunnels.setdefault(key, set()).add(cols)


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
    exp.add(proto, vlan, None, (src, sport), (dst, dport), length, PLAIN)


# ---------------------------------------------------------------- PDML layers

class Layer:
    """One top-level protocol of a PDML packet: name, byte position and size,
    and its fields (show strings, in document order). Protocols tshark nests
    inside it (an ICMP error's inner IP) are left out, except IPv6 extension
    headers, kept in `exts` as (name, fields) in order."""

    def __init__(self, elem):
        self.name = elem.get("name")
        self.pos = int(elem.get("pos", "-1"))
        self.size = int(elem.get("size", "0"))
        self.fields = {}
        self.exts = []
        self._collect(elem, self.fields)

    def _collect(self, elem, into):
        for child in elem:
            if child.tag == "field":
                name = child.get("name")
                if name:
                    into.setdefault(name, []).append(child.get("show", ""))
                self._collect(child, into)
            elif child.tag == "proto" and (child.get("name") or "") in IPV6_EXT:
                ext = {}
                self._collect(child, ext)
                self.exts.append((child.get("name"), ext))

    def get(self, name, default=None):
        vals = self.fields.get(name)
        return vals[0] if vals else default

    def num(self, name, default=None):
        v = self.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v, 0)
        except ValueError:
            return default


class Packet:
    def __init__(self, elem):
        self.layers = []
        self.number = self.wire = self.cap = self.encap = 0
        for proto in elem.findall("proto"):
            name = proto.get("name") or ""
            if name == "frame":
                fr = Layer(proto)
                self.number = fr.num("frame.number", 0)
                self.wire = fr.num("frame.len", 0)
                self.cap = fr.num("frame.cap_len", 0)
                self.encap = fr.num("frame.encap_type", 0)
            elif name not in ("geninfo", "fake-field-wrapper") and not name.startswith("_ws."):
                self.layers.append(Layer(proto))

    def at(self, pos, names):
        for ly in self.layers:
            if ly.pos == pos and ly.name in names:
                return ly
        return None


def pdml_packets(capture, numbers, extra=()):
    """{frame number: Packet} for the given frames (all if numbers is None)."""
    cmd = ["tshark", "-n", "-r", capture, "-T", "pdml"] + TSHARK_OPTS + list(extra)
    if numbers is not None and len(numbers) <= 2000:
        cmd += ["-Y", "frame.number in {%s}" % ",".join(str(n) for n in sorted(numbers))]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise RuntimeError("tshark -T pdml failed on %s: %s" %
                               (capture, proc.stderr.decode(errors="replace").strip()))
        out.seek(0)
        pkts = {}
        for _, elem in ET.iterparse(out, events=("end",)):
            if elem.tag == "packet":
                p = Packet(elem)
                if numbers is None or p.number in numbers:
                    pkts[p.number] = p
                elem.clear()
        return pkts


# ------------------------------------------------------------- captured bytes

def raw_frames(capture, numbers):
    """{frame number: captured bytes} read straight from a pcap or pcapng file
    (no decoding: the walk peeks at ethertype words and IP version nibbles
    at positions tshark's layers give)."""
    frames = {}
    with open(capture, "rb") as f:
        data = f.read()
    magic = data[:4]
    n = 0
    if magic == b"\x0a\x0d\x0d\x0a":
        pos, endian = 0, "<"
        while pos + 12 <= len(data):
            btype = struct.unpack_from(endian + "I", data, pos)[0]
            if btype == 0x0a0d0d0a:
                endian = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
            if blen < 12:
                break
            if btype == 6:  # enhanced packet block
                n += 1
                caplen = struct.unpack_from(endian + "I", data, pos + 20)[0]
                if n in numbers:
                    frames[n] = data[pos + 28:pos + 28 + caplen]
            elif btype == 3:  # simple packet block: the whole rest up to the padding
                n += 1
                if n in numbers:
                    orig = struct.unpack_from(endian + "I", data, pos + 8)[0]
                    frames[n] = data[pos + 12:pos + 12 + min(orig, blen - 16)]
            elif btype == 2:  # obsolete packet block
                n += 1
                caplen = struct.unpack_from(endian + "I", data, pos + 20)[0]
                if n in numbers:
                    frames[n] = data[pos + 28:pos + 28 + caplen]
            pos += blen
        return frames
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
        n += 1
        if n in numbers:
            frames[n] = data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
    return frames


# ----------------------------------------------------------------- the walk

class NonIP(Exception):
    pass


class Malformed(Exception):
    pass


class Undecoded(Exception):
    pass


class BadTunnel(Exception):
    """A tunnel header (GRE, ERSPAN, VXLAN, VXLAN-GPE, Geneve, GTP-U: found
    from an IP protocol or a UDP port, so only a guess) that is cut or
    invalid: the IP packet that carried it is the flow, counted bad_tunnel
    (semantics rule 6, changed at 17:05)."""


class Flow:
    def __init__(self, proto, src, dst, sport=0, dport=0, frag=None):
        self.proto, self.src, self.dst = proto, src, dst
        self.sport, self.dport, self.frag = sport, dport, frag  # frag: (id, later) or None


class Walk:
    """Follows one frame's layers to its innermost IP packet (issue 16's
    rules, numbered as in the semantics: 1 link, 2 shims, 3 IP, 4 tunnels,
    5 what a tunnel carries, 6 malformed). run() returns a Flow or raises
    NonIP / Malformed / Undecoded; the walk's state (VLAN, VNI, kinds, outer
    endpoints, carried frame length) is left on the object."""

    def __init__(self, pkt, raw, ports, redecode=None, max_depth=MAX_DEPTH):
        self.pkt, self.raw, self.ports = pkt, raw, ports
        self.max_depth = max_depth
        self.cap = min(pkt.cap, len(raw))
        self.redecode = redecode
        self.steps = 0
        self.kinds = []
        self.vni = None
        self.vlan = None
        self.vlan_open = True  # no tag met yet in the current Ethernet header
        self.carried = None  # length of the innermost carried Ethernet frame
        self.tsrc = self.tdst = None
        self.depth = False
        self.bad_tunnel = None  # why a tunnel header could not be read

    # -- helpers
    def u8(self, pos):
        return self.raw[pos]

    def u16(self, pos):
        return struct.unpack_from("!H", self.raw, pos)[0]

    def step(self, kind):
        self.steps += 1
        self.kinds.append(kind)
        if self.steps > self.max_depth:
            self.depth = True
            raise Malformed("more than %d decap steps" % self.max_depth)

    def tunnel_ends(self, ip):
        if self.tsrc is None:
            self.tsrc, self.tdst = ip["src"], ip["dst"]

    def layer(self, pos, names, why):
        ly = self.pkt.at(pos, names)
        if ly is None:
            ly = self.redecoded(pos, names)
        if ly is None:
            raise Undecoded("%s: tshark has no %s layer at byte %d" % (why, "/".join(names), pos))
        return ly

    def overlay_layer(self, pos, names, why):
        """The header of an overlay found by its UDP port (a guess). Where
        tshark reads none there, its dissector refused the bytes (GTP-U's
        heuristics want version 1 and PT, as the program does): the header
        is not one, the packet is the outer flow (bad_tunnel)."""
        try:
            return self.layer(pos, names, why)
        except Undecoded:
            raise BadTunnel("%s: tshark reads no such header at byte %d" % (why, pos))

    def redecoded(self, pos, names):
        if self.redecode is None:
            return None
        return self.redecode(self, pos, names)

    # -- 1. link layer
    def run(self):
        first = self.pkt.layers[0] if self.pkt.layers else None
        name = first.name if first else None
        if self.pkt.encap in RAW_IP_ENCAPS or name == "raw":
            return self.ip(0, self.cap, None)
        if name in ("eth", "cfp") and first.pos == 0:
            return self.ethernet(0, self.cap)
        if name == "sll":
            hl = 20 if first.get("sll.ifindex") is not None else 16
            et = first.num("sll.etype")
            if hl > self.cap:
                raise Malformed("cooked header cut")
            if et is None:
                raise NonIP()
            return self.ethertype(et, hl, self.cap)
        if name in ("null", "loop"):
            if 4 > self.cap:
                raise Malformed("loopback header cut")
            if first.num("null.family") not in NULL_IP_FAMILIES:
                raise NonIP()
            return self.ip(4, self.cap, None)
        raise Undecoded("link layer %s" % name)

    def ethernet(self, pos, bound):
        if pos + 14 > bound:
            raise Malformed("Ethernet header cut")
        return self.ethertype(self.u16(pos + 12), pos + 14, bound)

    def ethertype(self, et, pos, bound):
        while et in TAG_ETYPES:
            if pos + 4 > bound:
                raise Malformed("VLAN tag cut")
            if self.vlan_open:
                self.vlan = self.u16(pos) & 0xfff
                self.vlan_open = False
            et = self.u16(pos + 2)
            pos += 4
        if et == 0x0800:
            return self.ip(pos, bound, 4, announced=True)
        if et == 0x86dd:
            return self.ip(pos, bound, 6, announced=True)
        if et in (0x8847, 0x8848):
            return self.mpls(pos, bound)
        if et == 0x8864:
            return self.pppoe(pos, bound)
        if et == 0x8903:
            return self.fabricpath(pos, bound)
        raise NonIP()

    # -- 2. link shims
    def mpls(self, pos, bound):
        for k in range(MAX_LABELS):
            p = pos + 4 * k
            if p + 4 > bound:
                raise Malformed("MPLS label cut")
            ly = self.layer(p, ("mpls",), "MPLS label")
            bottom = ly.num("mpls.bottom")
            if bottom is None:
                raise Undecoded("MPLS label without a bottom-of-stack field")
            if bottom:
                break
        else:
            raise Malformed("no bottom of stack within %d labels" % MAX_LABELS)
        self.step("mpls")
        p += 4
        if p >= bound:
            raise Malformed("nothing after the MPLS bottom of stack")
        nib = self.u8(p) >> 4
        if nib == 4:
            return self.ip(p, bound, 4)
        if nib == 6:
            return self.ip(p, bound, 6)
        raise NonIP()

    def pppoe(self, pos, bound):
        if pos + 8 > bound:
            raise Malformed("PPPoE/PPP header cut")
        ly = self.layer(pos, ("pppoes",), "PPPoE session")
        if ly.num("pppoe.version") != 1 or ly.num("pppoe.type") != 1 or ly.num("pppoe.code") != 0:
            raise Malformed("PPPoE version/type/code")
        self.step("pppoe")
        ppp = self.layer(pos + 6, ("ppp",), "PPP")
        proto = ppp.num("ppp.protocol")
        if proto == 0x21:
            return self.ip(pos + 8, bound, 4, announced=True)
        if proto == 0x57:
            return self.ip(pos + 8, bound, 6, announced=True)
        raise NonIP()

    def fabricpath(self, pos, bound):
        # ftag/ttl, then a classical Ethernet header: the same frame (bytes, VLAN).
        if pos + 2 + 14 > bound:
            raise Malformed("FabricPath header cut")
        self.step("fabricpath")
        return self.ethernet(pos + 2, bound)

    # -- 3. IP
    def ip(self, pos, bound, version, announced=False):
        """version: 4 or 6 (announced by an ethertype, a protocol number or a
        nibble), None for either (raw IP link types)."""
        names = {4: ("ip",), 6: ("ipv6",), None: ("ip", "ipv6")}[version]
        if pos >= bound:
            raise Malformed("IP header missing")
        ly = self.pkt.at(pos, names) or self.redecoded(pos, names)
        if ly is None:
            if pos + (40 if version == 6 else 20) > bound:
                raise Malformed("IP header cut")
            nib = self.u8(pos) >> 4
            if version is not None and nib != version:
                raise Malformed("IP version %d where %d was announced" % (nib, version))
            raise Undecoded("tshark has no IP layer at byte %d" % pos)
        if ly.name == "ip":
            return self.ipv4(ly, pos, bound)
        return self.ipv6(ly, pos, bound)

    def ipv4(self, ly, pos, bound):
        avail = bound - pos
        src, dst, proto = ly.get("ip.src"), ly.get("ip.dst"), ly.num("ip.proto")
        hlen, tot = ly.num("ip.hdr_len", 0), ly.num("ip.len", 0)
        if (src is None or dst is None or proto is None or avail < 20 or ly.num("ip.version") != 4
                or hlen < 20 or hlen > avail or (tot and tot < hlen)):
            raise Malformed("IPv4 header")
        end = pos + tot if 0 < tot < avail else bound
        wire_end = pos + tot if tot else self.pkt.wire
        offset, mf = ly.num("ip.frag_offset", 0), ly.num("ip.flags.mf", 0)
        frag = (ly.num("ip.id", 0), offset > 0) if (offset or mf) else None
        ip = {"src": norm_addr(src), "dst": norm_addr(dst), "end": end, "wire_end": wire_end}
        return self.after_ip(ip, proto, pos + hlen, end, frag)

    def ipv6(self, ly, pos, bound):
        avail = bound - pos
        src, dst = ly.get("ipv6.src"), ly.get("ipv6.dst")
        plen, proto = ly.num("ipv6.plen", 0), ly.num("ipv6.nxt")
        if src is None or dst is None or proto is None or avail < 40 or ly.num("ipv6.version") != 6:
            raise Malformed("IPv6 header")
        end = pos + 40 + plen if 0 < plen < avail - 40 else bound
        wire_end = pos + 40 + plen if plen else self.pkt.wire
        p = pos + 40
        frag = None
        for name, ext in ly.exts:
            nxt = ext.get(name + ".nxt")
            if name == "ipv6.fraghdr":
                size = 8
            else:
                lens = ext.get(name + ".len")
                if not lens:
                    raise Malformed("IPv6 extension header cut")
                size = (int(lens[0], 0) + 1) * 8
            if not nxt or p + size > end:
                raise Malformed("IPv6 extension header cut")
            if name == "ipv6.fraghdr":
                off = int(ext["ipv6.fraghdr.offset"][0], 0)
                more = int(ext["ipv6.fraghdr.more"][0], 0)
                if off or more:
                    frag = (int(ext["ipv6.fraghdr.ident"][0], 0), off > 0)
            proto = int(nxt[0], 0)
            p += size
        ip = {"src": norm_addr(src), "dst": norm_addr(dst), "end": end, "wire_end": wire_end}
        return self.after_ip(ip, proto, p, end, frag)

    def after_ip(self, ip, proto, l4, end, frag):
        outer = Flow(proto, ip["src"], ip["dst"], frag=frag)
        if frag is not None and frag[1]:
            return outer  # a later fragment: no transport header, never decapsulated
        name = PORT_PROTOS.get(proto)
        if name:
            if l4 + TRANSPORT_FIXED[proto] > end:
                raise Malformed("transport header cut")
            ly = self.layer(l4, (name,), "transport")
            if proto == 6 and ly.num("tcp.hdr_len", 0) < 20:
                raise Malformed("TCP data offset")
            outer.sport = ly.num(name + ".srcport", 0)
            outer.dport = ly.num(name + ".dstport", 0)
        if frag is not None:
            return outer  # a first fragment: the outer flow, not decapsulated (rule 3)
        # 4. tunnels
        if proto in (4, 41):
            self.tunnel_ends(ip)
            self.step("ipip")
            return self.ip(l4, end, 4 if proto == 4 else 6)
        decap = None
        if proto == 47:
            decap = self.gre
        elif proto == 17:
            for kind in ("vxlan", "vxlan-gpe", "geneve", "gtpu"):
                if outer.dport in self.ports.get(kind, ()):
                    decap = getattr(self, kind.replace("-", "_"))
                    l4 += 8
                    break
        if decap is None:
            return outer
        try:
            return decap(ip, l4, end) or outer
        except BadTunnel as e:
            self.bad_tunnel = str(e)
            return outer

    # -- 4. tunnels; each returns None for "the outer IP packet is the flow"
    def carried_eth(self, ip, pos, bound):
        if pos + 14 > bound:
            raise Malformed("carried Ethernet header cut")
        self.carried = ip["wire_end"] - pos
        self.vlan, self.vlan_open = None, True
        return self.ethernet(pos, bound)

    def by_nibble(self, pos, bound):
        if pos >= bound:
            raise BadTunnel("no payload byte after the tunnel header")
        nib = self.u8(pos) >> 4
        if nib not in (4, 6):
            raise Malformed("carried IP version nibble %d" % nib)
        return self.ip(pos, bound, nib)

    def gre(self, ip, pos, end):
        if pos + 4 > end:
            raise BadTunnel("GRE header cut")
        ly = self.layer(pos, ("gre",), "GRE")
        if ly.num("gre.flags.version") != 0:
            return None  # PPTP's enhanced GRE and other versions: the outer GRE flow
        if ly.num("gre.flags.routing"):
            raise BadTunnel("GRE routing bit")
        c, k, s = (ly.num("gre.flags.checksum", 0), ly.num("gre.flags.key", 0),
                   ly.num("gre.flags.sequence_number", 0))
        hl = 4 + 4 * (c + k + s)
        if pos + hl > end:
            raise BadTunnel("GRE optional words cut")
        ptype = ly.num("gre.proto")
        inner = pos + hl
        if ptype in (0x0800, 0x86dd):
            self.tunnel_ends(ip)
            self.step("gre")
            return self.ip(inner, end, 4 if ptype == 0x0800 else 6)
        if ptype in (0x8847, 0x8848):
            self.tunnel_ends(ip)
            self.step("gre")
            return self.mpls(inner, end)
        if ptype == 0x6558:
            self.tunnel_ends(ip)
            if k:
                self.step("nvgre")
                self.vni = ly.num("gre.key", 0) >> 8
            else:
                self.step("gre")
            return self.carried_eth(ip, inner, end)
        if ptype == 0x88be:
            if s:  # type II: an 8-byte ERSPAN header
                if inner + 8 > end:
                    raise BadTunnel("ERSPAN II header cut")
                er = self.layer(inner, ("erspan",), "ERSPAN II")
                if er.num("erspan.version") != 1:
                    raise BadTunnel("ERSPAN II version")
                inner += 8
            self.tunnel_ends(ip)
            self.step("erspan")
            return self.carried_eth(ip, inner, end)
        if ptype == 0x22eb:
            if inner + 12 > end:
                raise BadTunnel("ERSPAN III header cut")
            er = self.layer(inner, ("erspan",), "ERSPAN III")
            if er.num("erspan.version") != 2:
                raise BadTunnel("ERSPAN III version")
            hl3 = 12 + (8 if er.num("erspan.o", 0) else 0)
            if inner + hl3 > end:
                raise BadTunnel("ERSPAN III platform sub-header cut")
            ft = er.num("erspan.ft")
            if ft not in (0, 2):
                return None
            if ft == 2 and inner + hl3 >= end:
                raise BadTunnel("ERSPAN III IP frame without a payload byte")
            self.tunnel_ends(ip)
            self.step("erspan")
            if ft == 0:
                return self.carried_eth(ip, inner + hl3, end)
            return self.by_nibble(inner + hl3, end)
        return None

    def vxlan(self, ip, pos, end):
        if pos + 8 > end:
            raise BadTunnel("VXLAN header cut")
        ly = self.overlay_layer(pos, ("vxlan",), "VXLAN")
        if not ly.num("vxlan.flag_i", 0):
            raise BadTunnel("VXLAN without the I flag")
        self.tunnel_ends(ip)
        self.step("vxlan")
        self.vni = ly.num("vxlan.vni", 0)
        return self.carried_eth(ip, pos + 8, end)

    def vxlan_gpe(self, ip, pos, end):
        if pos + 8 > end:
            raise BadTunnel("VXLAN-GPE header cut")
        ly = self.overlay_layer(pos, ("vxlan",), "VXLAN-GPE")
        if ly.num("vxlan.ver", 0) != 0:
            raise BadTunnel("VXLAN-GPE version")
        if not ly.num("vxlan.p_bit", 0) and not ly.num("vxlan.i_bit", 0):
            raise BadTunnel("VXLAN-GPE without P: a VXLAN header, without the I flag")
        nxt = ly.num("vxlan.next_proto") if ly.num("vxlan.p_bit", 0) else 3
        if nxt not in (1, 2, 3, 5):
            return None
        self.tunnel_ends(ip)
        self.step("vxlan-gpe")
        if ly.num("vxlan.i_bit", 0):
            self.vni = ly.num("vxlan.vni", 0)
        inner = pos + 8
        if nxt == 1:
            return self.ip(inner, end, 4)
        if nxt == 2:
            return self.ip(inner, end, 6)
        if nxt == 5:
            return self.mpls(inner, end)
        return self.carried_eth(ip, inner, end)

    def geneve(self, ip, pos, end):
        if pos + 8 > end:
            raise BadTunnel("Geneve header cut")
        ly = self.overlay_layer(pos, ("geneve",), "Geneve")
        if ly.num("geneve.version") != 0:
            raise BadTunnel("Geneve version")
        hl = 8 + ly.num("geneve.option.length", 0)  # tshark gives the options' length in bytes
        if pos + hl > end:
            raise BadTunnel("Geneve options cut")
        ptype = ly.num("geneve.proto_type")
        if ptype not in (0x6558, 0x0800, 0x86dd):
            return None
        self.tunnel_ends(ip)
        self.step("geneve")
        self.vni = ly.num("geneve.vni", 0)
        if ptype == 0x6558:
            return self.carried_eth(ip, pos + hl, end)
        return self.ip(pos + hl, end, 4 if ptype == 0x0800 else 6)

    def gtpu(self, ip, pos, end):
        if pos + 8 > end:
            raise BadTunnel("GTP-U header cut")
        ly = self.overlay_layer(pos, ("gtp", "gtpv2", "gtpprime"), "GTP-U")
        if ly.name != "gtp":  # tshark reads the version and hands GTPv2 to its own dissector
            raise BadTunnel("GTP version of layer %s" % ly.name)
        if ly.num("gtp.flags.version") != 1 or ly.num("gtp.flags.payload") != 1:
            raise BadTunnel("GTP version/PT")
        if ly.num("gtp.message") != 0xff:
            return None  # echo, error indication, end marker: the outer flow
        e, s, pn = (ly.num("gtp.flags.e", 0), ly.num("gtp.flags.s", 0),
                    ly.num("gtp.flags.pn", 0))
        hl = 8
        if e or s or pn:
            hl = 12
            if pos + hl > end:
                raise BadTunnel("GTP optional fields cut")
            # Extension headers: tshark's lengths (units of 4 bytes), in order;
            # the chain is followed while the next-type byte is not 0.
            lens = [int(v, 0) for v in ly.fields.get("gtp.ext_hdr.length", [])]
            nxt = self.u8(pos + 11) if e else 0
            i = 0
            while nxt:
                if pos + hl + 1 > end:
                    raise BadTunnel("GTP extension header cut")
                n = self.u8(pos + hl)
                if i < len(lens) and lens[i] != n:
                    raise Undecoded("GTP extension length: tshark %d, bytes %d" % (lens[i], n))
                if n == 0 or pos + hl + 4 * n > end:
                    raise BadTunnel("GTP extension header length")
                hl += 4 * n
                nxt = self.u8(pos + hl - 1)
                i += 1
        if pos + hl >= end:
            raise BadTunnel("G-PDU without a payload byte")
        self.tunnel_ends(ip)
        self.step("gtpu")
        return self.by_nibble(pos + hl, end)


def needs_walk(row, ports):
    """Whether a frame holds anything --decap on may read through."""
    protos = set((first(row, "frame.protocols") or "").split(":"))
    if protos & WALK_LAYERS:
        return True
    for f in ("eth.type", "vlan.etype", "sll.etype"):
        if any(num(v) in SHIM_ETYPES for v in row[f]):
            return True
    for f in ("ip.proto", "ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.routing.nxt",
              "ipv6.fraghdr.nxt", "ipv6.dstopts.nxt"):
        if any(num(v) in TUNNEL_PROTOS for v in row[f]):
            return True
    all_ports = set(p for plist in ports.values() for p in plist)
    return any(num(v) in all_ports for v in row["udp.dstport"])


def walkable(pkt):
    """Link layers the walk reads (else account() judges the frame: a link
    type the program refuses, such as PPP, never reaches a comparison)."""
    if pkt.encap in RAW_IP_ENCAPS:
        return True
    return bool(pkt.layers) and pkt.layers[0].name in ("eth", "cfp", "sll", "null", "loop", "raw")


def record(exp, w, flow):
    """Count a walked frame's flow (the fragment rule as in account())."""
    sport, dport = flow.sport, flow.dport
    if flow.frag is not None:
        fkey = (flow.src, flow.dst, flow.proto, flow.frag[0])
        if not flow.frag[1]:
            exp.frag_ports[fkey] = (sport, dport)
        else:
            sport, dport = exp.frag_ports.get(fkey, (0, 0))
    exp.ip += 1
    if w.steps:
        exp.tunnelled += 1
    if w.bad_tunnel:
        exp.bad_tunnel += 1
    length = w.carried if w.carried is not None else w.pkt.wire
    cols = (",".join(w.kinds) or None, w.vni, w.tsrc, w.tdst)
    exp.add(flow.proto, w.vlan, w.vni, (flow.src, sport), (flow.dst, dport), length, cols)


def walk_frame(exp, pkt, raw, ports, redecode=None, max_depth=MAX_DEPTH):
    exp.frames += 1
    w = Walk(pkt, raw, ports, redecode, max_depth)
    try:
        flow = w.run()
    except NonIP:
        exp.non_ip += 1
        return w, "non_ip"
    except Malformed as e:
        exp.malformed += 1
        if w.depth:
            exp.decap_depth += 1
        return w, "malformed: %s" % e
    except Undecoded as e:
        exp.undecoded.append((pkt.number, str(e)))
        return w, "undecoded: %s" % e
    record(exp, w, flow)
    return w, "flow"


def parse_ports(text):
    return tuple(int(p) for p in text.split(",") if p.strip())


def expect(capture, decap=True, ports=None, max_depth=MAX_DEPTH):
    """The expectation for a capture. decap=False: the program with --decap
    off (the outer flows, no link shims). ports: overlay ports per kind, as
    DEFAULT_PORTS (the program's --vxlan-ports etc.); max_depth: its
    --decap-depth."""
    exp = Expectation()
    if not decap:
        for row in tshark_rows(capture):
            account(exp, row)
        return exp
    ports = dict(DEFAULT_PORTS if ports is None else ports)
    extra = DECAP_OPTS + decode_as(ports)
    rows = list(tshark_rows(capture, extra))
    deep = set(num(first(r, "frame.number")) for r in rows if needs_walk(r, ports))
    pkts = pdml_packets(capture, deep, extra) if deep else {}
    raws = raw_frames(capture, deep) if deep else {}
    redecode = Redecoder(capture, ports)
    for row in rows:
        n = num(first(row, "frame.number"))
        if n in deep and n in pkts and n in raws and walkable(pkts[n]):
            walk_frame(exp, pkts[n], raws[n], ports, redecode, max_depth)
        else:
            account(exp, row)
    return exp


class Redecoder:
    """tshark stops at a UDP header whose length field is 0 (BIG TCP / GSO
    captures) and never looks at the overlay behind it. The payload from the
    overlay header on is cut to 4096 bytes and put behind a synthetic
    Ethernet/IPv4/UDP header with valid lengths and the same destination
    port (source port = destination port, so tshark's lower-port rule cannot
    pick another dissector); tshark decodes that frame and its layers are
    mapped back to the original positions. Only layers at or after the
    overlay header are taken from it; bounds are still those of the
    original frame."""

    CUT = 4096

    def __init__(self, capture, ports):
        self.capture, self.ports = capture, ports
        self.cache = {}

    def __call__(self, walk, pos, names):
        key = (walk.pkt.number, self._overlay_start(walk, pos))
        start = key[1]
        if start is None:
            return None
        if key not in self.cache:
            self.cache[key] = self._decode(walk, start)
        layers = self.cache[key]
        for ly in layers or ():
            if ly.pos == pos and ly.name in names:
                return ly
        return None

    def _overlay_start(self, walk, pos):
        # The UDP header tshark left undissected: the last udp layer before pos.
        best = None
        for ly in walk.pkt.layers:
            if ly.name == "udp" and ly.pos + 8 <= pos:
                dport = ly.num("udp.dstport")
                if any(dport in plist for plist in self.ports.values()):
                    best = ly
        return best.pos + 8 if best is not None else None

    def _decode(self, walk, start):
        udp_ly = [ly for ly in walk.pkt.layers if ly.name == "udp" and ly.pos + 8 == start][0]
        dport = udp_ly.num("udp.dstport")
        payload = walk.raw[start:start + self.CUT]
        udp_h = struct.pack("!HHHH", dport, dport, 8 + len(payload), 0)
        ip_h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                           b"\xc0\x00\x02\x01", b"\xc0\x00\x02\x02")
        frame = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip_h + udp_h + payload
        shift = start - 42
        with tempfile.NamedTemporaryFile(suffix=".pcap", delete=False) as f:
            f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
            f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
            path = f.name
        try:
            pkts = pdml_packets(path, None, DECAP_OPTS + decode_as(self.ports))
        finally:
            os.unlink(path)
        if not pkts:
            return None
        layers = []
        for ly in list(pkts.values())[0].layers:
            if ly.pos >= 42:
                ly.pos += shift
                layers.append(ly)
        return layers


def flow_list(exp):
    """Flows as sorted plain lists (for JSON and printing)."""
    out = []
    for key, per_ep in sorted(exp.flows.items(), key=lambda kv: key_sort(kv[0])):
        proto, vlan, vni, lo, hi = key
        a = per_ep.get(lo, [0, 0])
        b = per_ep.get(hi, [0, 0]) if hi != lo else [0, 0]
        out.append([proto, vlan, vni, lo[0], lo[1], hi[0], hi[1], a[0], a[1], b[0], b[1]])
    return out


def key_sort(key):
    proto, vlan, vni, lo, hi = key
    return (proto, vlan is not None, vlan or 0, vni is not None, vni or 0,
            ep_sort_key(lo), ep_sort_key(hi))


def tunnel_list(exp):
    """Per flow (in flow_list order), the sorted tunnel column tuples its packets had."""
    return [sorted([list(c) for c in exp.tunnels[key]], key=lambda c: json.dumps(c))
            for key in sorted(exp.flows, key=key_sort)]


def to_doc(exp):
    return {"flows": flow_list(exp), "tunnels": tunnel_list(exp), "frames": exp.frames,
            "ip": exp.ip, "non_ip": exp.non_ip, "malformed": exp.malformed,
            "decap_depth": exp.decap_depth, "tunnelled": exp.tunnelled,
            "bad_tunnel": exp.bad_tunnel,
            "undecoded": exp.undecoded}


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--decap", choices=("on", "off"), default="on")
    for kind in DEFAULT_PORTS:
        ap.add_argument("--%s-ports" % kind, default=None,
                        help="comma list (default %s)" % ",".join(map(str, DEFAULT_PORTS[kind])))
    ap.add_argument("--decap-depth", type=int, default=MAX_DEPTH)
    ap.add_argument("capture")
    opt = ap.parse_args(argv[1:])
    ports = dict(DEFAULT_PORTS)
    for kind in DEFAULT_PORTS:
        v = getattr(opt, kind.replace("-", "_") + "_ports")
        if v is not None:
            ports[kind] = parse_ports(v)
    exp = expect(opt.capture, decap=opt.decap == "on", ports=ports, max_depth=opt.decap_depth)
    if opt.json:
        json.dump(to_doc(exp), sys.stdout)
        print()
        return 0
    for f, t in zip(flow_list(exp), tunnel_list(exp)):
        line = " ".join("-" if v is None else str(v) for v in f)
        if t != [list(PLAIN)]:
            line += "  # " + "; ".join(" ".join("-" if v is None else str(v) for v in c) for c in t)
        print(line)
    for n, why in exp.undecoded:
        print("# undecoded frame %d: %s" % (n, why))
    print("# frames=%d ip=%d non_ip=%d malformed=%d decap_depth=%d tunnelled=%d bad_tunnel=%d "
          "undecoded=%d flows=%d" % (exp.frames, exp.ip, exp.non_ip, exp.malformed,
                                     exp.decap_depth, exp.tunnelled, exp.bad_tunnel,
                                     len(exp.undecoded), len(exp.flows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
