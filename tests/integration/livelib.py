"""livelib: what the live-dataplane acceptance tests share.

The live tests start dpdk-devourer (and sometimes dpdk-testpmd) as separate
processes on virtual ports, read their counters through DPDK telemetry,
stop them with signals and compare the rows they wrote. The helpers here
keep every one of those steps bounded in time and leave nothing behind:
each process is stopped by its PID, each DPDK runtime directory and temp
directory is removed, also when the test itself is interrupted.

Expected values never come from devourer itself: frame counts come from
capinfos, per-flow counters from tshark (tests/expect_tshark.py), generator
counts from testpmd; a --read run of the original capture (a different input
path through the program) is a second reference where a test says so.
"""
import atexit
import ipaddress
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import expect_tshark  # noqa: E402  (tests/expect_tshark.py, the tshark oracle)

SKIP = 77

_procs = []
_prefixes = []
_tmpdirs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for prefix in _prefixes:
        shutil.rmtree(runtime_dir(prefix), ignore_errors=True)
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


def _on_term(sig, frame):
    # `timeout` (scripts/test) sends SIGTERM: clean up, then die of it.
    _cleanup()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGINT, _on_term)


def tmpdir(tag):
    d = tempfile.mkdtemp(prefix="dv-%s-" % tag)
    _tmpdirs.append(d)
    return d


def runtime_dir(prefix):
    """Where the EAL keeps a process's runtime files (sockets, config)."""
    if os.getuid() == 0:
        base = "/var/run/dpdk"
    else:
        base = os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
    return os.path.join(base, prefix)


def new_prefix(tag):
    """A file prefix unique to this test process; removed at exit."""
    prefix = "dvlive-%s-%d-%d" % (tag, os.getpid(), len(_prefixes))
    _prefixes.append(prefix)
    return prefix


def remove_runtime(prefix):
    shutil.rmtree(runtime_dir(prefix), ignore_errors=True)


def eal_args(prefix, lcores="0@0,1@1,2@1", mem=512, vdevs=()):
    args = ["--no-huge", "-m", str(mem), "--no-pci", "--file-prefix", prefix,
            "--lcores", lcores, "--log-level=lib.*:error", "--log-level=pmd.*:error"]
    for v in vdevs:
        args += ["--vdev", v]
    return args


def build_dir(prog):
    """PROG is <build>/app/dpdk-devourer; the test tools are beside it."""
    return os.path.dirname(os.path.dirname(os.path.abspath(prog)))


def tool(prog, name):
    path = os.path.join(build_dir(prog), "tests", "tools", name)
    if not os.access(path, os.X_OK):
        raise SystemExit("missing test tool %s (build with -Dtests=true)" % path)
    return path


def pcaps_dir():
    """../shared/pcaps from the project root, or None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    d = os.path.normpath(os.path.join(root, "..", "shared", "pcaps"))
    return d if os.path.isdir(d) else None


class Proc:
    """A started process whose output goes to files; stopped by PID only."""

    def __init__(self, argv, out, err, cwd=None, stdin=None):
        self.argv = argv
        self.out_path = out
        self.err_path = err
        self._out = open(out, "wb")
        self._err = open(err, "wb")
        self.p = subprocess.Popen(argv, stdout=self._out, stderr=self._err, cwd=cwd,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL)
        _procs.append(self.p)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Exit status, or None if still running after timeout seconds."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig, wait up to timeout. Returns (status, seconds); status is
        None if it had to be killed."""
        t0 = time.monotonic()
        self.send(sig)
        rc = self.wait(timeout)
        secs = time.monotonic() - t0
        if rc is None:
            os.kill(self.pid, signal.SIGKILL)
            self.p.wait(timeout=10)
        self.close()
        return rc, secs

    def close(self):
        self._out.close()
        self._err.close()

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()


def telemetry(prefix, cmd, timeout=10.0):
    """Run one telemetry command through dpdk-telemetry.py; dict or None."""
    try:
        r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input=cmd + "\n",
                           capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return None
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line).get(cmd)
            except ValueError:
                return None
    return None


def wait_for(pred, timeout, interval=0.2):
    """Poll pred() until it returns a true value or timeout; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_telemetry(prefix, proc, timeout=30.0):
    """Wait until the telemetry socket answers /devourer/stats."""
    def ready():
        if not proc.alive():
            return "exited"
        return telemetry(prefix, "/devourer/stats", 5)
    v = wait_for(ready, timeout, 0.3)
    return v if isinstance(v, dict) else None


def frame_count(path):
    """Frames in a capture, as capinfos counts them."""
    r = subprocess.run(["capinfos", "-T", "-r", "-c", "-M", path], capture_output=True,
                       text=True, timeout=60)
    return int(r.stdout.strip().split("\t")[-1])


def read_rows(path):
    """The NDJSON rows of a file; a line that is not a JSON object raises."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("%s:%d is not a JSON object" % (path, n))
            rows.append(row)
    return rows


def final_stats(stderr_text):
    """The counters of the final 'done in' stats line as a dict of ints."""
    for line in reversed(stderr_text.splitlines()):
        if " done in " in line:
            out = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    if v.isdigit():
                        out[k] = int(v)
            return out
    return None


def key_sums(rows):
    """Sum rows per canonical flow key (ip_protocol, vlan_id, unordered
    endpoint pair) into {endpoint: [packets, bytes]}; the sums do not depend
    on which side a row calls src, on segments, or on how a flow was split
    into rows."""
    sums = {}
    for r in rows:
        a = (r["src_addr"], r["src_port"])
        b = (r["dst_addr"], r["dst_port"])
        key = (r["ip_protocol"], r["vlan_id"]) + tuple(sorted([a, b]))
        ep = sums.setdefault(key, {})
        for who, pk, by in ((a, "src_packets", "src_bytes"), (b, "dst_packets", "dst_bytes")):
            c = ep.setdefault(who, [0, 0])
            c[0] += r[pk]
            c[1] += r[by]
    return sums


def flow_key(proto, vlan, a, b, vni=None):
    """The canonical key of a flow as tests/expect_tshark.py writes it:
    (ip_protocol, vlan_id, VNI, endpoint lo, endpoint hi), endpoints (address
    in compressed form, port) in expect_tshark's order."""
    lo, hi = sorted([a, b], key=expect_tshark.ep_sort_key)
    return (proto, vlan, vni, lo, hi)


def row_sides(r):
    """A row as (key, {endpoint: [packets, bytes]}); endpoints that sent
    nothing are left out (as expect_tshark leaves them), and a flow whose two
    endpoints are equal has both sides on that one endpoint."""
    a = (ipaddress.ip_address(r["src_addr"]).compressed, int(r["src_port"]))
    b = (ipaddress.ip_address(r["dst_addr"]).compressed, int(r["dst_port"]))
    per = {}
    for ep, side in ((a, "src"), (b, "dst")):
        c = per.setdefault(ep, [0, 0])
        c[0] += r[side + "_packets"]
        c[1] += r[side + "_bytes"]
    per = {ep: c for ep, c in per.items() if c != [0, 0]}
    return flow_key(r["ip_protocol"], r["vlan_id"], a, b, r.get("tunnel_id")), per


def tshark_flows(path):
    """{key: {endpoint: [packets, bytes]}} for a capture, derived from tshark
    by tests/expect_tshark.py (which never runs devourer)."""
    exp = expect_tshark.expect(path)
    return {k: {ep: list(c) for ep, c in per.items() if c != [0, 0]}
            for k, per in exp.flows.items()}


def one_row_per_flow(rows, want, reopened=lambda r: False, limit=5):
    """Check that each flow of want (tshark_flows) is exactly one row, both
    directions in it, with each endpoint's packets and bytes as tshark counts
    them, and that no row is of a flow tshark does not know. A flow split
    into two half-flows (one row per direction, or two rows of one
    direction) fails. Rows for which reopened(row) is true (a flow closed
    and started again, see live_tap.not_shutdown) are not counted as the
    flow's row; a flow with such rows must still sum to tshark's counts.
    Returns (number of flows with reopened rows, readable problem lines)."""
    by_key = {}
    for r in rows:
        k, per = row_sides(r)
        by_key.setdefault(k, []).append((r, per))
    problems, with_reopen = [], 0
    for k in sorted(set(by_key) | set(want), key=repr):
        got, w = by_key.get(k, []), want.get(k)
        if w is None:
            problems.append("%r: %d rows, tshark has no such flow" % (k, len(got)))
            continue
        if not got:
            problems.append("%r: no row, tshark %r" % (k, w))
            continue
        main = [(r, per) for r, per in got if not reopened(r)]
        if len(main) != 1:
            problems.append("%r: %d rows (%s), must be one holding both directions %r" %
                            (k, len(main), "; ".join("%r" % per for _, per in main), w))
            continue
        r, per = main[0]
        if len(got) > 1:
            with_reopen += 1
            per = {}
            for _, p in got:
                for ep, c in p.items():
                    s = per.setdefault(ep, [0, 0])
                    s[0] += c[0]
                    s[1] += c[1]
        if per != w:
            problems.append("%r: row %r, tshark %r" % (k, per, w))
        both = r["src_packets"] > 0 and r["dst_packets"] > 0
        if r["status"] != ("established" if both else "init"):
            problems.append("%r: status %r with %d/%d packets src/dst" %
                            (k, r["status"], r["src_packets"], r["dst_packets"]))
    if len(problems) > limit:
        problems = problems[:limit] + ["... %d more" % (len(problems) - limit)]
    return with_reopen, problems


def read_pcap(path):
    """Classic pcap only (what split_dirs writes): (global header, records)."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError("%s: not a classic pcap file" % path)
    recs, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    return data[:24], recs


def split_alternate(path, out0, out1):
    """Deal the frames of a capture alternately into two files (two RX
    queues of one port); returns the two frame counts."""
    hdr, recs = read_pcap(path)
    with open(out0, "wb") as f0, open(out1, "wb") as f1:
        f0.write(hdr)
        f1.write(hdr)
        for i, r in enumerate(recs):
            (f0 if i % 2 == 0 else f1).write(r)
    return (len(recs) + 1) // 2, len(recs) // 2


def in_ci():
    """Whether this runs in CI (CI=true), where root, network namespaces,
    tshark and dpdk-testpmd are all there: wanting one is a failure."""
    return os.environ.get("CI") == "true"


class Report:
    """Prints each check as it happens and the one-line summary at the end.
    Parts that could not run are counted as skips, never as passes."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = []
        self.skipped = []

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % what, flush=True)
        else:
            self.failed.append(what)
            print("FAIL %s%s" % (what, (": " + detail) if detail else ""), flush=True)
        return cond

    def skip(self, what, reason, ci_has=True):
        """A part of the test that cannot run here (for want of reason).
        finish() then exits 77, not 0; with CI=true, when ci_has says CI is
        meant to have what is missing, it is a failed check instead."""
        if ci_has and in_ci():
            self.check(False, "%s: not run, and CI=true" % what, reason)
            return
        self.skipped.append(what)
        print("SKIP %s: %s" % (what, reason), flush=True)

    def note(self, text):
        print("     %s" % text, flush=True)

    def finish(self, extra=""):
        """Exit status: 1 if a check failed, else 77 if a part was skipped,
        else 0. The last line says which."""
        if self.failed:
            print("%s: %d checks failed (first: %s), %d passed%s" %
                  (self.name, len(self.failed), self.failed[0], self.passed, extra))
            return 1
        if self.skipped:
            print("%s: SKIP: %d part(s) not run (first: %s), %d checks passed%s" %
                  (self.name, len(self.skipped), self.skipped[0], self.passed, extra))
            return SKIP
        print("%s: all %d checks passed%s" % (self.name, self.passed, extra))
        return 0


def skip(name, reason):
    print("%s: skipped: %s" % (name, reason))
    sys.exit(SKIP)


def wait_rx(prefix, proc, want, timeout=60.0, key="rx_packets"):
    """Poll /devourer/stats until stats[key] == want, the process exits, or
    timeout. Returns the last stats read (None if telemetry never answered)."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.alive():
        s = telemetry(prefix, "/devourer/stats", 5)
        if s is not None:
            last = s
            if s.get(key) == want:
                break
        time.sleep(0.3)
    return last


def tshark_keys(path):
    """Canonical keys (ip_protocol, vlan None, endpoint pair) of an
    untagged, unfragmented IPv4 TCP/UDP capture such as gen_bench writes,
    from tshark fields."""
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-E", "separator=,",
                        "-e", "ip.proto", "-e", "ip.src", "-e", "ip.dst",
                        "-e", "tcp.srcport", "-e", "tcp.dstport",
                        "-e", "udp.srcport", "-e", "udp.dstport"],
                       capture_output=True, text=True, timeout=300)
    keys = set()
    for line in r.stdout.splitlines():
        proto, src, dst, ts, td, us, ud = line.split(",")
        sp, dp = int(ts or us or 0), int(td or ud or 0)
        keys.add((int(proto), None) + tuple(sorted([(src, sp), (dst, dp)])))
    return keys
