"""live_signal: signals on a live run, and capture from a kernel interface.

1. SIGTERM (about 100K flows in the tables) and SIGINT (5K) while traffic
   flows (a second net_pcap port with infinite_rx=1), 2 workers: exit 0
   within 2 s of the signal, one row per flow key tshark finds in the
   inputs, every row end_reason "shutdown", every received IP packet in
   the rows.
2. SIGHUP with `-o file -w PATH` (log rotation): rows written before the
   rename stay in the renamed file, rows after the HUP land in a new file at
   PATH, nothing lost or doubled. Endless flows cut into segments by
   --active-timeout 1s keep rows coming before and after the HUP.
3. SIGTERM during start-up (a 4M-flow table takes about a second to set
   up, the signal comes 0.4 s after the start): exit 0, the log says it
   stopped during start-up, no rows.
   Before the handlers were installed first, this signal killed the
   process (status -15).
4. `-i IFACE` on a veth pair between two network namespaces made here:
   devourer (its own EAL defaults, 2 workers) and a python UDP echo run in
   one, a python sender in the other; the one row holds the datagrams both
   ways. Then the far end of the veth goes down and up: the log must say
   "port 0: Link down" and later "Link up" again. If namespaces cannot be
   made, cases 4-9 are skipped (the rest still runs) and the test exits 77,
   not 0; with CI=true that is a failure.
5. Ports that spread packets differently, on the same veth: an af_packet
   port (2 queue pairs: the kernel's fanout hash picks the worker) carries
   32 UDP datagrams one way, a net_pcap port (no RSS: worker 0 hands off by
   devourer's hash) the 32 answers, 2 workers. Each of the 32 flows must be
   one row holding both directions. Before devourer made all ports spread
   by one function, about half of them came out as two half-flows.
6. Two net_tap ports (kernel tap interfaces the PMD makes in the namespace
   of case 4), 2 workers, 32 flows between 32 address pairs: each flow is a
   UDP datagram and a datagram in two IPv4 fragments written into one tap's
   kernel side, then an answer written into the other's (raw packet
   sockets). Each flow must be one row with 3 packets one way and 1 the
   other, the first sender as src; both workers must have received frames
   from the kernel, both must have handed some to the other, and no port
   may be read by worker 0 alone. The kernel picks a tap queue by a hash
   with ports for a whole packet and without for a fragment: before each
   worker handed its tap packets to their owners by devourer's address
   hash, 11 of the 32 flows came out as two rows. Before net_tap got as
   many TX queues as RX queues, devourer could not configure it for 2
   workers ("cannot configure 2 RX queues").
7. `-i` on a VLAN trunk: 10 UDP frames tagged VLAN 100 written raw into
   the far end of the veth of case 4. The kernel moves the tag of every
   frame it hands to af_packet into metadata (and DPDK 22.11's PMD puts it
   back, as devourer asks for no VLAN stripping); the row must say VLAN 100
   and count each frame with its 4 tag bytes, as they were on the wire.
8. `-i` and long frames: af_packet hands devourer at most 1982 bytes of a
   frame. With the veth at MTU 1500 and GRO off, start-up says nothing
   about the interface; at MTU 9000 (and GRO on, when ethtool is there) it
   warns, and a 4042-byte frame is indeed counted as 1982 bytes.
9. af_packet overloaded: a net_af_packet port on the veth of case 4 with
   rings of 16 frames and 2 queue pairs, devourer's two workers and
   control lcore on one CPU, dpdk-testpmd (txonly, multi-flow) sending into
   the far end from the other CPU for 3 s once it sends. The rings
   overflow: every frame the interface counted must be received or in
   imissed (DPDK 22.11's PMD does not report the kernel's drops; devourer
   reads them from the sockets), and each flow must be one row although
   the kernel rolls packets over to another socket when a ring is full.
   Before: imissed 0 with 13-15 % of the frames gone, and 10 of 256 flows
   in two rows (-i). Without dpdk-testpmd this case is skipped: exit 77,
   with CI=true a failure.

Expected values come from tshark, the senders' own counts and frame sizes
computed from the headers, never from devourer's output.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib as L  # noqa: E402

NAME = "live_signal"


def gen(prog, d, packets, flows):
    path = os.path.join(d, "gen_%d_%d.pcap" % (packets, flows))
    subprocess.run([L.tool(prog, "gen_bench"), path, str(packets), str(flows), "64"],
                   check=True, capture_output=True, timeout=120)
    return path


def shutdown_case(prog, d, sig, big, rep):
    """Port 0 replays a capture of `big` (packets, flows) once; port 1 replays
    a small capture forever (the pcap PMD keeps it in mbufs, so it must fit
    the pool: 1000 frames), so traffic flows when the signal comes."""
    sname = signal.Signals(sig).name
    big_cap = gen(prog, d, big[0], big[1])
    small_cap = gen(prog, d, 1000, 500)
    keys = L.tshark_keys(big_cap) | L.tshark_keys(small_cap)
    frames = L.frame_count(big_cap)
    tag = "%s, %d flows, traffic flowing" % (sname, len(keys))
    rep.note("%s: %d flow keys by tshark in %s and %s" %
             (sname, len(keys), os.path.basename(big_cap), os.path.basename(small_cap)))
    prefix = L.new_prefix("sig")
    rows_path = os.path.join(d, "rows-%s.ndjson" % sname)
    proc = L.Proc([prog] + L.eal_args(prefix, mem=1024, vdevs=[
        "net_pcap0,rx_pcap=%s" % big_cap,
        "net_pcap1,rx_pcap=%s,infinite_rx=1" % small_cap]) +
        ["--", "--stat-interval", "0", "--max-flows", str(2 * len(keys) + 4096),
         "-o", "file", "-w", rows_path],
        os.path.join(d, "out-%s.txt" % sname), os.path.join(d, "err-%s.txt" % sname))

    def all_flows_seen():
        s = L.telemetry(prefix, "/devourer/stats", 5)
        if not proc.alive():
            return "exited"
        return s if s and s["flows_active"] == len(keys) and \
            s["rx_packets"] > frames + 10000 else None
    st = L.wait_for(all_flows_seen, 60, 0.3)
    rep.check(isinstance(st, dict), "%s: all flows active, port 1 still replaying" % tag,
              "%r; %s" % (st, proc.stderr()[-400:]))
    rc, secs = proc.stop(sig, 10)
    L.remove_runtime(prefix)
    rep.check(rc == 0, "%s: exit 0" % tag, "status %r; %s" % (rc, proc.stderr()[-600:]))
    rep.check(secs < 2.0, "%s: exited %.2fs after the signal (< 2 s)" % (tag, secs))
    rows = L.read_rows(rows_path) if os.path.exists(rows_path) else []
    got = set(L.key_sums(rows))
    bad = [r for r in rows if r["end_reason"] != "shutdown"]
    rep.check(len(rows) == len(keys) and got == keys and not bad,
              "%s: %d rows, one per tshark key, all end_reason shutdown" % (tag, len(rows)),
              "%d keys (%d missing, %d extra), %d not shutdown" %
              (len(got), len(keys - got), len(got - keys), len(bad)))
    fin = L.final_stats(proc.stderr()) or {}
    pkts = sum(r["src_packets"] + r["dst_packets"] for r in rows)
    rep.check(pkts == fin.get("ip") and pkts == fin.get("packets"),
              "%s: the rows hold every received packet (%d)" % (tag, pkts),
              "final line %r" % fin)


def hup_case(prog, d, rep):
    """Flows that never end, cut into segments every second by
    --active-timeout 1s, so rows keep coming before and after the HUP."""
    flows = 50
    cap = gen(prog, d, 1000, flows)  # infinite_rx holds it in mbufs
    prefix = L.new_prefix("hup")
    path = os.path.join(d, "flows.ndjson")
    proc = L.Proc([prog] + L.eal_args(prefix, lcores="0@0,1@1", vdevs=[
        "net_pcap0,rx_pcap=%s,infinite_rx=1" % cap]) +
        ["--", "--stat-interval", "0", "--active-timeout", "1s", "--max-flows", "4096",
         "-o", "file", "-w", path],
        os.path.join(d, "hup-out.txt"), os.path.join(d, "hup-err.txt"))

    def lines(p):
        try:
            with open(p) as f:
                return sum(1 for _ in f)
        except OSError:
            return 0
    # The file sink writes and syncs on its own timer: wait for a first
    # round of segments in the file, as logrotate would find it.
    ok = L.wait_for(lambda: lines(path) >= flows or not proc.alive(), 30, 0.2)
    rep.check(ok and proc.alive(), "SIGHUP: active segments reach the file before rotation",
              proc.stderr()[-400:])
    os.rename(path, path + ".1")
    proc.send(signal.SIGHUP)
    reopened = L.wait_for(lambda: os.path.exists(path), 5, 0.1)
    rep.check(reopened, "SIGHUP: a new file appears at PATH after the rename")
    time.sleep(1.5)  # more than one --active-timeout: segments after the HUP
    rc, secs = proc.stop(signal.SIGTERM, 10)
    L.remove_runtime(prefix)
    rep.check(rc == 0 and secs < 2.0, "SIGHUP: then SIGTERM: exit 0 in %.2fs" % secs,
              "status %r; %s" % (rc, proc.stderr()[-400:]))
    old = L.read_rows(path + ".1")
    new = L.read_rows(path) if os.path.exists(path) else []
    rep.note("renamed file %d rows, new file %d rows" % (len(old), len(new)))
    rep.check(old and all(r["end_reason"] == "active" for r in old),
              "SIGHUP: renamed file: only active segments from before the HUP",
              "reasons %r" % sorted({r["end_reason"] for r in old}))
    shut = [r for r in new if r["end_reason"] == "shutdown"]
    rep.check(len(shut) == flows and len({r["id"] for r in shut}) == flows and
              len(new) > flows,
              "SIGHUP: new file: more active segments and the %d shutdown rows" % flows,
              "%d rows, %d shutdown" % (len(new), len(shut)))
    segs = {}
    for where, rows in (("old", old), ("new", new)):
        for r in rows:
            segs.setdefault(r["id"], []).append((r["segment"], where))
    gaps = [i for i, v in segs.items()
            if sorted(x for x, _ in v) != list(range(len(v)))]
    rep.check(len(segs) == flows and not gaps,
              "SIGHUP: each of %d flows has segments 0..n across the two files, none "
              "lost or doubled" % flows, "%d ids, %d with gaps" % (len(segs), len(gaps)))
    order = [i for i, v in segs.items()
             if max([x for x, w in v if w == "old"], default=-1) >=
             min([x for x, w in v if w == "new"], default=1 << 30)]
    rep.check(not order, "SIGHUP: every segment in the old file precedes those in the new",
              "%d flows out of order" % len(order))
    fin = L.final_stats(proc.stderr()) or {}
    rep.check(fin.get("rows") == len(old) + len(new),
              "SIGHUP: rows in both files == the final stats line's rows",
              "final %r" % fin.get("rows"))


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(20)
for _ in range(int(sys.argv[3])):
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

UDP_SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(2)
got = 0
for i in range(int(sys.argv[5])):
    s.sendto(bytes([i]) * int(sys.argv[6]), (sys.argv[3], int(sys.argv[4])))
    try:
        s.recvfrom(2048)
        got += 1
    except socket.timeout:
        pass
print(got)
"""


def netns_case(prog, d, rep):
    tag = "-i veth"
    pid = os.getpid()
    ns1, ns2 = "dvlive-cap-%d" % pid, "dvlive-ping-%d" % pid
    va, vb = "dvla%d" % (pid % 100000), "dvlb%d" % (pid % 100000)

    def ip(*args, check=True):
        return subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                              timeout=20, check=check)
    try:
        ip("netns", "add", ns1)
    except (subprocess.CalledProcessError, OSError) as e:
        rep.skip("cases 4-9 (-i veth, af_packet + pcap, net_tap, VLAN, long frames, "
                 "af_packet overloaded)", "cannot create a network namespace (%s)" %
                 (getattr(e, "stderr", "") or e).strip())
        return False
    try:
        ip("netns", "add", ns2)
        ip("link", "add", va, "type", "veth", "peer", "name", vb)
        ip("link", "set", va, "netns", ns1)
        ip("link", "set", vb, "netns", ns2)
        for ns, dev, addr in ((ns1, va, "10.199.7.1/24"), (ns2, vb, "10.199.7.2/24")):
            # No IPv6 on the link, so its only IP traffic is what we send.
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.%s.disable_ipv6=1" % dev], timeout=20)
            ip("-n", ns, "addr", "add", addr, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        rows_path = os.path.join(d, "veth.ndjson")
        # No EAL options: devourer builds its own (SPEC 1), an af_packet vdev
        # with a queue pair per worker and the file prefix devourer-<pid>
        # (`ip netns exec` execs, so the pid is devourer's).
        proc = L.Proc(["ip", "netns", "exec", ns1, prog, "-i", va, "--workers", "2",
                       "--stat-interval", "0", "--max-flows", "4096"],
                      rows_path, os.path.join(d, "veth-err.txt"))
        prefix = "devourer-%d" % proc.pid
        up = L.wait_telemetry(prefix, proc, 30)
        rep.check(up is not None, "%s: devourer runs on %s in netns %s" % (tag, va, ns1),
                  proc.stderr()[-500:])
        # No ping on a minimal system: a UDP echo in python, with fixed ports.
        count, payload = 5, 100
        echo = L.Proc(["ip", "netns", "exec", ns1, sys.executable, "-c", UDP_ECHO,
                       "10.199.7.1", "5555", str(count)],
                      os.path.join(d, "echo-out.txt"), os.path.join(d, "echo-err.txt"))
        time.sleep(0.5)
        send = subprocess.run(["ip", "netns", "exec", ns2, sys.executable, "-c", UDP_SEND,
                               "10.199.7.2", "5556", "10.199.7.1", "5555", str(count),
                               str(payload)], capture_output=True, text=True, timeout=30)
        echo.stop(signal.SIGTERM, 5)
        got = int(send.stdout.strip() or 0)
        rep.check(got == count, "%s: %d UDP datagrams from %s echoed back: %d" %
                  (tag, count, ns2, got), send.stderr[-300:])
        # 14 Ethernet + 20 IPv4 + 8 UDP + payload.
        frame = 14 + 20 + 8 + payload
        L.wait_rx(prefix, proc, count + got, 10, key="ip_packets")
        # The far end goes down and comes back: the log says both (DPDK
        # 22.11's af_packet PMD always says up; devourer asks the kernel).
        ip("-n", ns2, "link", "set", vb, "down")
        down = L.wait_for(lambda: "port 0: Link down" in proc.stderr(), 5)
        ip("-n", ns2, "link", "set", vb, "up")
        back = L.wait_for(lambda: proc.stderr().count("port 0: Link up") >= 2, 5)
        rep.check(down and back, "%s: the log says when %s loses its link and when it is "
                  "back" % (tag, va), proc.stderr()[-500:])
        rc, secs = proc.stop(signal.SIGTERM, 10)
        rep.check(rc == 0 and secs < 2.0, "%s: exit 0 in %.2fs after SIGTERM" % (tag, secs),
                  "status %r; %s" % (rc, proc.stderr()[-500:]))
        rep.check(not os.path.exists(L.runtime_dir(prefix)),
                  "%s: devourer removed its runtime dir %s" % (tag, L.runtime_dir(prefix)))
        L.remove_runtime(prefix)
        rows = L.read_rows(rows_path)
        sums = L.key_sums(rows)
        key = (17, None, ("10.199.7.1", 5555), ("10.199.7.2", 5556))
        want = {("10.199.7.2", 5556): [count, count * frame],
                ("10.199.7.1", 5555): [got, got * frame]}
        rep.check(sums.get(key) == want,
                  "%s: udp row 10.199.7.2:5556 <-> 10.199.7.1:5555: %d and %d packets of "
                  "%d bytes" % (tag, count, got, frame),
                  "got %r (all keys %r)" % (sums.get(key), sorted(sums)))
        rep.check(all(r["end_reason"] == "shutdown" for r in rows) and len(rows) == 1,
                  "%s: that is the only row, end_reason shutdown" % tag,
                  repr(rows)[:400])

        # With EAL options the user picks the lcores: -i still gets one
        # queue pair per worker lcore (2 here), not --workers' default 1.
        prefix = L.new_prefix("veth-eal")
        proc = L.Proc(["ip", "netns", "exec", ns1, prog] + L.eal_args(prefix) +
                      ["--", "-i", va, "--stat-interval", "0", "--max-flows", "4096"],
                      os.path.join(d, "veth-eal.ndjson"), os.path.join(d, "veth-eal-err.txt"))
        up = L.wait_telemetry(prefix, proc, 30)
        ws = L.telemetry(prefix, "/devourer/workers") if up else None
        rxq = sorted(w.get("rx_queues") for w in ws.values()) if isinstance(ws, dict) else None
        rep.check(rxq == [1, 1], "%s: with EAL options --lcores 0@0,1@1,2@1, each of the 2 "
                  "workers polls its own af_packet queue" % tag,
                  "rx_queues per worker %r; %s" % (rxq, proc.stderr()[-400:]))
        rc, secs = proc.stop(signal.SIGTERM, 10)
        rep.check(rc == 0, "%s: exit 0 after SIGTERM" % tag,
                  "status %r; %s" % (rc, proc.stderr()[-400:]))
        L.remove_runtime(prefix)
        mixed_ports_case(prog, d, rep, ns1, ns2, va)
        tap_case(prog, d, rep, ns1)
        vlan_case(prog, d, rep, ns1, ns2, va, vb)
        long_frames_case(prog, d, rep, ns1, ns2, va, vb)
        overload_case(prog, d, rep, ns1, ns2, va, vb)
        return True
    finally:
        ip("netns", "del", ns1, check=False)
        ip("netns", "del", ns2, check=False)


UDP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(20)
for _ in range(int(sys.argv[3])):
    s.recvfrom(2048)
"""

UDP_SPRAY = """
import socket, sys
n, size = int(sys.argv[4]), int(sys.argv[5])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 7000 + i))
    s.sendto(bytes([i]) * size, (sys.argv[2], int(sys.argv[3])))
    s.close()
print(n)
"""


def ipv4_frame(src, dst, proto, payload, ident=0, frag=0):
    """Ethernet II / IPv4 (header checksum set) bytes around payload; frag is
    the flags and fragment offset field."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = sum(struct.unpack("!10H", hdr))
    c = (c & 0xffff) + (c >> 16)
    c = (c & 0xffff) + (c >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~c & 0xffff) + hdr[12:]
    eth = bytes.fromhex("020000000001" "020000000002" "0800")  # dst, src, IPv4
    return eth + hdr + payload


def ipv4_udp_frame(src, sport, dst, dport, payload):
    """Ethernet II / IPv4 / UDP (checksum 0) bytes."""
    return ipv4_frame(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) +
                      payload)


def ipv4_udp_fragments(src, sport, dst, dport, payload, ident, first=104):
    """One UDP datagram as two IPv4 fragments (Ethernet II frames): the
    first carries the UDP header and first-8 payload bytes (first: a
    multiple of 8), the second the rest."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return [ipv4_frame(src, dst, 17, udp[:first], ident, 1 << 13),  # more fragments
            ipv4_frame(src, dst, 17, udp[first:], ident, first // 8)]


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i, len(fr), len(fr)))
            f.write(fr)


def whole_flows(rows_path, n, frame, initiator_port=False, src_frames=None):
    """The UDP rows of the n flows port 7000+i <-> port 6000, and how many of
    the flows are one row with one packet of `frame` bytes each way (with
    src_frames, the list of frame sizes one way instead; with
    initiator_port, also with port 7000+i as the source)."""
    one_way = src_frames if src_frames is not None else [frame]
    rows = [r for r in L.read_rows(rows_path)
            if r["ip_protocol"] == 17 and 6000 in (r["src_port"], r["dst_port"])]
    whole = 0
    for i in range(n):
        mine = [r for r in rows if 7000 + i in (r["src_port"], r["dst_port"])]
        if len(mine) == 1 and mine[0]["src_packets"] == len(one_way) \
                and mine[0]["dst_packets"] == 1 \
                and mine[0]["src_bytes"] == sum(one_way) and mine[0]["dst_bytes"] == frame \
                and (not initiator_port or mine[0]["src_port"] == 7000 + i):
            whole += 1
    return rows, whole


def mixed_ports_case(prog, d, rep, ns1, ns2, va):
    tag = "af_packet + pcap"
    n, payload = 32, 100
    frame = 14 + 20 + 8 + payload
    answers = os.path.join(d, "answers.pcap")
    write_pcap(answers, [ipv4_udp_frame("10.199.7.1", 6000, "10.199.7.2", 7000 + i,
                                        bytes([i]) * payload) for i in range(n)])
    prefix = L.new_prefix("veth-mixed")
    rows_path = os.path.join(d, "mixed.ndjson")
    proc = L.Proc(["ip", "netns", "exec", ns1, prog] +
                  L.eal_args(prefix, vdevs=("net_af_packet0,iface=%s,qpairs=2" % va,
                                            "net_pcap0,rx_pcap=%s" % answers)) +
                  ["--", "--stat-interval", "0", "--max-flows", "4096"],
                  rows_path, os.path.join(d, "mixed-err.txt"))
    up = L.wait_telemetry(prefix, proc, 30)
    rep.check(up is not None, "%s: devourer runs with both ports" % tag, proc.stderr()[-500:])
    sink = L.Proc(["ip", "netns", "exec", ns1, sys.executable, "-c", UDP_SINK,
                   "10.199.7.1", "6000", str(n)],
                  os.path.join(d, "sink-out.txt"), os.path.join(d, "sink-err.txt"))
    time.sleep(0.5)
    subprocess.run(["ip", "netns", "exec", ns2, sys.executable, "-c", UDP_SPRAY,
                    "10.199.7.2", "10.199.7.1", "6000", str(n), str(payload)],
                   capture_output=True, text=True, timeout=30)
    sink.stop(signal.SIGTERM, 5)
    L.wait_rx(prefix, proc, 2 * n, 10, key="ip_packets")
    rc, _ = proc.stop(signal.SIGTERM, 10)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM" % tag, "status %r; %s" % (rc, proc.stderr()[-400:]))
    L.remove_runtime(prefix)
    rows, whole = whole_flows(rows_path, n, frame)
    rep.check(whole == n and len(rows) == n,
              "%s: each of the %d flows is one row with one %d-byte packet each way "
              "(2 workers): %d of %d" % (tag, n, frame, whole, n),
              "%d rows: %r" % (len(rows), rows[:4]))
    rep.check("spreads packets by" in proc.stderr(),
              "%s: the log says why every port is read by worker 0" % tag,
              proc.stderr()[-400:])


def vlan_case(prog, d, rep, ns1, ns2, va, vb):
    tag = "-i on a VLAN trunk"
    n, payload = 5, 100
    untagged = ipv4_udp_frame("10.199.10.2", 5556, "10.199.10.1", 5555, bytes(payload))
    # The same frame with an 802.1Q tag, VLAN 100, after the addresses.
    tagged = untagged[:12] + bytes.fromhex("81000064") + untagged[12:]
    prefix = L.new_prefix("vlan")
    rows_path = os.path.join(d, "vlan.ndjson")
    proc = L.Proc(["ip", "netns", "exec", ns1, prog] +
                  L.eal_args(prefix, vdevs=("net_af_packet0,iface=%s,qpairs=2" % va,)) +
                  ["--", "--stat-interval", "0", "--max-flows", "4096"],
                  rows_path, os.path.join(d, "vlan-err.txt"))
    up = L.wait_telemetry(prefix, proc, 30)
    rep.check(up is not None, "%s: devourer runs on %s" % (tag, va), proc.stderr()[-500:])
    # Written raw into the far end of the veth.
    sent, err = raw_send(ns2, [(vb, tagged)] * (2 * n))
    rep.check(sent == 2 * n, "%s: %d frames tagged VLAN 100 written" % (tag, 2 * n), err[-300:])
    L.wait_rx(prefix, proc, 2 * n, 10, key="ip_packets")
    rc, _ = proc.stop(signal.SIGTERM, 10)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM" % tag, "status %r; %s" % (rc, proc.stderr()[-400:]))
    L.remove_runtime(prefix)
    frame = len(tagged)  # 14 Ethernet + 4 tag + 20 IPv4 + 8 UDP + payload
    rows = [r for r in L.read_rows(rows_path) if r["ip_protocol"] == 17]
    want = [(100, "10.199.10.2", 5556, 2 * n, 2 * n * frame)]
    have = [(r["vlan_id"], r["src_addr"], r["src_port"], r["src_packets"], r["src_bytes"])
            for r in rows]
    rep.check(have == want,
              "%s: one row, VLAN 100, %d packets of %d bytes (tag included)" %
              (tag, 2 * n, frame), "got %r" % have)


def long_frames_case(prog, d, rep, ns1, ns2, va, vb):
    tag = "-i and long frames"
    big = ipv4_udp_frame("10.199.7.2", 5557, "10.199.7.1", 5558, bytes(4000))

    def run(label, send):
        rows_path = os.path.join(d, "long-%s.ndjson" % label)
        proc = L.Proc(["ip", "netns", "exec", ns1, prog, "-i", va, "--workers", "2",
                       "--stat-interval", "0", "--max-flows", "4096"],
                      rows_path, os.path.join(d, "long-%s-err.txt" % label))
        prefix = "devourer-%d" % proc.pid
        up = L.wait_telemetry(prefix, proc, 30)
        if up is not None and send:
            raw_send(ns2, [(vb, big)] * 2)
            L.wait_rx(prefix, proc, 2, 10, key="ip_packets")
        rc, _ = proc.stop(signal.SIGTERM, 10)
        L.remove_runtime(prefix)
        rep.check(up is not None and rc == 0, "%s: devourer -i %s (%s) ran and exited 0" %
                  (tag, va, label), proc.stderr()[-400:])
        return proc.stderr(), L.read_rows(rows_path)

    err, _ = run("mtu1500", False)
    rep.check("--interface" not in err, "%s: at MTU 1500, GRO off: no warning about the "
              "interface" % tag, err[-400:])
    for ns, dev in ((ns1, va), (ns2, vb)):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "9000"], timeout=20)
    gro = shutil.which("ethtool") is not None and subprocess.run(
        ["ip", "netns", "exec", ns1, "ethtool", "-K", va, "gro", "on"],
        capture_output=True, timeout=20).returncode == 0
    err, rows = run("mtu9000", True)
    rep.check("MTU 9000" in err and (not gro or "generic receive offload is on" in err),
              "%s: at MTU 9000%s: start-up warns" % (tag, ", GRO on" if gro else ""),
              err[-600:])
    udp = [(r["src_packets"], r["src_bytes"]) for r in rows if r["ip_protocol"] == 17]
    rep.check(udp == [(2, 2 * 1982)],
              "%s: two %d-byte frames are counted as 2 packets of 1982 bytes, as warned" %
              (tag, len(big)), "got %r" % udp)
    for ns, dev in ((ns1, va), (ns2, vb)):
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "1500"], timeout=20)


def iface_rx_packets(ns, dev):
    """The kernel's RX packet counter of dev in namespace ns."""
    r = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", dev],
                       capture_output=True, text=True, timeout=20, check=True)
    return json.loads(r.stdout)[0]["stats64"]["rx"]["packets"]


def overload_case(prog, d, rep, ns1, ns2, va, vb):
    tag = "af_packet overloaded"
    if shutil.which("dpdk-testpmd") is None:
        rep.skip(tag, "dpdk-testpmd is not installed (Debian package dpdk)")
        return
    # Rings of 16 frames, and devourer's two workers and control lcore on
    # one CPU while testpmd sends from the other: the sockets' rings fill.
    prefix = L.new_prefix("overload")
    rows_path = os.path.join(d, "overload.ndjson")
    before = iface_rx_packets(ns1, va)
    proc = L.Proc(["ip", "netns", "exec", ns1, prog] +
                  L.eal_args(prefix, lcores="0@1,1@1,2@1",
                             vdevs=("net_af_packet0,iface=%s,qpairs=2,framecnt=16" % va,)) +
                  ["--", "--stat-interval", "0", "--max-flows", "65536"],
                  rows_path, os.path.join(d, "overload-err.txt"))
    up = L.wait_telemetry(prefix, proc, 30)
    rep.check(up is not None, "%s: devourer runs on %s, 2 workers on one CPU" % (tag, va),
              proc.stderr()[-500:])
    if up is None:
        proc.stop(signal.SIGTERM, 10)
        L.remove_runtime(prefix)
        return
    tp_prefix = L.new_prefix("overload-tp")
    tp = L.Proc(["ip", "netns", "exec", ns2, "dpdk-testpmd", "--no-huge", "-m", "1024",
                 "--no-pci", "--file-prefix", tp_prefix, "-l", "0,1", "--main-lcore", "1",
                 "--log-level=lib.*:error", "--vdev", "net_af_packet0,iface=%s" % vb, "--",
                 "--forward-mode=txonly", "--txonly-multi-flow", "--txpkts=64",
                 "--total-num-mbufs=16384", "--auto-start"],
                os.path.join(d, "overload-tp.txt"), os.path.join(d, "overload-tp-err.txt"),
                stdin=subprocess.PIPE)
    # The 3 s of flood count from testpmd's first frames: its start-up can
    # take seconds on a loaded machine (a CI run once saw 32 frames in all).
    sending = L.wait_for(lambda: iface_rx_packets(ns1, va) - before > 1000, 30)
    rep.check(sending, "%s: dpdk-testpmd sends into %s" % (tag, vb), tp.stderr()[-400:])
    time.sleep(3)
    tp.stop(signal.SIGINT, 10)
    L.remove_runtime(tp_prefix)
    arrived = iface_rx_packets(ns1, va) - before
    # Everything that arrived is either received or counted as missed.
    L.wait_for(lambda: (lambda s: isinstance(s, dict) and
                        s.get("rx_packets", 0) + s.get("imissed", 0) >= arrived)(
                            L.telemetry(prefix, "/devourer/stats")), 10)
    rc, _ = proc.stop(signal.SIGTERM, 10)
    L.remove_runtime(prefix)
    err = proc.stderr()
    fin = L.final_stats(err) or {}
    rx, missed = fin.get("packets", -1), fin.get("imissed", -1)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM" % tag, "status %r; %s" % (rc, err[-400:]))
    rep.check(missed > 0, "%s: the 16-frame rings overflowed (imissed %d of %d frames)" %
              (tag, missed, arrived), err[-400:])
    rep.check(arrived > 0 and rx + missed == arrived,
              "%s: received + imissed == the %d frames the interface counted: %d + %d" %
              (tag, arrived, rx, missed), err[-400:])
    rows = L.read_rows(rows_path)
    per_key = {}
    for r in rows:
        k = (r["ip_protocol"],) + tuple(sorted([(r["src_addr"], r["src_port"]),
                                                (r["dst_addr"], r["dst_port"])]))
        per_key[k] = per_key.get(k, 0) + 1
    split = sorted(k for k, c in per_key.items() if c > 1)
    rep.check(rows and not split,
              "%s: each of the %d flows is one row (the kernel rolls packets over to "
              "another socket when a ring is full): %d in more than one" %
              (tag, len(per_key), len(split)), repr(split[:3]))
    in_rows = sum(r["src_packets"] + r["dst_packets"] for r in rows)
    rep.check(in_rows == fin.get("ip", -2),
              "%s: the rows hold every received IP packet: %d" % (tag, in_rows),
              "rows %d, ip %r" % (in_rows, fin.get("ip")))


RAW_SEND = """
import socket, sys
socks, sent = {}, 0
for line in sys.stdin:
    iface, frame = line.split()
    if iface not in socks:
        socks[iface] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        socks[iface].bind((iface, 0))
    socks[iface].send(bytes.fromhex(frame))
    sent += 1
print(sent)
"""


def raw_send(ns, sends):
    """Write each (interface, frame) of sends, in order, raw into its
    interface in namespace ns; returns the number the sender wrote."""
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", RAW_SEND],
                       input="".join("%s %s\n" % (i, f.hex()) for i, f in sends),
                       capture_output=True, text=True, timeout=30)
    return int(r.stdout.strip() or 0), r.stderr


def tap_case(prog, d, rep, ns):
    tag = "net_tap x 2"
    n, payload = 32, 100
    frame = 14 + 20 + 8 + payload
    ta, tb = "dvta%d" % (os.getpid() % 10000), "dvtb%d" % (os.getpid() % 10000)
    # No IPv6 on the new interfaces: their only IP traffic is what we send.
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                    "net.ipv6.conf.default.disable_ipv6=1"], timeout=20)
    prefix = L.new_prefix("tap")
    rows_path = os.path.join(d, "tap.ndjson")
    proc = L.Proc(["ip", "netns", "exec", ns, prog] +
                  L.eal_args(prefix, vdevs=("net_tap0,iface=%s" % ta, "net_tap1,iface=%s" % tb)) +
                  ["--", "--stat-interval", "0", "--max-flows", "4096"],
                  rows_path, os.path.join(d, "tap-err.txt"))
    up = L.wait_telemetry(prefix, proc, 30)
    rep.check(up is not None, "%s: devourer runs with two net_tap ports and 2 workers" % tag,
              proc.stderr()[-500:])
    if up is None:
        proc.stop(signal.SIGTERM, 10)
        L.remove_runtime(prefix)
        return
    # Flow i: 10.199.8.(10+i):7000+i -> 10.199.8.1:6000, a whole datagram
    # and one in two fragments, then the answer. Many address pairs, so that
    # both workers own flows (devourer's hash is on addresses only).
    # The answers go out only once devourer has the requests: the two taps
    # are two ports, polled in turn, so frames written into both at once
    # could be read answers first (and the rows' initiators would differ).
    asks, frags = [], []
    for i in range(n):
        src = "10.199.8.%d" % (10 + i)
        asks.append((ta, ipv4_udp_frame(src, 7000 + i, "10.199.8.1", 6000,
                                        bytes([i]) * payload)))
        frags = ipv4_udp_fragments(src, 7000 + i, "10.199.8.1", 6000, bytes([i]) * 200,
                                   ident=100 + i)
        asks += [(ta, f) for f in frags]
    one_way = [frame] + [len(f) for f in frags]
    sent, err = raw_send(ns, asks)
    L.wait_rx(prefix, proc, len(asks), 10, key="ip_packets")
    sent_b, err_b = raw_send(ns, [(tb, ipv4_udp_frame("10.199.8.1", 6000, "10.199.8.%d" % (10 + i),
                                                      7000 + i, bytes([i]) * payload))
                                  for i in range(n)])
    sent, err = sent + sent_b, err + err_b
    total = len(asks) + n
    rep.check(sent == total, "%s: %d frames written into the taps" % (tag, total), err[-300:])
    L.wait_rx(prefix, proc, total, 10, key="ip_packets")
    ws = L.telemetry(prefix, "/devourer/workers")
    ws = list(ws.values()) if isinstance(ws, dict) else []
    per = sorted(w.get("rx_packets", 0) for w in ws)
    rxq = sorted(w.get("rx_queues") for w in ws)
    handed = sorted(w.get("handed_off", 0) for w in ws)
    rep.check(rxq == [2, 2] and len(per) == 2 and per[0] > 0 and sum(per) == total,
              "%s: each worker polls one queue of each tap, and both received some of "
              "the %d frames" % (tag, total),
              "rx_queues %r, rx_packets %r" % (rxq, per))
    rep.check(len(handed) == 2 and handed[0] > 0,
              "%s: each worker handed packets to the other" % tag, "handed_off %r" % handed)
    rc, _ = proc.stop(signal.SIGTERM, 10)
    rep.check(rc == 0, "%s: exit 0 after SIGTERM" % tag, "status %r; %s" % (rc, proc.stderr()[-400:]))
    L.remove_runtime(prefix)
    rows, whole = whole_flows(rows_path, n, frame, initiator_port=True, src_frames=one_way)
    rep.check(whole == n and len(rows) == n,
              "%s: each of the %d flows is one row, %d packets of %r bytes one way and "
              "one %d-byte packet back, the first sender first: %d of %d" %
              (tag, n, len(one_way), one_way, frame, whole, n),
              "%d rows: %r" % (len(rows), rows[:4]))
    rep.check("spreads packets by" not in proc.stderr() and
              "redirection table" not in proc.stderr(),
              "%s: no port is read by worker 0 alone, and no RSS table to check" % tag,
              proc.stderr()[-400:])


def start_up_case(prog, d, rep):
    tag = "SIGTERM during start-up"
    prefix = L.new_prefix("sigstart")
    rows_path = os.path.join(d, "rows-start.ndjson")
    small_cap = gen(prog, d, 1000, 500)
    proc = L.Proc([prog] + L.eal_args(prefix, mem=1024, vdevs=[
        "net_pcap0,rx_pcap=%s,infinite_rx=1" % small_cap]) +
        ["--", "--stat-interval", "0", "--max-flows", str(4 << 20),
         "-o", "file", "-w", rows_path],
        os.path.join(d, "out-start.txt"), os.path.join(d, "err-start.txt"))
    time.sleep(0.4)
    rc, secs = proc.stop(signal.SIGTERM, 30)
    err = proc.stderr()
    rep.check(rc == 0, "%s: exit 0 (%.2fs after the signal)" % (tag, secs),
              "status %r; %s" % (rc, err[-600:]))
    rep.check("during start-up" in err, "%s: the log says it stopped during start-up" % tag,
              err[-600:])
    rows = L.read_rows(rows_path) if os.path.exists(rows_path) else []
    rep.check(rows == [], "%s: no rows" % tag, repr(rows)[:300])
    L.remove_runtime(prefix)


def main():
    if len(sys.argv) < 2:
        print("usage: live_signal.py PROGRAM")
        return 2
    prog = os.path.abspath(sys.argv[1])
    rep = L.Report(NAME)
    d = L.tmpdir("signal")
    only = sys.argv[2:]
    if not only or "term" in only:
        shutdown_case(prog, d, signal.SIGTERM, (200000, 100000), rep)
    if not only or "int" in only:
        shutdown_case(prog, d, signal.SIGINT, (20000, 5000), rep)
    if not only or "hup" in only:
        hup_case(prog, d, rep)
    if not only or "start" in only:
        start_up_case(prog, d, rep)
    veth = "not run"
    if not only or "veth" in only:
        veth = "ran" if netns_case(prog, d, rep) else "skipped (no netns)"
    shutil.rmtree(d, ignore_errors=True)
    return rep.finish("; -i veth %s" % veth)


if __name__ == "__main__":
    sys.exit(main())
