#!/usr/bin/env python3
"""replay_live: send the frames of real captures onto a network interface at
a steady packet rate, over and over, until SIGTERM, so a live dpdk-devourer
on the other end of a veth pair sees traffic (and exports rows) for as long
as a fault scenario lasts.

    replay_live.py [--record FILE] IFACE PPS CAPTURE...

Captures are converted to classic pcap with editcap (pcapng too); only
Ethernet captures are used, and frames longer than the interface MTU + 14
are skipped (TSO captures). Each pass over the captures is a new set of
flows for a receiver whose idle timeout is shorter than the pass. Prints the
frames sent on exit. With --record, every frame actually sent is also
written to FILE (classic pcap), so a test can take the flows it expects from
tshark over exactly what went on the wire. Python stdlib only (AF_PACKET).
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import livelib  # noqa: E402  (read_pcap: one classic-pcap reader for the tests)


def frames_of(path, tmp, maxlen):
    out = os.path.join(tmp, "c.pcap")
    subprocess.run(["editcap", "-F", "pcap", path, out], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hdr, recs = livelib.read_pcap(out)
    except ValueError:
        return []
    end = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack(end + "I", hdr[20:24])[0] != 1:
        return []
    return [r[16:] for r in recs if 14 <= len(r) - 16 <= maxlen]


def main():
    args = sys.argv[1:]
    record = None
    if args[:1] == ["--record"]:
        record, args = open(args[1], "wb"), args[2:]
        record.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    iface, pps, caps = args[0], float(args[1]), args[2:]
    mtu = int(open("/sys/class/net/%s/mtu" % iface).read())
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in caps:
            frames += frames_of(c, tmp, mtu + 14)
    if not frames:
        sys.exit("replay_live: no Ethernet frames in %s" % " ".join(caps))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    gap = 1.0 / pps
    t = time.monotonic()
    while not stop:
        for fr in frames:
            if stop:
                break
            try:
                s.send(fr)
                sent += 1
                if record:
                    now = time.time()
                    record.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), len(fr),
                                             len(fr)) + fr)
            except OSError:
                pass
            t += gap
            d = t - time.monotonic()
            if d > 0:
                time.sleep(d)
    if record:
        record.close()
    print("replay_live: %d frames sent" % sent, flush=True)


if __name__ == "__main__":
    main()
