#!/usr/bin/env bash
# start-xvfb.sh I: the X display of slot I, :(DISPLAY base + I). A lock file left by a killed
# server (a restarted container) would stop Xvfb from starting: remove it when stale.
set -euo pipefail
base="${DISPLAY:-:99}" base="${base#:}" base="${base%%.*}"
n=$((base + $1))
lock="/tmp/.X${n}-lock"
if [[ -f "$lock" ]]; then
    pid="$(tr -d ' \n' <"$lock" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        echo "start-xvfb: display :$n is held by a live process $pid; not starting a second server" >&2
        exit 1
    fi
    echo "start-xvfb: removing the stale lock of display :$n (pid ${pid:-?} is gone)"
    rm -f "$lock" "/tmp/.X11-unix/X${n}"
fi
mkdir -p /tmp/.X11-unix 2>/dev/null || true
exec Xvfb ":$n" -screen 0 "${SCREEN_SIZE:-1280x720x24}" -nolisten tcp -nolisten unix-abstract -noreset
