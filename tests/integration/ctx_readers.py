#!/usr/bin/env python3
"""ctx_readers: the payload readers of issue 19 against tshark, on every shared capture.

    ctx_readers.py [--pcaps DIR] [--only SUBSTR] [-v] DRIVER

DRIVER is tests/tools/ctx_readers_drv (the readers of lib/ on hex payloads).
For each capture in DIR (default ../shared/pcaps) tshark 4.x reads every
frame with a TCP or UDP payload (its payload bytes, its reassembly, the
ClientHello's server name, the request's Host, the QUIC connection), and the
readers read the same bytes:

- TLS (dv_tls_sni): each frame where tshark shows a ClientHello over TCP.
  The reader is fed as the packet path feeds it: the first segment of the
  message (tshark's tcp.segment list, or the frame itself), and while it
  answers MORE the next segments appended until the bytes it asked for are
  there. Compared with tshark's first tls.handshake.extensions_server_name
  (none: the reader must say NONE).
- HTTP (dv_http_host): each frame where tshark shows an HTTP request, on
  the payload of the segment where the request starts. Compared with
  tshark's first http.host, without the whitespace tshark keeps after the
  value (RFC 9110 5.5: not part of it). A request whose Host line is not
  in that first segment is counted as "MORE" (the reader cannot see it).
- QUIC (dv_quic_sni, version 1 and drafts 23-32): per QUIC connection (tshark's quic.connection.number),
  the reader on each long-header Initial datagram in order; its first name
  against tshark's first server name of the connection. A connection whose
  first client Initial answers MORE had its ClientHello's SNI in a later
  datagram (counted: "spans datagrams").

Counted apart, not compared: names tshark prints differently (bytes
outside printable ASCII or a '\\', which the readers escape); QUIC of
other versions than 1 and drafts 23 to 32 (gQUIC, mvfst's, older
drafts: the reader does not read them); a
ClientHello or request that does not start its payload (a PROXY protocol
line before it, a ChangeCipherSpec before a second ClientHello, a request
after the end of an earlier one in the same segment: the packet path
reads a flow's first payloads from their start).

Prints per reader: checked, matched, MORE, mismatched and the reasons not
compared; with -v each mismatch names the capture and frame. Exit 0 when
nothing mismatched and something was checked, 1 otherwise, 77 without
captures or tshark.
"""

import argparse
import collections
import concurrent.futures
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

FIELDS = [
    "frame.number", "tcp.stream", "tcp.payload", "udp.payload", "tcp.segment",
    "tls.handshake.type", "tls.handshake.extensions_server_name",
    "http.request.method", "http.host", "quic.connection.number",
    "quic.long.packet_type", "quic.version",
]
SEP = "\x1f"  # tshark's aggregator between a field's occurrences


def tshark_frames(path):
    cmd = ["tshark", "-r", path, "-n", "-Y", "tcp.len > 0 || udp", "-T", "fields",
           "-E", "separator=\t", "-E", "aggregator=" + SEP, "-E", "occurrence=a"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape")
    rows = []
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) != len(FIELDS):
            continue
        rows.append({f: [v for v in c.split(SEP)] if c else [] for f, c in zip(FIELDS, cols)})
    return rows


def printable(s):
    return all(0x20 <= ord(c) < 0x7f and c != "\\" for c in s)


class Driver:
    """Batches of (reader, bytes) through the C driver."""

    def __init__(self, exe):
        self.exe = exe

    def run(self, items):
        if not items:
            return []
        text = "".join("%s %s\n" % (k, b.hex()) for k, b in items)
        out = subprocess.run([self.exe], input=text, capture_output=True, text=True, check=True)
        res = []
        for line in out.stdout.split("\n")[:len(items)]:
            rc, need, name = line.split("\t", 2)
            res.append((int(rc), int(need), name))
        if len(res) != len(items):
            raise RuntimeError("driver answered %d of %d" % (len(res), len(items)))
        return res


FOUND, NONE, MORE, BAD = 1, 0, 2, -1


def last_bytes(vals):
    return bytes.fromhex(vals[-1].replace(":", "")) if vals and vals[-1] else b""


def check_tls(drv, rows, payload, st, notes, name):
    """Each ClientHello over TCP, fed segment by segment as the packet path does."""
    for r in rows:
        if "1" not in ",".join(r["tls.handshake.type"]).split(",") or not r["tcp.stream"]:
            continue
        fno = int(r["frame.number"][0])
        segs = [int(s) for s in r["tcp.segment"]] or [fno]
        if len(set(r["tcp.stream"])) > 1:
            st["tls"]["not compared: tunnel with two TCP layers"] += 1
            continue
        want = r["tls.handshake.extensions_server_name"][0] if r[
            "tls.handshake.extensions_server_name"] else ""
        data, i = payload.get(segs[0], b""), 1
        rc, need, got = drv.run([("T", data)])[0]
        while rc == MORE and i < len(segs):
            while i < len(segs) and len(data) < need:
                data += payload.get(segs[i], b"")
                i += 1
            rc, need, got = drv.run([("T", data)])[0]
        if rc == BAD and data[:1] != b"\x16":
            # a PROXY protocol line or STARTTLS text first, or a
            # ChangeCipherSpec before a second ClientHello (after a
            # HelloRetryRequest): the packet path reads payloads from
            # their start, and the flow's first ClientHello
            st["tls"]["not compared: the payload does not start with a handshake record"] += 1
            notes.append("tls: %s frame %s: not at the payload's start (tshark %r)" %
                         (name, fno, want))
            continue
        compare(st["tls"], notes, name, fno, rc, got, want)


def check_http(drv, rows, payload, st, notes, name):
    """Each request, on the segment where it starts."""
    items = []
    for r in rows:
        if not r["http.request.method"] or not r["tcp.stream"]:
            continue
        fno = int(r["frame.number"][0])
        segs = [int(s) for s in r["tcp.segment"]] or [fno]
        want = r["http.host"][0].rstrip(" \t") if r["http.host"] else ""
        data = payload.get(segs[0], b"")
        if not data.startswith(r["http.request.method"][0].encode() + b" "):
            # the request follows other bytes in its segment (the end of
            # an earlier message): the packet path reads a flow's first
            # payloads from their start
            st["http"]["not compared: the request does not start the segment"] += 1
            continue
        items.append((fno, len(segs) > 1, want, data))
    res = drv.run([("H", it[3]) for it in items])
    for (fno, split, want, data), (rc, _need, got) in zip(items, res):
        if rc == BAD and split and want:
            rc = MORE  # the Host line is in a later segment
        compare(st["http"], notes, name, fno, rc, got, want)


def check_quic(drv, rows, st, notes, name):
    """Per connection: the first name the reader finds among its Initials."""
    conns = collections.OrderedDict()
    for r in rows:
        if not r["quic.connection.number"] or not r["udp.payload"]:
            continue
        c = conns.setdefault(r["quic.connection.number"][0],
                             {"frames": [], "want": None, "versions": set()})
        if c["want"] is None and r["tls.handshake.extensions_server_name"]:
            c["want"] = (r["tls.handshake.extensions_server_name"][0], int(r["frame.number"][0]))
        if "0" in r["quic.long.packet_type"]:
            c["frames"].append((int(r["frame.number"][0]), last_bytes(r["udp.payload"])))
            c["versions"].add(r["quic.version"][0] if r["quic.version"] else "?")
    for cid, c in conns.items():
        res = drv.run([("Q", p) for _f, p in c["frames"]])
        found = next(((f, x) for (f, _p), x in zip(c["frames"], res) if x[0] == FOUND), None)
        more = any(x[0] == MORE for x in res)
        if res and res[0][0] == MORE:
            st["quic"]["spans datagrams (first client Initial MORE)"] += 1
        if c["want"] is None and found is None:
            continue  # no name on either side (server-only captures, no Initial)
        if not all(read_version(v) for v in c["versions"]):
            st["quic"]["not compared: version %s" % ",".join(sorted(c["versions"]))] += 1
            continue
        want, wframe = c["want"] if c["want"] else ("", None)
        if found is not None:
            compare(st["quic"], notes, name, found[0], FOUND, found[1][2], want)
        else:
            compare(st["quic"], notes, name, wframe, MORE if more else BAD, "", want)


def read_version(v):
    """Version 1 and the drafts 23 to 32 (dv_quic.c's salts)."""
    try:
        n = int(v, 16)
    except ValueError:
        return False
    return n == 1 or 0xff000017 <= n <= 0xff000020


def compare(s, notes, name, fno, rc, got, want):
    who = s["_who"]
    if want and not printable(want) or "\\" in got:
        s["not compared: name tshark prints differently"] += 1
        return
    s["checked"] += 1
    if rc == FOUND and got == want or rc == NONE and want == "":
        s["matched"] += 1
    elif rc == MORE and want:
        s["MORE"] += 1
        notes.append("%s: %s frame %s: MORE (tshark %r)" % (who, name, fno, want))
    elif rc == BAD and want == "":
        s["matched"] += 1  # no name from either (e.g. SSLv2-style hello)
        s["of which both no name, reader BAD"] += 1
        notes.append("%s: %s frame %s: no name, reader BAD" % (who, name, fno))
    else:
        s["mismatched"] += 1
        notes.append("%s: %s frame %s: MISMATCH reader %d %r, tshark %r" %
                     (who, name, fno, rc, got, want))


def one_capture(drv, path):
    name = os.path.basename(path)
    rows = tshark_frames(path)
    payload = {}
    for r in rows:
        fno = int(r["frame.number"][0])
        payload[fno] = last_bytes(r["tcp.payload"]) if r["tcp.payload"] else b""
    st = {k: collections.Counter() for k in ("tls", "http", "quic")}
    for k in st:
        st[k]["_who"] = k
    notes = []
    check_tls(drv, rows, payload, st, notes, name)
    check_http(drv, rows, payload, st, notes, name)
    check_quic(drv, rows, st, notes, name)
    return name, st, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcaps", default=os.path.join(REPO, "..", "shared", "pcaps"))
    ap.add_argument("--only")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("driver")
    a = ap.parse_args()
    if shutil.which("tshark") is None:
        print("ctx_readers: skipped: tshark not installed")
        return 77
    if not os.path.isdir(a.pcaps):
        print("ctx_readers: skipped: no captures at %s" % a.pcaps)
        return 77
    files = sorted(os.path.join(a.pcaps, f) for f in os.listdir(a.pcaps)
                   if f.endswith((".pcap", ".pcapng")) and (not a.only or a.only in f))
    drv = Driver(a.driver)
    total = {k: collections.Counter() for k in ("tls", "http", "quic")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for name, st, notes in ex.map(lambda p: one_capture(drv, p), files):
            for k in total:
                total[k].update({x: v for x, v in st[k].items() if x != "_who"})
            for n in notes:
                if a.v or "MISMATCH" in n:
                    print(n)
    bad = 0
    for k, label in (("tls", "TLS SNI"), ("quic", "QUIC SNI"), ("http", "HTTP Host")):
        s = total[k]
        print("%-9s %s checked=%d matched=%d MORE=%d mismatched=%d" %
              (label, "connections" if k == "quic" else "frames", s["checked"], s["matched"],
               s["MORE"], s["mismatched"]))
        for r in sorted(x for x in s
                        if x not in ("checked", "matched", "MORE", "mismatched", "_who")):
            print("          %s: %d" % (r, s[r]))
        bad += s["mismatched"]
    print("ctx_readers: %d captures, %s" % (len(files), "FAIL" if bad else "ok"))
    checked = sum(total[k]["checked"] for k in total)
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
