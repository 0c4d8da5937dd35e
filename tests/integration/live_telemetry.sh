#!/bin/sh
# Telemetry test (issue 3): see live_telemetry.py. Usage: live_telemetry.sh PROGRAM
exec python3 "$(dirname "$0")/live_telemetry.py" "$@"
