#!/usr/bin/env bash
# start-x11vnc.sh I: the VNC server of slot I's display, on 127.0.0.1:(VNC_PORT + I) only;
# websockify is the only way in, and only with a task's token.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${DISPLAY:-:99}" base="${base#:}" base="${base%%.*}"
display=":$((base + $1))" port=$((${VNC_PORT:-5900} + $1))
"$here/wait-for-display.sh" "$display" 60
exec x11vnc -display "$display" -rfbport "$port" -localhost -forever -shared -nopw \
    -noxdamage -quiet -noipv6
