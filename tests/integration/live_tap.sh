#!/bin/sh
# Tap test (issue 3): see live_tap.py. Usage: live_tap.sh PROGRAM
exec python3 "$(dirname "$0")/live_tap.py" "$@"
