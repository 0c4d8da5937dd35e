#!/usr/bin/env python3
"""tunnels: decapsulation (issue 16) end to end, against tshark and against the bytes written here.

    tunnels.py [--pcaps-root DIR] [--keep DIR] [--only a,b,c,d] PROGRAM

(a) every tunnel capture of ../shared/pcaps and ../shared/pcaps-tcpdump
    through replay.py (rows and counters against tests/expect_tshark.py),
    with --workers 1 and 2;
(b) captures built here from real conversations (TCP over IPv4 from
    pcaps/imap.pcap, TCP and UDP over IPv6 from pcaps/ftp_failed.pcap and
    pcaps/kcp.pcap): every frame wrapped per direction with different outer
    headers (GTP-U with other TEIDs and a PDU session container one way,
    MPLS with other label stacks, ERSPAN II with a session id per direction
    under a tagged outer frame, ERSPAN III with the platform sub-header one
    way, VXLAN with a new UDP source port per packet and the VTEPs swapped,
    Geneve with an option one way, NVGRE, IP-in-IP / 6in4): the rows must be
    the unwrapped capture's rows (same keys, packets; bytes equal for the
    Ethernet-carrying encapsulations, else the unwrapped bytes plus the
    outer headers written for each packet), the tunnel columns what was
    written (kinds, VNI, the outer addresses of the flow's first packet as
    sent), with 1 and 2 workers; the same traffic in VXLAN VNIs 5000 and 6000
    gives both sets of rows apart. The built captures go through replay.py
    against tshark too;
(c) --decap off: replay.py in the oracle's outer mode on the tunnel and
    built captures;
(d) crafted bad tunnel frames, each with the outcome the semantics give it
    (written by hand here: malformed, decap_depth, bad_tunnel, ip, non_ip),
    checked against the program's final stats line and against the oracle.

Exit 0 all pass, 1 a failure, 77 (with a message) when tshark or the shared
captures are absent.
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import expect_tshark  # noqa: E402

# Captures holding tunnels or shims (found by a tshark sweep of both folders:
# GRE, ERSPAN, VXLAN, Geneve, GTP, MPLS, PPPoE, IP-in-IP, 6in4, 4in6, BIG TCP
# overlays), plus any new file named like one.
TUNNEL_CAPTURES = [
    "pcaps/4in4tunnel.pcap", "pcaps/4in6tunnel.pcap", "pcaps/custom_categories.pcapng",
    "pcaps/discord_mid_flow.pcap", "pcaps/dns.pcap", "pcaps/dtls.pcap",
    "pcaps/false_positives.pcapng", "pcaps/fuzz-2021-06-07-c6c72a0a56.pcap", "pcaps/gtp_c.pcap",
    "pcaps/gtp_false_positive.pcapng", "pcaps/gtp_prime.pcapng", "pcaps/ipv6_in_gtp.pcap",
    "pcaps/reasm_segv_anon.pcapng", "pcaps/rtmp.pcap", "pcaps/syslog.pcap",
    "pcaps/tls_invalid_reads.pcap", "pcaps/vxlan.pcap",
    "pcaps-tcpdump/NHRP-responder-address.pcap", "pcaps-tcpdump/NHRP_registration.pcap",
    "pcaps-tcpdump/arista_ether.pcap", "pcaps-tcpdump/esp_truncated.pcap",
    "pcaps-tcpdump/gre-heapoverflow-2.pcap", "pcaps-tcpdump/lspping-fec-ldp.pcap",
    "pcaps-tcpdump/mpls-label-heapoverflow.pcap", "pcaps-tcpdump/mpls-traceroute.pcap",
    "pcaps-tcpdump/nhrp-trace.pcap", "pcaps-tcpdump/nhrp.pcapng", "pcaps-tcpdump/pptp.pcap",
    "pcaps-tcpdump/wb-oobr.pcap", "pcaps-tcpdump/wccp_redirect_gre.pcap",
]
TUNNEL_NAME = re.compile(r"(vxlan|geneve|erspan|gre|gtp|pppoe|mpls|4in4|4in6|6in4|nvgre|"
                         r"fabricpath|ipip)", re.I)
SOURCES = ["pcaps/imap.pcap", "pcaps/ftp_failed.pcap", "pcaps/kcp.pcap"]
RUN_OPTS = ["--flow-timeout", "1h", "--active-timeout", "1d", "-o", "stdout"]


# ------------------------------------------------------------------ frames

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def ip4(src, dst, proto, payload, ident=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                    ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ip6(src, dst, nh, payload):
    return (struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) +
            ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + payload)


def udp(sp, dp, payload):
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload


def tcp(sp, dp, flags=0x02):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 5 << 4, flags, 65535, 0, 0)


def eth(etype, tag=None):
    h = b"\x02\0\0\0\0\x0a\x02\0\0\0\0\x0b"
    if tag is not None:
        h += struct.pack("!HH", 0x8100, tag)
    return h + struct.pack("!H", etype)


def write_pcap(path, frames, t0=1700000000):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", t0 + i // 1000, (i % 1000) * 1000, len(fr), len(fr)) + fr)


def read_pcap(path):
    """Captured frames of a pcap or pcapng file (expect_tshark's plain reader)."""
    frames = expect_tshark.raw_frames(path, set(range(1, 1 << 20)))
    return [frames[n] for n in sorted(frames)]


class Pkt:
    """A source frame: its IP packet and what this test needs to know of it."""

    def __init__(self, frame):
        et = struct.unpack_from("!H", frame, 12)[0]
        self.frame = frame
        self.ip = frame[14:]
        self.version = 4 if et == 0x0800 else 6
        if self.version == 4:
            self.ip = self.ip[:struct.unpack_from("!H", self.ip, 2)[0]]
            hl = (self.ip[0] & 15) * 4
            self.proto, self.src, self.dst = self.ip[9], self.ip[12:16], self.ip[16:20]
        else:
            self.ip = self.ip[:40 + struct.unpack_from("!H", self.ip, 4)[0]]
            hl = 40
            self.proto, self.src, self.dst = self.ip[6], self.ip[8:24], self.ip[24:40]
        self.sport, self.dport = struct.unpack_from("!HH", self.ip, hl)
        # Direction 0 "uplink": the lower address sends (a byte order, nothing more).
        self.up = self.src < self.dst

    def endpoints(self):
        a = ipaddress.ip_address(self.src).compressed
        b = ipaddress.ip_address(self.dst).compressed
        return (a, self.sport), (b, self.dport)


def source_packets(root):
    pkts = []
    for rel in SOURCES:
        for fr in read_pcap(os.path.join(root, rel)):
            if len(fr) < 14 + 20:
                continue
            et = struct.unpack_from("!H", fr, 12)[0]
            if et not in (0x0800, 0x86dd):
                continue
            p = Pkt(fr)
            if p.proto in (6, 17):
                pkts.append(p)
    return pkts


VTEP = {True: ("192.0.2.1", "192.0.2.2"), False: ("192.0.2.2", "192.0.2.1")}
VTEP6 = {True: ("2001:db8::1", "2001:db8::2"), False: ("2001:db8::2", "2001:db8::1")}


def gtp_hdr(teid, length, pdu_session):
    if pdu_session:  # E flag, next type 0x85: the 5G PDU session container (4 bytes)
        return (struct.pack("!BBHIHBB", 0x34, 255, length + 8, teid, 0, 0, 0x85) +
                bytes([1, 0x10, 0x09, 0]))
    return struct.pack("!BBHI", 0x30, 255, length, teid)


# Each wrapper: (name, Ethernet-carrying?, function(pkt, index) -> frame,
# tunnel kinds, VNI, whether the outer addresses are VTEP's (IPv4) or VTEP6's).
def w_gtpu(p, i):
    s, d = VTEP[p.up]
    g = gtp_hdr(0x1001 if p.up else 0x2002, len(p.ip), p.up)
    return eth(0x0800) + ip4(s, d, 17, udp(2152, 2152, g + p.ip), ident=i)


def w_mpls(p, i):
    stack = (struct.pack("!I", 100 << 12 | 1 << 8 | 64) if p.up else
             struct.pack("!II", 200 << 12 | 64, 300 << 12 | 1 << 8 | 64))
    return eth(0x8847) + stack + p.ip


def w_erspan2(p, i):
    s, d = VTEP[p.up]
    gre = struct.pack("!HHI", 0x1000, 0x88be, i)
    er = struct.pack("!HHI", 0x1000 | 0, (0x0000) | (10 if p.up else 20), 0)
    return eth(0x0800, tag=99) + ip4(s, d, 47, gre + er + p.frame, ident=i)


def w_erspan3(p, i):
    s, d = VTEP[p.up]
    gre = struct.pack("!HHI", 0x1000, 0x22eb, i)
    o = 1 if p.up else 0
    er = struct.pack("!HHIHH", 0x2000, 30 if p.up else 40, i, 0, o)  # FT 0 (Ethernet)
    if o:
        er += b"\x00" * 8
    return eth(0x0800) + ip4(s, d, 47, gre + er + p.frame, ident=i)


def vxlan_frame(p, i, vni):
    s, d = VTEP[p.up]
    vx = struct.pack("!BBHI", 0x08, 0, 0, vni << 8)
    return eth(0x0800) + ip4(s, d, 17, udp(40000 + (i * 7919) % 20000, 4789, vx + p.frame), ident=i)


def w_vxlan(p, i):
    return vxlan_frame(p, i, 5000)


def w_geneve6(p, i):
    s, d = VTEP6[p.up]
    opt = b"\x01\x02\x03\x01\0\0\0\0" if p.up else b""  # one 8-byte option one way
    gh = struct.pack("!BBHI", len(opt) // 4, 0, 0x6558, 7000 << 8) + opt
    return eth(0x86dd) + ip6(s, d, 17, udp(50000 + i % 1000, 6081, gh + p.frame))


def w_nvgre(p, i):
    s, d = VTEP[p.up]
    return eth(0x0800) + ip4(s, d, 47, struct.pack("!HHI", 0x2000, 0x6558, 8000 << 8 | 7) + p.frame,
                             ident=i)


def w_ipip(p, i):
    s, d = VTEP[p.up]
    return eth(0x0800) + ip4(s, d, 4 if p.version == 4 else 41, p.ip, ident=i)


WRAPPERS = [
    # name, carries Ethernet, wrap, tunnel column, tunnel_id, outer family
    ("gtpu", False, w_gtpu, "gtpu", None, 4),
    ("mpls", False, w_mpls, "mpls", None, None),
    ("erspan2", True, w_erspan2, "erspan", None, 4),
    ("erspan3", True, w_erspan3, "erspan", None, 4),
    ("vxlan", True, w_vxlan, "vxlan", 5000, 4),
    ("geneve6", True, w_geneve6, "geneve", 7000, 6),
    ("nvgre", True, w_nvgre, "nvgre", 8000, 4),
    ("ipip", False, w_ipip, "ipip", None, 4),
]


# ------------------------------------------------------------------ running

def run(program, capture, args=(), out_rows=True):
    cmd = [program, "--read", capture] + RUN_OPTS + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600,
                       check=False)
    rows = []
    if out_rows and p.returncode == 0:
        rows = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    stats = {}
    for line in p.stderr.decode(errors="replace").splitlines():
        if "packets=" in line:
            stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)\b", line)}
    return p.returncode, rows, stats, p.stderr.decode(errors="replace")


def norm(addr):
    return None if addr is None else ipaddress.ip_address(addr).compressed


def sums(rows, with_vni=True):
    """{(proto, vlan, vni, lo, hi): {ep: [pkts, bytes]}} as replay.py sums them."""
    out = {}
    for r in rows:
        src = (ipaddress.ip_address(r["src_addr"]).compressed, r["src_port"])
        dst = (ipaddress.ip_address(r["dst_addr"]).compressed, r["dst_port"])
        lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
        key = (r["ip_protocol"], r["vlan_id"], r.get("tunnel_id") if with_vni else None, lo, hi)
        per = out.setdefault(key, {})
        for ep, side in ((src, "src"), (dst, "dst")):
            c = per.setdefault(ep, [0, 0])
            c[0] += r[side + "_packets"]
            c[1] += r[side + "_bytes"]
    for per in out.values():
        for ep in [e for e, c in per.items() if c == [0, 0]]:
            del per[ep]
    return out


class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed.append(what)
            print("FAIL %s" % what)
        return cond


def replay(program, pcaps_dir, args, decap=None, label=""):
    cmd = [sys.executable, os.path.join(HERE, "replay.py"), "--pcaps", pcaps_dir,
           "--cache", os.path.join(REPO, "tests", "out", "replay-cache")]
    if decap:
        cmd += ["--decap", decap]
    cmd += [program] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600,
                       check=False)
    text = p.stdout.decode(errors="replace")
    lines = [l for l in text.splitlines() if not l.startswith("replay: ")]
    for l in lines:
        if not l.startswith("ok "):
            print("  %s%s" % (label, l))
    return p.returncode == 0


# ------------------------------------------------------------------ (b)

def expected_rows(base, pkts, name, carries_eth, wrap, tunnel, vni, outer):
    """The wrapped capture's expected sums, from the unwrapped capture's rows
    and the frames written: same keys (VLAN None for the L3 wrappers and
    NVGRE/VXLAN/... carrying untagged frames stays as it was), bytes equal for
    Ethernet-carrying wrappers, else plus each packet's outer overhead."""
    extra = {}
    first = {}
    for i, p in enumerate(pkts):
        src, dst = p.endpoints()
        lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
        fr = wrap(p, i)
        if not carries_eth:
            extra[(p.proto, lo, hi, src)] = extra.get((p.proto, lo, hi, src), 0) + (
                len(fr) - len(p.frame))
        first.setdefault((p.proto, lo, hi), (p, fr))
    exp = {}
    for (proto, vlan, _vni, lo, hi), per in base.items():
        key = (proto, vlan if carries_eth else None, vni, lo, hi)
        exp[key] = {ep: [c[0], c[1] + extra.get((proto, lo, hi, ep), 0)] for ep, c in per.items()}
    cols = {}
    for (proto, lo, hi), (p, fr) in first.items():
        if outer == 4:
            ends = VTEP[p.up]
        elif outer == 6:
            ends = VTEP6[p.up]
        else:
            ends = (None, None)
        cols[(proto, lo, hi)] = (tunnel, vni) + tuple(norm(e) for e in ends)
    return exp, cols


def check_built(program, root, work, checks):
    pkts = source_packets(root)
    src_cap = os.path.join(work, "built", "unwrapped.pcap")
    os.makedirs(os.path.dirname(src_cap), exist_ok=True)
    write_pcap(src_cap, [p.frame for p in pkts])
    rc, rows, stats, err = run(program, src_cap)
    checks.ok(rc == 0 and rows, "(b) unwrapped capture runs (%d frames): %s" % (len(pkts), err[-200:]))
    base = sums(rows)
    print("(b) unwrapped: %d frames, %d flows, packets=%s" % (len(pkts), len(base),
                                                             stats.get("packets")))
    for name, carries_eth, wrap, tunnel, vni, outer in WRAPPERS:
        cap = os.path.join(work, "built", "%s.pcap" % name)
        write_pcap(cap, [wrap(p, i) for i, p in enumerate(pkts)])
        exp, cols = expected_rows(base, pkts, name, carries_eth, wrap, tunnel, vni, outer)
        for workers in (1, 2):
            rc, rows, stats, err = run(program, cap, ["--workers", str(workers)])
            got = sums(rows)
            diff = [k for k in set(exp) | set(got) if exp.get(k) != got.get(k)]
            checks.ok(rc == 0 and not diff,
                      "(b) %s, %d worker(s): %d of %d keys differ from the unwrapped rows%s" % (
                          name, workers, len(diff), len(exp),
                          "" if not diff else ": e.g. %s expected %s got %s" % (
                              diff[0], exp.get(diff[0]), got.get(diff[0]))))
            bad_cols = []
            for r in rows:
                src = (ipaddress.ip_address(r["src_addr"]).compressed, r["src_port"])
                dst = (ipaddress.ip_address(r["dst_addr"]).compressed, r["dst_port"])
                lo, hi = sorted([src, dst], key=expect_tshark.ep_sort_key)
                want = cols.get((r["ip_protocol"], lo, hi))
                have = (r.get("tunnel"), r.get("tunnel_id"), norm(r.get("tunnel_src_addr")),
                        norm(r.get("tunnel_dst_addr")))
                if want is None or have != tuple(want):
                    bad_cols.append((r["src_addr"], r["src_port"], have, want))
            checks.ok(rc == 0 and not bad_cols,
                      "(b) %s, %d worker(s): %d rows with other tunnel columns than written%s" % (
                          name, workers, len(bad_cols), "" if not bad_cols else
                          ": e.g. %s" % (bad_cols[0],)))
            want_t = len(pkts)
            checks.ok(stats.get("tunnelled") == want_t and stats.get("malformed") == 0,
                      "(b) %s, %d worker(s): tunnelled=%s malformed=%s (want %d, 0)" % (
                          name, workers, stats.get("tunnelled"), stats.get("malformed"), want_t))
        print("(b) %s: %d flows, tunnel=%s tunnel_id=%s, bytes %s" % (
            name, len(exp), tunnel, vni, "as unwrapped" if carries_eth else "unwrapped + outer"))
    # Two VNIs: the same traffic twice gives two separate sets of rows.
    cap = os.path.join(work, "built", "vxlan_two_vnis.pcap")
    frames = []
    for i, p in enumerate(pkts):
        frames.append(vxlan_frame(p, i, 5000))
        frames.append(vxlan_frame(p, i, 6000))
    write_pcap(cap, frames)
    exp = {}
    for vni in (5000, 6000):
        for (proto, vlan, _v, lo, hi), per in base.items():
            exp[(proto, vlan, vni, lo, hi)] = per
    for workers in (1, 2):
        rc, rows, stats, err = run(program, cap, ["--workers", str(workers)])
        got = sums(rows)
        diff = [k for k in set(exp) | set(got) if exp.get(k) != got.get(k)]
        checks.ok(rc == 0 and not diff and len(rows) == 2 * len(base),
                  "(b) two VNIs, %d worker(s): %d rows (want %d), %d keys differ" % (
                      workers, len(rows), 2 * len(base), len(diff)))
    print("(b) two VNIs: %d rows = 2 x %d" % (2 * len(base), len(base)))
    return os.path.dirname(cap)


# ------------------------------------------------------------------ (d)

A4, B4 = "10.1.1.1", "10.2.2.2"
O1, O2 = "192.0.2.1", "192.0.2.2"


def bad_frames():
    """(name, frame, outcome): outcome is 'flow' (an IP packet with a flow),
    'bad_tunnel' (the outer packet is the flow, counted bad_tunnel),
    'malformed', 'depth' (malformed and decap_depth), 'non_ip'. From the
    semantics (rule 6 as changed by the lead at 17:05), by hand."""
    inner = eth(0x0800) + ip4(A4, B4, 6, tcp(1000, 80))
    vx = struct.pack("!BBHI", 0x08, 0, 0, 42 << 8)
    fr = []
    fr.append(("vxlan ok", eth(0x0800) + ip4(O1, O2, 17, udp(1, 4789, vx + inner)), "flow"))
    fr.append(("vxlan header cut (5 bytes)",
               eth(0x0800) + ip4(O1, O2, 17, udp(2, 4789, vx[:5])), "bad_tunnel"))
    fr.append(("vxlan without I flag",
               eth(0x0800) + ip4(O1, O2, 17, udp(3, 4789, b"\0" * 8 + inner)), "bad_tunnel"))
    fr.append(("vxlan carried Ethernet cut",
               eth(0x0800) + ip4(O1, O2, 17, udp(4, 4789, vx + inner[:10])), "malformed"))
    fr.append(("vxlan carried IPv4 cut",
               eth(0x0800) + ip4(O1, O2, 17, udp(5, 4789, vx + inner[:14 + 12])), "malformed"))
    fr.append(("vxlan carrying ARP", eth(0x0800) + ip4(O1, O2, 17, udp(6, 4789, vx + eth(0x0806) +
                                                                     b"\0" * 28)), "non_ip"))
    fr.append(("gtp header cut", eth(0x0800) + ip4(O1, O2, 17, udp(7, 2152, b"\x30\xff\x00")),
               "bad_tunnel"))
    fr.append(("gtp version 2", eth(0x0800) + ip4(O1, O2, 17, udp(8, 2152, struct.pack(
        "!BBHI", 0x50, 255, 40, 1) + ip4(A4, B4, 6, tcp(1, 2)))), "bad_tunnel"))
    fr.append(("gtp G-PDU without payload", eth(0x0800) + ip4(O1, O2, 17, udp(9, 2152, struct.pack(
        "!BBHI", 0x30, 255, 0, 1))), "bad_tunnel"))
    fr.append(("gtp echo request", eth(0x0800) + ip4(O1, O2, 17, udp(10, 2152, struct.pack(
        "!BBHIHBB", 0x32, 1, 4, 0, 1, 0, 0))), "flow"))
    fr.append(("gre cut (2 bytes)", eth(0x0800) + ip4(O1, O2, 47, b"\x00\x00"), "bad_tunnel"))
    fr.append(("gre routing bit", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HHI", 0x4000, 0x0800, 0) + ip4(A4, B4, 6, tcp(3, 4))), "bad_tunnel"))
    fr.append(("gre version 1 (PPTP)", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HHHH", 0x2001, 0x880b, 0, 1)), "flow"))
    fr.append(("gre key word cut", eth(0x0800) + ip4(O1, O2, 47, struct.pack("!HH", 0x2000, 0x0800)
                                                   + b"\0\0"), "bad_tunnel"))
    fr.append(("erspan II version 2", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HHI", 0x1000, 0x88be, 1) + struct.pack("!HHI", 0x2000, 5, 0) + inner), "bad_tunnel"))
    fr.append(("erspan II header cut", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HHI", 0x1000, 0x88be, 1) + b"\x10\x00\x00"), "bad_tunnel"))
    fr.append(("erspan III header cut", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HH", 0, 0x22eb) + b"\x20\0\0\0\0\0"), "bad_tunnel"))
    fr.append(("erspan III version 1", eth(0x0800) + ip4(O1, O2, 47, struct.pack(
        "!HH", 0, 0x22eb) + struct.pack("!HHIHH", 0x1000, 1, 0, 0, 0) + inner), "bad_tunnel"))
    fr.append(("mpls no bottom of stack", eth(0x8847) + struct.pack("!II", 1 << 12, 2 << 12),
               "malformed"))
    deep = ip4(A4, B4, 6, tcp(5, 6))
    for k in range(9):
        deep = ip4("10.9.%d.1" % k, "10.9.%d.2" % k, 4, deep)
    fr.append(("9 nested IPv4-in-IPv4", eth(0x0800) + deep, "depth"))
    deep8 = ip4(A4, B4, 6, tcp(7, 8))
    for k in range(8):
        deep8 = ip4("10.8.%d.1" % k, "10.8.%d.2" % k, 4, deep8)
    fr.append(("8 nested IPv4-in-IPv4", eth(0x0800) + deep8, "flow"))
    return fr


def check_bad(program, work, checks):
    frames = bad_frames()
    cap = os.path.join(work, "bad", "bad_tunnels.pcap")
    os.makedirs(os.path.dirname(cap), exist_ok=True)
    write_pcap(cap, [f for _, f, _ in frames])
    outcomes = [o for _, _, o in frames]
    want = {"packets": len(frames),
            "ip": sum(o in ("flow", "bad_tunnel") for o in outcomes),
            "non_ip": outcomes.count("non_ip"),
            "malformed": outcomes.count("malformed") + outcomes.count("depth"),
            "decap_depth": outcomes.count("depth"),
            "bad_tunnel": outcomes.count("bad_tunnel")}
    # The oracle must agree with the hand-written outcomes (it reads tshark).
    exp = expect_tshark.expect(cap)
    have = {"packets": exp.frames, "ip": exp.ip, "non_ip": exp.non_ip,
            "malformed": exp.malformed, "decap_depth": exp.decap_depth,
            "bad_tunnel": exp.bad_tunnel}
    checks.ok(have == want and not exp.undecoded,
              "(d) oracle on the bad frames: %s, by hand %s%s" % (have, want,
                                                                  exp.undecoded or ""))
    for workers in (1, 2):
        rc, rows, stats, err = run(program, cap, ["--workers", str(workers)])
        got = {k: stats.get(k) for k in want}
        checks.ok(rc == 0 and got == want, "(d) bad frames, %d worker(s): program %s, want %s" % (
            workers, got, want))
    print("(d) %d crafted frames: %s" % (len(frames), " ".join("%s=%d" % kv for kv in want.items())))
    # Each bad frame alone, so a wrong counter names its frame.
    for name, fr, outcome in frames:
        one = os.path.join(work, "bad", "one.pcap")
        write_pcap(one, [fr])
        rc, rows, stats, err = run(program, one)
        want1 = {"ip": int(outcome in ("flow", "bad_tunnel")),
                 "non_ip": int(outcome == "non_ip"),
                 "malformed": int(outcome in ("malformed", "depth")),
                 "decap_depth": int(outcome == "depth"),
                 "bad_tunnel": int(outcome == "bad_tunnel")}
        got1 = {k: stats.get(k) for k in want1}
        checks.ok(rc == 0 and got1 == want1, "(d) %s: program %s, want %s" % (name, got1, want1))
    return os.path.dirname(cap)


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pcaps-root", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--keep", default=None, help="write the built captures here and keep them")
    ap.add_argument("--only", default="a,b,c,d")
    ap.add_argument("program")
    opt = ap.parse_args()
    parts = set(opt.only.split(","))
    if shutil.which("tshark") is None:
        print("tunnels: SKIP: tshark not installed")
        return 77
    root = os.path.normpath(opt.pcaps_root)
    if not all(os.path.isdir(os.path.join(root, d)) for d in ("pcaps", "pcaps-tcpdump")):
        print("tunnels: SKIP: no shared captures in %s (pcaps/, pcaps-tcpdump/)" % root)
        return 77
    work = opt.keep or tempfile.mkdtemp(prefix="dv-tunnels.")
    os.makedirs(work, exist_ok=True)
    checks = Checks()
    try:
        # One folder per shared folder, files under their own names (replay.py's
        # EXCEPTIONS are by name).
        names = set(TUNNEL_CAPTURES)
        for d in ("pcaps", "pcaps-tcpdump"):
            for f in os.listdir(os.path.join(root, d)):
                if TUNNEL_NAME.search(f) and not f.endswith(".md"):
                    names.add("%s/%s" % (d, f))
        tdirs = []
        for d in ("pcaps", "pcaps-tcpdump"):
            tdir = os.path.join(work, "shared-" + d)
            os.makedirs(tdir, exist_ok=True)
            tdirs.append(tdir)
            for rel in sorted(n for n in names if n.startswith(d + "/")):
                src = os.path.join(root, rel)
                dst = os.path.join(tdir, os.path.basename(rel))
                if os.path.exists(src) and not os.path.lexists(dst):
                    os.symlink(src, dst)
        if "a" in parts:
            for tdir in tdirs:
                for w in (1, 2):
                    checks.ok(replay(opt.program, tdir, ["--workers", str(w)], label="(a) "),
                              "(a) tunnel captures of %s against tshark, %d worker(s)" % (
                                  os.path.basename(tdir), w))
        built = bad = None
        if "b" in parts:
            built = check_built(opt.program, root, work, checks)
            for w in (1, 2):
                checks.ok(replay(opt.program, built, ["--workers", str(w)], label="(b) "),
                          "(b) built captures against tshark, %d worker(s)" % w)
        if "c" in parts:
            for d in tdirs + ([built] if built else []):
                for w in (1, 2):
                    checks.ok(replay(opt.program, d, ["--workers", str(w)], decap="off",
                                     label="(c) "),
                              "(c) --decap off on %s, %d worker(s)" % (os.path.basename(d), w))
        if "d" in parts:
            bad = check_bad(opt.program, work, checks)
            checks.ok(replay(opt.program, bad, [], label="(d) "), "(d) bad frames against tshark")
    finally:
        if not opt.keep:
            shutil.rmtree(work, ignore_errors=True)
    if checks.failed:
        print("tunnels: FAIL: %d of %d checks failed" % (len(checks.failed),
                                                        len(checks.failed) + checks.passed))
        return 1
    print("tunnels: pass (%d checks)" % checks.passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
