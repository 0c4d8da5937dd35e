#!/usr/bin/env python3
"""workers_equal: in --read mode the rows must not depend on the number of
workers (timeouts are judged on packet time, and the reader's clock reaches
every worker). Runs every 4th capture of ../shared/pcaps with 1 and with 2
workers and compares the rows, flow ids aside (they are random by design).

usage: workers_equal.py PROGRAM        exit 0 pass, 1 fail, 77 skip
"""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PCAPS = os.path.join(ROOT, "..", "shared", "pcaps")


def rows(prog, capture, workers):
    r = subprocess.run([prog, "--workers", str(workers), "--max-flows", "65536",
                        "--read", capture], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("%s --workers %d: exit %d: %s" % (
            capture, workers, r.returncode, r.stderr.strip().splitlines()[-1:]))
    out = []
    for line in r.stdout.splitlines():
        d = json.loads(line)
        d.pop("id")
        out.append(json.dumps(d, sort_keys=True))
    return sorted(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if not os.path.isdir(PCAPS):
        print("workers_equal: skip: %s is absent" % PCAPS)
        return 77
    caps = sorted(glob.glob(os.path.join(PCAPS, "*.pcap*")))[::4]
    if not caps:
        print("workers_equal: skip: no captures in %s" % PCAPS)
        return 77
    bad = total = 0
    for c in caps:
        one, two = rows(sys.argv[1], c, 1), rows(sys.argv[1], c, 2)
        total += len(one)
        if one != two:
            bad += 1
            only1 = sorted(set(one) - set(two))[:2]
            only2 = sorted(set(two) - set(one))[:2]
            print("DIFF %s: %d rows with 1 worker, %d with 2\n  only 1: %s\n  only 2: %s"
                  % (os.path.basename(c), len(one), len(two), only1, only2))
    print("workers_equal: %d captures, %d rows, %d differ" % (len(caps), total, bad))
    if total == 0:
        # Equal because empty: a program that exports nothing is not "equal".
        print("workers_equal: FAIL: no rows at all")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
