#!/bin/sh
# A disk whose fsyncs take 500 ms does not stop the control lcore (issue 18
# point 5): see stalled_fsync.py.
# Usage: stalled-fsync.sh PROGRAM LIBSLOW_FSYNC PACED_SEND
exec python3 "$(dirname "$0")/stalled_fsync.py" "$@"
