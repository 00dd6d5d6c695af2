#!/usr/bin/env bash
# wait-for-display.sh :N [seconds]: wait until the X server of display :N answers.
set -euo pipefail
display="$1" deadline=$((SECONDS + ${2:-30}))
until xdpyinfo -display "$display" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
        echo "wait-for-display: $display does not answer after ${2:-30} s" >&2
        exit 1
    fi
    sleep 0.2
done
