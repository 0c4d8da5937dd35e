#!/usr/bin/env python3
"""Seed corpora and dictionaries for the fuzz harnesses (scripts/fuzz).

    make_seeds.py OUTDIR CAPTURE_DIR...

Writes OUTDIR/<target>/ seed files and OUTDIR/<target>.dict:
  parse    one per distinct frame: link type index byte + frame (first 4 KiB)
  flow     per capture, windows of up to 64 consecutive frames in the
           harness's format: ctl (time step in 250 ms units), link type
           index, u16 length, frame (first 256 bytes: the headers)
  reader   per capture, the file cut after the records that fit in 16 KiB
           (pcap: header + records; pcapng: whole blocks)
  options  command lines, environments and config files (config/devourer.conf
           and the forms the integration tests use)
  spool    segments of records encoded from dv_spool.h's format, whole,
           cut and damaged, with each mode bit
  bq       token answers and Google error bodies (fuzz_bq.c's modes)
The link type index is the position in tests/fuzz/fuzz_common.h's list.
Captures are read here (pcap and pcapng, both byte orders), not by tshark,
so a capture tshark rejects still gives its frames.
"""
import hashlib
import os
import re
import struct
import sys

LINKTYPES = [0, 1, 101, 108, 113, 228, 229, 276]  # fuzz_common.h's order
MAX_FRAME_PARSE = 4096
MAX_FRAME_FLOW = 256
FLOW_WINDOW = 64
READER_BYTES = 16384
FRAMES_PER_FILE = 200  # parse seeds: the first frames of each capture


def read_capture(data):
    """(linktype, [(ts_ns, frame)]) of a pcap or pcapng; frames up to the
    first damage; linktype None if the file is neither."""
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                 b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xd4, 0x4d) else ">"
        nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        lt = struct.unpack(e + "I", data[20:24])[0] & 0xffff
        frames, off = [], 24
        while off + 16 <= len(data):
            sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
            if incl > 262144 or off + 16 + incl > len(data):
                break
            ts = sec * 10**9 + (frac if nano else frac * 1000)
            frames.append((ts, data[off + 16:off + 16 + incl]))
            off += 16 + incl
        return lt, frames
    if magic == b"\x0a\x0d\x0d\x0a":
        return read_pcapng(data)
    return None, []


def read_pcapng(data):
    frames, links, e, off, lt = [], [], "<", 0, None
    while off + 12 <= len(data):
        if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 8:  # interface description
            links.append((struct.unpack(e + "H", body[:2])[0], 6))
            # if_tsresol option
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    links[-1] = (links[-1][0], body[o + 4])
                o += 4 + ((olen + 3) & ~3)
        elif btype == 6 and len(body) >= 20:  # enhanced packet
            ifid, hi, lo, cap, _orig = struct.unpack(e + "IIIII", body[:20])
            if ifid < len(links):
                l, res = links[ifid]
                lt = l if lt is None else lt
                t = (hi << 32) | lo
                ts = t * 10**9 // (2**(res & 0x7f) if res & 0x80 else 10**res)
                frames.append((ts, body[20:20 + cap]))
        elif btype == 3 and len(body) >= 4 and links:  # simple packet
            lt = links[0][0] if lt is None else lt
            frames.append((0, body[4:]))
        off += blen
    return lt, frames


def cut_capture(data, limit):
    """The file cut after the records (pcap) or blocks (pcapng) within limit."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 12 <= len(data):
            blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
            if blen < 12 or off + blen > limit:
                break
            off += blen
        return data[:max(off, min(len(data), 64))]
    e = "<" if data[0] in (0xd4, 0x4d) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        if off + 16 + incl > limit:
            break
        off += 16 + incl
    return data[:off]


class Out:
    def __init__(self, root, target):
        self.dir = os.path.join(root, target)
        os.makedirs(self.dir, exist_ok=True)
        self.seen = set()

    def add(self, data):
        h = hashlib.sha1(data).hexdigest()
        if h in self.seen:
            return
        self.seen.add(h)
        with open(os.path.join(self.dir, h), "wb") as f:
            f.write(data)


def flow_seed(idx, frames):
    out, prev = bytearray(), None
    for i, (ts, fr) in enumerate(frames):
        step = 0 if prev is None else min(max(ts - prev, 0) // 250000000, 127)
        prev = ts
        ctl = step | (0x80 if i % 16 == 15 else 0)
        fr = fr[:MAX_FRAME_FLOW]
        out += bytes([ctl, idx]) + struct.pack("<H", len(fr)) + fr
    return bytes(out)


def captures(root, dirs):
    parse, flow, reader = Out(root, "parse"), Out(root, "flow"), Out(root, "reader")
    for d in dirs:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            lt, frames = read_capture(data)
            if lt is None:
                continue
            reader.add(cut_capture(data, READER_BYTES))
            if lt not in LINKTYPES:
                continue
            idx = LINKTYPES.index(lt)
            heads = set()
            for _ts, fr in frames[:FRAMES_PER_FILE]:
                head = fr[:96]
                if head not in heads:
                    heads.add(head)
                    parse.add(bytes([idx]) + fr[:MAX_FRAME_PARSE])
            for start in range(0, min(len(frames), 4 * FLOW_WINDOW), FLOW_WINDOW):
                flow.add(flow_seed(idx, frames[start:start + FLOW_WINDOW]))


def options(root, src):
    out = Out(root, "options")
    conf = open(os.path.join(src, "config", "devourer.conf"), "rb").read()
    live = b"\n".join(l.lstrip(b"# ") for l in conf.splitlines() if re.match(rb"# [a-z-]+ = ", l))
    seeds = [
        b"--read\nx.pcap",
        b"-r\nx.pcap\n-r\ny.pcapng\n--workers\n2",
        b"capture\n-s\n--bq-project-id\np\n--bq-dataset-id\nd",
        b"--bq-project\nP\n--bq-dataset\nD\n--bq-sa-key-file\nkey.json",
        b"--output\nstdout,file\n--write-file\nout.ndjson\n--flow-timeout\n500ms",
        b"--drain-spool\n--bq-project=p\n--bq-dataset=d\n--spool-dir=s",
        b"-i\neth0\n--clock\npacket\n--stat-interval\n0\n--max-flows\n1024",
        b"--bq-sa-key-data\n{\"type\":\"service_account\",\"private_key\":\"SECRETSECRET\"}\n--bq-sa-key-file\nk",
        b"--help", b"--version", b"-s", b"c\n-s\n5s",
        b"%%\nFLOW_TIMEOUT=5s\nTCP_CLOSE_TIMEOUT=20s\nBQ_PROJECT_ID=p\nBIGQUERY_DATASET_ID=d",
        b"--read\nx.pcap\n%%\nREAD=y.pcap\nSHOW_STATS=true\n%%\nread = z.pcap\nread = w.pcap\n",
        b"--read\nx.pcap\n%%\n%%\n" + conf,
        b"--read\nx.pcap\n%%\n%%\n" + live + b"\n",
        b"--read\nx.pcap\n%%\n%%\nflow-timeout = 5s\ntcp-close-timeout = 20s # comment\nsensor = \"a # b\"\n",
        b"--read\nx.pcap\n%%\n%%\nbq-sa-key-data = 'SECRETSECRETSECRET'\nbq-sa-key-file = k\n",
        b"%%\n%%\nwrite-ahead = false\nspool-commit-interval = 0\nspool-max-bytes = 10GiB\n",
    ]
    for s in seeds:
        out.add(s)
    names = re.findall(r'OPT\("([a-z0-9-]+)"', open(os.path.join(src, "app", "options.c")).read())
    with open(os.path.join(root, "options.dict"), "w") as f:
        for n in names:
            f.write('"--%s"\n"%s = "\n"%s="\n' % (n, n, n.upper().replace("-", "_")))
        for w in ["%%", "ms", "us", "ns", "KiB", "MiB", "GiB", "MB", "true", "false",
                  "stdout", "file", "bigquery", "ip-l4", "auto", "packet", "system",
                  "metadata", "none", "key", "capture", "#", "\\\"", "'",
                  "DEVOURER_CONFIG", "BIGQUERY_", "SA_KEY_DATA"]:
            f.write('"%s"\n' % w)


def crc32c(b):
    crc = 0xffffffff
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff


def record(rid, row):
    payload = struct.pack("<H", len(rid)) + rid + row
    ln = struct.pack("<I", len(payload))
    return b"DVR1" + ln + struct.pack("<I", crc32c(ln + payload)) + payload


def spool(root):
    out = Out(root, "spool")
    row = (b'{"id":"0d7c9a5e-5a1b-4d7e-9b1c-2f3e4d5c6b7a","protocol":"tcp",'
           b'"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","src_port":1234,"dst_port":443}')
    recs = [record(b"0d7c9a5e:%d" % i, row) for i in range(5)]
    segs = [b"".join(recs[:n]) for n in range(6)]
    segs += [segs[3][:-7], segs[3] + b"garbage", b"xx" + segs[2], recs[0] + b"\0" * 40 + recs[1],
             segs[2][:20] + b"Z" + segs[2][21:], record(b"", b"")]
    for s in segs:
        for mode in (0, 1, 4, 5):
            out.add(bytes([mode]) + s)
        out.add(bytes([2, 1, 0x05]) + s)
        out.add(bytes([6, 1, 0xff]) + s)
    with open(os.path.join(root, "spool.dict"), "w") as f:
        f.write('"DVR1"\n"DVA1"\n"\\x00\\x00\\x10\\x00"\n"{}"\n')


def bq(root):
    """Answers as the BigQuery side sends them (tests/bq/bqdouble.py's forms and
    Google's documented ones): mode 0 token answers with a status byte, mode 1
    error bodies, mode 2 insertAll answers, mode 3 AppendRowsResponse bytes,
    mode 4 tables.get answers (fuzz_bq.c's modes)."""
    out = Out(root, "bq")
    tokens = [
        b'{"access_token":"ya29.c.b0Aaekm1K","expires_in":3599,"token_type":"Bearer"}',
        b'{"access_token":"tok-1","expires_in":300}',
        b'{"access_token":"","expires_in":3600}',
        b'{"access_token":"a b","expires_in":3600}',
        b'{"access_token":"abcdefgh","expires_in":-5}',
        b'{"access_token":12,"expires_in":"x"}',
        b'{"error":"invalid_grant","error_description":"Invalid JWT Signature."}',
        b'{"error":"internal_failure","error_description":"try again"}',
        b'{"access_token":"abcdefghij"', b"", b"null", b"[]",
    ]
    for status in range(8):
        for t in tokens:
            out.add(bytes([0, status]) + t)
    errors = [
        b'{"error":{"code":404,"message":"Not found: Dataset p:d","errors":[{"message":'
        b'"Not found","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}',
        b'{"error":{"code":503,"message":"The service is currently unavailable.\nRetry",'
        b'"errors":[{"reason":"backendError"}],"status":"UNAVAILABLE"}}',
        b'{"error":"invalid_grant","error_description":"Bad\r\nRequest"}',
        b'{"error":{"errors":[]}}', b'{"error":{"errors":[{"reason":7}]}}', b"<html>",
    ]
    for e in errors:
        out.add(bytes([1]) + e)
        out.add(bytes([0, 1]) + e)
    # Mode 2: insertAll answers (status byte, row-count byte, body).
    inserts = [
        b'{"kind":"bigquery#tableDataInsertAllResponse"}',
        b'{"insertErrors":[{"index":0,"errors":[{"reason":"invalid","location":"src_port",'
        b'"message":"no such field."}]},{"index":1,"errors":[{"reason":"stopped"}]}]}',
        b'{"insertErrors":[{"index":2,"errors":[{"reason":"backendError"}]},'
        b'{"index":2,"errors":[{"reason":"invalid"}]},{"index":-1},{"index":99}]}',
        b'{"insertErrors":[{"index":0,"errors":[{"reason":"timeout"},{"reason":"invalid"}]}]}',
        b'{"insertErrors":{"index":0}}', b'{"insertErrors":[{"index":"0","errors":7}]}',
    ]
    for status in (0, 1, 3, 4, 6):
        for body in inserts + errors:
            out.add(bytes([2, status, 3]) + body)
            out.add(bytes([2, status, 0]) + body)
    # Mode 3: AppendRowsResponse bytes (lib/bq/proto's field numbers).
    def varint(v):
        b = b""
        while True:
            b += bytes([(v & 0x7f) | (0x80 if v > 0x7f else 0)])
            v >>= 7
            if not v:
                return b
    def field(num, payload):
        return bytes([num << 3 | 2]) + varint(len(payload)) + payload
    def varint_field(num, v):
        return bytes([num << 3]) + varint(v)
    def storage_error(code):
        se = varint_field(1, code) + field(2, b"projects/p/streams/s") + field(3, b"offset")
        return field(1, b"type.googleapis.com/google.cloud.bigquery.storage.v1.StorageError") \
            + field(2, se)
    ok = field(1, field(1, varint_field(1, 500)))
    row_err = field(4, varint_field(1, 3) + varint_field(2, 1) + field(3, b"bad\nvalue"))
    answers = [
        ok, field(1, b""), row_err + row_err, ok + row_err,
        field(2, varint_field(1, 6) + field(2, b"already\r\nexists") + field(3, storage_error(8))),
        field(2, varint_field(1, 11) + field(3, storage_error(9))),
        field(2, varint_field(1, 5) + field(3, storage_error(3))),
        field(2, varint_field(1, 3) + field(2, b"extra fields: 'x'") + field(3, storage_error(7))),
        field(2, varint_field(1, 14) + field(2, b"unavailable")),
        field(2, varint_field(1, 0)), field(5, b"projects/p/streams/s"), b"", b"\xff\xff",
    ]
    for a in answers:
        out.add(bytes([3]) + a)
    # Mode 4: tables.get answers.
    tables = [
        b'{"schema":{"fields":[{"name":"id","type":"STRING","mode":"REQUIRED"}]}}',
        b'{"schema":{"fields":[{"name":"id","type":"INTEGER"}]}}',
        b'{"schema":{"fields":[{"name":"extra","type":"STRING","mode":"REQUIRED"}]}}',
        b'{"schema":{"fields":[{"name":"src_port","type":"INT64","mode":"REPEATED"}]}}',
        b'{"schema":{"fields":[{"name":"a\\nb","type":"STRING","mode":"REQUIRED"}]}}',
        b'{"schema":{"fields":[{"name":"id"},{"name":"id","type":"STRING"},7]}}',
        b'{"schema":{}}', b'{}', b'[]',
    ]
    for t in tables:
        out.add(bytes([4]) + t)
    with open(os.path.join(root, "bq.dict"), "w") as f:
        for w in ['"access_token"', '"expires_in"', '"token_type"', '"error"',
                  '"error_description"', '"message"', '"errors"', '"reason"', '"code"',
                  '"status"', '"insertErrors"', '"index"', '"location"', '"schema"', '"fields"',
                  '"name"', '"type"', '"mode"', '"REQUIRED"', '"REPEATED"', '"\\x5cn"', '"\\x5cr"', '"\\x5cu0000"', '"{"', '"}"', '"["', '"]"',
                  '":"', '","', '"null"', '"true"', '"1e999"', '"-1"']:
            f.write("%s\n" % w)


def dicts(root):
    with open(os.path.join(root, "packet.dict"), "w") as f:
        for w in ["\\x08\\x00", "\\x86\\xdd", "\\x81\\x00", "\\x88\\xa8", "\\x91\\x00",
                  "\\x88\\x47", "\\x88\\x64", "\\x88\\xbe", "\\x22\\xeb", "\\x65\\x58",
                  "\\x08\\x06", "\\x00\\x00\\x00\\x02", "\\x02\\x00\\x00\\x00",
                  "\\x00\\x00\\x00\\x18", "\\x18\\x00\\x00\\x00", "\\x00\\x00\\x00\\x1e",
                  "\\x45\\x00", "\\x46\\x00", "\\x4f\\x00", "\\x60\\x00\\x00\\x00",
                  "\\x20\\x00", "\\x3f\\xff", "\\x00\\x00", "\\x12\\xb5", "\\x17\\xc1",
                  "\\x08\\x68", "\\x00\\x00\\x01"]:
            f.write('"%s"\n' % w)
        # IP protocol numbers: TCP, UDP, ICMP, ICMPv6, SCTP, GRE, ESP, AH,
        # IPv6 extension headers (hop-by-hop, routing, fragment, dest opts),
        # IP-in-IP, IPv6-in-IP, no next header.
        for p in [6, 17, 1, 58, 132, 47, 50, 51, 0, 43, 44, 60, 4, 41, 59]:
            f.write('"\\x%02x"\n' % p)
    with open(os.path.join(root, "reader.dict"), "w") as f:
        for w in ["\\xd4\\xc3\\xb2\\xa1", "\\xa1\\xb2\\xc3\\xd4", "\\x4d\\x3c\\xb2\\xa1",
                  "\\x0a\\x0d\\x0d\\x0a", "\\x4d\\x3c\\x2b\\x1a", "\\x01\\x00\\x00\\x00",
                  "\\x06\\x00\\x00\\x00", "\\x03\\x00\\x00\\x00", "\\x05\\x00\\x00\\x00",
                  "\\x09\\x00\\x01\\x00", "\\x00\\x00\\x04\\x00", "\\xff\\xff\\xff\\xff",
                  "\\x71\\x00", "\\x14\\x01", "\\x65\\x00", "\\x6c\\x00"]:
            f.write('"%s"\n' % w)


def main():
    root, dirs = sys.argv[1], [d for d in sys.argv[2:] if os.path.isdir(d)]
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    captures(root, dirs)
    options(root, src)
    spool(root)
    bq(root)
    dicts(root)
    for t in ("parse", "flow", "reader", "options", "spool", "bq"):
        d = os.path.join(root, t)
        print("seeds %-8s %6d" % (t, len(os.listdir(d)) if os.path.isdir(d) else 0))


if __name__ == "__main__":
    main()
