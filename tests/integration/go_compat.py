"""go_compat: the Go devourer's command lines, run unchanged (issue 24).

The program is installed (`meson install --destdir` of PROGRAM's build
directory) and run by the name `devourer`, the link the install makes.
Two network namespaces are made here: the capture namespace holds one end
of a veth pair, the BigQuery test double (tests/bq/run-double.sh: its own
CA and a service-account key whose token_uri is the double) on its
loopback, and devourer; the other namespace holds the far end, where
frames are written raw. Frames going the other way are written raw into
the near end. Nothing touches the host's own interfaces.

1. The Go README's command line, verbatim (its "$ " prompt dropped, the
   placeholders filled in, "exec" before it so devourer is the process
   stopped by PID):
       devourer capture -i <interface> --bq-project-id <project-id>
           --bq-dataset <dataset-name> --bq-sa-key-file <key-file>
   The Go command line has no endpoint flag, so the double's address and
   CA come as DEVOURER_BQ_ENDPOINT and DEVOURER_BQ_CA_FILE, and the spool
   as DEVOURER_SPOOL_DIR (a temporary directory, not /var/lib).
2. The README's environment form: DEVOURER_BQ_PROJECT_ID,
   DEVOURER_BQ_DATASET, DEVOURER_BQ_SA_KEY_FILE exported, then
   `devourer capture -i <interface>`.
3. `devourer c -i IFACE -o file -w FILE -s`, with DEVOURER_STAT_INTERVAL=0
   in the environment so a statistics line can only come from -s: rows in
   FILE, and at least one periodic statistics line on stderr within 15 s.

In each case three flows are written (a UDP exchange, a TCP handshake, an
ICMP echo, each starting from the far end) and devourer is stopped with
SIGTERM. The rows (in the double's table p:d.flow_logs for 1 and 2, in
FILE for 3) must be exactly those three flows, with the endpoints, packets,
bytes (frame lengths) and TCP flags of the frames built here, status
established and end_reason shutdown; the start-up line naming the Go
command line must be on stderr. Expected values come from the frames this
script builds, never from devourer's output.

Usage: go_compat.py PROGRAM (PROGRAM is <build>/app/dpdk-devourer).
Exit 0 pass, 77 skip (not root, no network namespaces, or the build was
configured with -Ddevourer_link=false), 1 fail.
"""
import calendar
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livelib as L  # noqa: E402

NAME = "go_compat"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The Go tool's README (github.com/m-mizutani/devourer, "Run"), verbatim.
GO_README_RUN = r"""$ devourer capture -i <interface> \
    --bq-project-id <project-id> \
    --bq-dataset <dataset-name> \
    --bq-sa-key-file <service-account-key-file>
"""
GO_README_ENV = """$ export DEVOURER_BQ_PROJECT_ID=<project-id>
$ export DEVOURER_BQ_DATASET=<dataset-name>
$ export DEVOURER_BQ_SA_KEY_FILE=<service-account-key-file>
$ devourer capture -i <interface>
"""
GO_LINE = "the Go devourer's command line"
STATS_LINE = re.compile(r"^dpdk-devourer: rx \d+ pps", re.M)

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


def shell_script(readme, values):
    """The README's commands as a bash script: prompts dropped,
    placeholders filled in, the last command run by exec."""
    text = readme
    for k, v in values.items():
        text = text.replace("<%s>" % k, v)
    assert "<" not in text, text
    cmds = [ln[2:] if ln.startswith("$ ") else ln for ln in text.splitlines()]
    # The last command starts at the last line that is not a continuation.
    last = max(i for i, ln in enumerate(cmds)
               if i == 0 or not cmds[i - 1].endswith("\\"))
    cmds[last] = "exec " + cmds[last]
    return "\n".join(cmds) + "\n"


# ---------------------------------------------------------------- frames

def ipv4(src, dst, proto, l4):
    """Ethernet II / IPv4 (header checksum set) around an L4 payload."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = sum(struct.unpack("!10H", hdr))
    c = (c & 0xffff) + (c >> 16)
    c = (c & 0xffff) + (c >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~c & 0xffff) + hdr[12:]
    return bytes.fromhex("020000000001" "020000000002" "0800") + hdr + l4


def udp(src, sport, dst, dport, payload):
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def tcp(src, sport, dst, dport, flags, payload=b"", syn_options=False):
    opts = bytes.fromhex("020405b4" "01030307" "0101" "0402") if syn_options else b""
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000 if flags & 0x10 else 0,
                      off << 4, flags, 65535, 0, 0) + opts + payload
    return ipv4(src, dst, 6, seg)


def icmp_echo(src, dst, reply):
    return ipv4(src, dst, 1, struct.pack("!BBHHH", 0 if reply else 8, 0, 0, 7, 1) + bytes(56))


SYN, ACK = 0x02, 0x10


def traffic(net):
    """Three phases of frames for subnet 10.201.<net>.0/24: (far, near,
    far) lists; far frames come from the far end (the initiators), near
    ones are the answers. Returns the phases and the rows they must make,
    keyed by protocol."""
    a, b = "10.201.%d.2" % net, "10.201.%d.1" % net  # initiator, responder
    u_req = [udp(a, 5556, b, 5555, bytes([i]) * 100) for i in range(3)]
    u_rep = [udp(b, 5555, a, 5556, bytes([i]) * 100) for i in range(2)]
    syn = tcp(a, 40000, b, 80, SYN, syn_options=True)
    synack = tcp(b, 80, a, 40000, SYN | ACK, syn_options=True)
    ack = tcp(a, 40000, b, 80, ACK, b"GET / HTTP/1.0\r\n\r\n\r\n")
    ping, pong = icmp_echo(a, b, False), icmp_echo(b, a, True)
    phases = [u_req + [syn, ping], u_rep + [synack, pong], [ack]]

    def row(proto, ip_proto, sport, dport, fwd, back, sflags=None, dflags=None):
        return {"protocol": proto, "ip_protocol": ip_proto,
                "src_addr": a, "src_port": sport, "dst_addr": b, "dst_port": dport,
                "src_packets": len(fwd), "src_bytes": sum(len(f) for f in fwd),
                "dst_packets": len(back), "dst_bytes": sum(len(f) for f in back),
                "src_tcp_flags": sflags, "dst_tcp_flags": dflags, "vlan_id": None,
                "status": "established", "end_reason": "shutdown", "segment": 0}
    want = {
        "udp": row("udp", 17, 5556, 5555, u_req, u_rep),
        "tcp": row("tcp", 6, 40000, 80, [syn, ack], [synack], SYN | ACK, SYN | ACK),
        "icmp4": row("icmp4", 1, 0, 0, [ping], [pong]),
    }
    return phases, want


# ------------------------------------------------------------ the rig

class Rig:
    def __init__(self, d):
        pid = os.getpid()
        self.d = d
        self.ns_cap, self.ns_far = "dvgo-cap-%d" % pid, "dvgo-far-%d" % pid
        self.near, self.far = "dvgn%d" % (pid % 100000), "dvgf%d" % (pid % 100000)
        self.double = None
        self.info = None

    def ip(self, *args, check=True):
        return subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                              timeout=20, check=check)

    def make_netns(self):
        self.ip("netns", "add", self.ns_cap)
        self.ip("netns", "add", self.ns_far)
        self.ip("link", "add", self.near, "type", "veth", "peer", "name", self.far)
        self.ip("link", "set", self.near, "netns", self.ns_cap)
        self.ip("link", "set", self.far, "netns", self.ns_far)
        for ns, dev in ((self.ns_cap, self.near), (self.ns_far, self.far)):
            # No addresses and no IPv6: the only IP frames are the ones written here.
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                            "net.ipv6.conf.%s.disable_ipv6=1" % dev], timeout=20, check=True)
            self.ip("-n", ns, "link", "set", dev, "up")
        self.ip("-n", self.ns_cap, "link", "set", "lo", "up")

    def start_double(self):
        """run-double.sh in the capture namespace; it holds the double until
        our pipe to it closes (also if this script dies)."""
        info = os.path.join(self.d, "double-info")
        self.double = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_cap, os.path.join(ROOT, "tests/bq/run-double.sh"),
             "sh", "-c", 'printf "%s %s\\n" "$DV_BQ_TEST_DIR" "$DV_BQ_TEST_PORT" >"$1.tmp" && '
             'mv "$1.tmp" "$1" && read x', "sh", info],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.d, "double-err.txt"), "wb"))
        if not L.wait_for(lambda: os.path.exists(info) or self.double.poll() is not None, 60):
            return False
        if not os.path.exists(info):
            return False
        dbl_dir, port = open(info).read().split()
        self.info = {"dir": dbl_dir, "port": int(port)}
        return True

    def stop_double(self):
        if self.double is None:
            return
        self.double.stdin.close()
        try:
            self.double.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.double.pid, signal.SIGKILL)
            self.double.wait(timeout=10)
        self.double = None

    def rows_in_double(self):
        r = subprocess.run(
            ["ip", "netns", "exec", self.ns_cap, "curl", "-sf", "--cacert",
             os.path.join(self.info["dir"], "ca-a.pem"),
             "https://127.0.0.1:%d/_double/rows?table=p:d.flow_logs" % self.info["port"]],
            capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        return [json.loads(ln)["json"] for ln in r.stdout.splitlines() if ln.strip()]

    def send(self, ns, dev, frames):
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", RAW_SEND],
                           input="".join("%s %s\n" % (dev, f.hex()) for f in frames),
                           capture_output=True, text=True, timeout=30)
        return int(r.stdout.strip() or 0)

    def cleanup(self):
        self.stop_double()
        self.ip("netns", "del", self.ns_cap, check=False)
        self.ip("netns", "del", self.ns_far, check=False)


def link_option(prog):
    """The build's devourer_link option (True, False, or None if unknown)."""
    r = subprocess.run(["meson", "introspect", "--buildoptions", L.build_dir(prog)],
                       capture_output=True, text=True, timeout=60)
    try:
        return [o["value"] for o in json.loads(r.stdout) if o["name"] == "devourer_link"][0]
    except (ValueError, IndexError, KeyError):
        return None


def install(prog, d):
    """meson install of PROGRAM's build directory into d; the bin
    directory holding the devourer link, or (None, why)."""
    build = L.build_dir(prog)
    dest = os.path.join(d, "dest")
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return None, "meson install failed: " + (r.stdout + r.stderr)[-600:]
    for top, _, files in os.walk(dest):
        if "dpdk-devourer" in files:
            return top, None
    return None, "meson install put no dpdk-devourer under " + dest


def check_rows(rep, tag, rows, want, t0, t1):
    """rows must be exactly the flows of want (by protocol), each as built."""
    by_proto = {}
    for r in rows:
        by_proto.setdefault(r.get("protocol"), []).append(r)
    rep.check(sorted(by_proto) == sorted(want) and all(len(v) == 1 for v in by_proto.values()),
              "%s: one row for each of the %d flows written (%s)" %
              (tag, len(want), ", ".join(sorted(want))),
              "rows by protocol: %r" % {k: len(v) for k, v in by_proto.items()})
    for proto, w in sorted(want.items()):
        got = by_proto.get(proto, [{}])[0]
        diff = {k: (got.get(k), v) for k, v in w.items()
                if (int(got[k]) if isinstance(v, int) and got.get(k) is not None
                    else got.get(k)) != v}
        rep.check(not diff, "%s: %s row %s:%d -> %s:%d, %d/%d packets, %d/%d bytes%s" %
                  (tag, proto, w["src_addr"], w["src_port"], w["dst_addr"], w["dst_port"],
                   w["src_packets"], w["dst_packets"], w["src_bytes"], w["dst_bytes"],
                   ", flags 0x%02x/0x%02x" % (w["src_tcp_flags"], w["dst_tcp_flags"])
                   if w["src_tcp_flags"] is not None else ""),
                  "(got, want) %r" % diff)
        ok_time = False
        try:
            first, last = (calendar.timegm(time.strptime(got[k][:19], "%Y-%m-%dT%H:%M:%S"))
                           for k in ("first_seen_at", "last_seen_at"))
            ok_time = t0 - 2 <= first <= last <= t1 + 2 and \
                re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                             got.get("id", "")) is not None
        except (KeyError, TypeError, ValueError):
            pass
        rep.check(ok_time, "%s: %s row has a v4 UUID id and times within the run" % (tag, proto),
                  "id %r, %r .. %r, run %.0f .. %.0f" % (got.get("id"), got.get("first_seen_at"),
                                                       got.get("last_seen_at"), t0, t1))


def run_case(rep, rig, tag, script, env, net, before_stop=None):
    """Start `bash -c script` (which execs devourer) in the capture
    namespace, write the three flows of subnet net, call before_stop(proc)
    if given, stop it with SIGTERM. Returns (stderr text, want, t0, t1), or
    None if it did not come up."""
    out, err = os.path.join(rig.d, "%s.out" % net), os.path.join(rig.d, "%s.err" % net)
    argv = ["ip", "netns", "exec", rig.ns_cap, "env"] + \
        ["%s=%s" % kv for kv in sorted(env.items())] + ["bash", "-c", script]
    t0 = time.time()
    proc = L.Proc(argv, out, err)
    prefix = "devourer-%d" % proc.pid  # ip, env and bash exec: the pid is devourer's
    up = L.wait_telemetry(prefix, proc, 60)
    rep.check(up is not None, "%s: devourer runs" % tag, proc.stderr()[-800:])
    if up is None:
        proc.stop(signal.SIGKILL, 5)
        L.remove_runtime(prefix)
        return None
    phases, want = traffic(net)
    seen = 0
    for i, frames in enumerate(phases):
        ns, dev = (rig.ns_far, rig.far) if i % 2 == 0 else (rig.ns_cap, rig.near)
        sent = rig.send(ns, dev, frames)
        seen += len(frames)
        rep.check(sent == len(frames), "%s: %d frames written into %s" % (tag, len(frames), dev))
        # The next phase answers this one: devourer must have it first.
        L.wait_rx(prefix, proc, seen, 10, key="ip_packets")
    if before_stop is not None:
        before_stop(proc)
    rc, secs = proc.stop(signal.SIGTERM, 30)
    t1 = time.time()
    L.remove_runtime(prefix)
    text = proc.stderr()
    rep.check(rc == 0, "%s: exit 0 %.1fs after SIGTERM" % (tag, secs),
              "status %r; %s" % (rc, text[-800:]))
    rep.check(GO_LINE in text, "%s: stderr has the one line on what differs from the Go tool" %
              tag, text[-600:])
    return text, want, t0, t1


def main():
    if len(sys.argv) != 2:
        print("usage: go_compat.py PROGRAM")
        return 2
    prog = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        L.skip(NAME, "needs root (network namespaces, raw sockets)")
    for k in list(os.environ):
        if k.startswith("DEVOURER_") or k in ("BIGQUERY_EMULATOR_HOST",
                                              "GOOGLE_APPLICATION_CREDENTIALS"):
            del os.environ[k]
    rep = L.Report(NAME)
    d = L.tmpdir("gocompat")
    os.chmod(d, 0o755)

    bindir, why = install(prog, d)
    if bindir is None:
        rep.check(False, "meson install into a temporary DESTDIR", why)
        return rep.finish()
    link = os.path.join(bindir, "devourer")
    if link_option(prog) is False:
        L.skip(NAME, "the build leaves the devourer link out (-Ddevourer_link=false): "
               "reconfigure with -Ddevourer_link=true")
    if not rep.check(os.path.islink(link) and os.readlink(link) == "dpdk-devourer",
                     "meson install made %s, a link to dpdk-devourer" %
                     os.path.relpath(link, d),
                     "readlink %r" % (os.readlink(link) if os.path.islink(link) else None)):
        return rep.finish()
    path = bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")

    rig = Rig(d)
    try:
        try:
            rig.make_netns()
        except (subprocess.CalledProcessError, OSError) as e:
            rep.skip("network namespaces", "cannot make them here (%s)" %
                     (getattr(e, "stderr", "") or e))
            return rep.finish()
        rep.check(rig.start_double(), "the BigQuery double runs in namespace %s" % rig.ns_cap,
                  open(os.path.join(d, "double-err.txt"), errors="replace").read()[-600:])
        if rig.info is None:
            return rep.finish()
        key = os.path.join(rig.info["dir"], "sa.json")
        values = {"interface": rig.near, "project-id": "p", "dataset-name": "d",
                  "service-account-key-file": key}
        spool = os.path.join(d, "spool")
        # What the Go command line cannot say: where BigQuery and its CA
        # are (the double), and a spool outside /var/lib; and, since this
        # double speaks REST, the Go tool's API (insertAll) instead of the
        # default Storage Write API, whose double has no table to read back.
        bq_env = {"PATH": path, "DEVOURER_BQ_ENDPOINT": "https://127.0.0.1:%d" % rig.info["port"],
                  "DEVOURER_BQ_API": "insertall",
                  "DEVOURER_BQ_CA_FILE": os.path.join(rig.info["dir"], "ca-a.pem"),
                  "DEVOURER_SPOOL_DIR": spool}

        cases = [("Go README command line", GO_README_RUN, 1),
                 ("Go README environment form", GO_README_ENV, 2)]
        for tag, readme, net in cases:
            script = shell_script(readme, values)
            rep.note("%s:\n%s" % (tag, script.rstrip()))
            res = run_case(rep, rig, tag, script, bq_env, net)
            if res is None:
                continue
            _, want, t0, t1 = res
            rows = rig.rows_in_double()
            rep.check(rows is not None, "%s: the double's rows can be read" % tag)
            mine = [r for r in rows or [] if r.get("src_addr", "").startswith("10.201.%d." % net)
                    or r.get("dst_addr", "").startswith("10.201.%d." % net)]
            check_rows(rep, "%s (BigQuery)" % tag, mine, want, t0, t1)

        tag = "devourer c -i IFACE -o file -w FILE -s"
        flows = os.path.join(d, "flows.ndjson")
        script = "exec devourer c -i %s -o file -w %s -s\n" % (rig.near, flows)
        rep.note("%s:\n%s" % (tag, script.rstrip()))
        # DEVOURER_STAT_INTERVAL=0: a statistics line can only come from -s.
        env = {"PATH": path, "DEVOURER_STAT_INTERVAL": "0", "DEVOURER_SPOOL_DIR": spool}
        # The first periodic line is due 10 s after the start.
        res = run_case(rep, rig, tag, script, env, 3, lambda proc: L.wait_for(
            lambda: STATS_LINE.search(proc.stderr()), 15, 0.5))
        if res is not None:
            text, want, t0, t1 = res
            n = len(STATS_LINE.findall(text))
            rep.check(n >= 1, "%s: %d periodic statistics line(s) on stderr, with "
                      "DEVOURER_STAT_INTERVAL=0 in the environment" % (tag, n), text[-600:])
            rows = L.read_rows(flows) if os.path.exists(flows) else []
            check_rows(rep, "%s (FILE)" % tag, rows, want, t0, t1)
    finally:
        rig.cleanup()
        shutil.rmtree(d, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
