#!/usr/bin/env python3
"""workers_equal: in --read mode the rows must not depend on the number of
workers (timeouts are judged on packet time, and the reader's clock reaches
every worker). Runs every 4th capture of ../shared/pcaps, and the eight
largest read one after the other in one run, with 1, 2 and 3 workers and
compares the rows, flow ids aside (they are random by design). With more
workers than CPUs (2 and 3 here, on 2 CPUs) the workers read the files in
turns themselves; the log says which.

usage: workers_equal.py [--pcaps DIR] PROGRAM    exit 0 pass, 1 fail, 77 skip
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PCAPS = os.path.join(ROOT, "..", "shared", "pcaps")


WORKERS = (1, 2, 3)
TURNS = "the workers read the files in turns"


def rows(prog, captures, workers, modes):
    cmd = [prog, "--workers", str(workers), "--max-flows", "65536", "--log-level", "info"]
    for c in captures:
        cmd += ["--read", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("%s --workers %d: exit %d: %s" % (
            captures, workers, r.returncode, r.stderr.strip().splitlines()[-1:]))
    modes.add((workers, TURNS in r.stderr))
    out = []
    for line in r.stdout.splitlines():
        d = json.loads(line)
        d.pop("id")
        out.append(json.dumps(d, sort_keys=True))
    return sorted(out)


def main():
    args = sys.argv[1:]
    pcaps = PCAPS
    if len(args) == 3 and args[0] == "--pcaps":
        pcaps, args = args[1], args[2:]
    if len(args) != 1:
        sys.exit(__doc__)
    prog = args[0]
    if not os.path.isdir(pcaps):
        print("workers_equal: skip: %s is absent" % pcaps)
        return 77
    caps = sorted(glob.glob(os.path.join(pcaps, "*.pcap*")))[::4]
    if not caps:
        print("workers_equal: skip: no captures in %s" % pcaps)
        return 77
    largest = sorted(glob.glob(os.path.join(pcaps, "*.pcap*")), key=os.path.getsize)[-8:]
    runs = [[c] for c in caps] + [largest]
    bad = total = 0
    modes = set()
    for run in runs:
        one = rows(prog, run, 1, modes)
        total += len(one)
        for n in WORKERS[1:]:
            more = rows(prog, run, n, modes)
            if one != more:
                bad += 1
                only1 = sorted(set(one) - set(more))[:2]
                only_n = sorted(set(more) - set(one))[:2]
                print("DIFF %s: %d rows with 1 worker, %d with %d\n  only 1: %s\n  only %d: %s"
                      % (" ".join(os.path.basename(c) for c in run), len(one), len(more), n,
                         only1, n, only_n))
    turns = sorted(n for n, t in modes if t)
    print("workers_equal: %d runs (%d rows with 1 worker), %d differ; the workers read in "
          "turns with %s workers" % (len(runs), total, bad, turns or "no number of"))
    if total == 0:
        # Equal because empty: a program that exports nothing is not "equal".
        print("workers_equal: FAIL: no rows at all")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
