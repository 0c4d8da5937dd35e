#!/bin/sh
# Signal test (issue 3): see live_signal.py. Usage: live_signal.sh PROGRAM
exec python3 "$(dirname "$0")/live_signal.py" "$@"
