#!/bin/sh
# Generator test (issue 3): see live_memif.py. Usage: live_memif.sh PROGRAM
exec python3 "$(dirname "$0")/live_memif.py" "$@"
