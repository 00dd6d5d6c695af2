#!/usr/bin/env bash
# start-x11vnc.sh I [view|control]: a VNC server of slot I's display, on loopback only.
#   view    (default) 127.0.0.1:(VNC_PORT + I), -viewonly: what every viewer's token reaches
#   control 127.0.0.1:(VNC_CONTROL_PORT + I), takes keys and clicks: only the token minted
#           when the task's owner takes control reaches it, and it dies when control ends
# websockify is the only way in, and only with a live token.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${DISPLAY:-:99}" base="${base#:}" base="${base%%.*}"
display=":$((base + $1))"
case "${2:-view}" in
    view) port=$((${VNC_PORT:-5900} + $1)) input=(-viewonly) ;;
    control) port=$((${VNC_CONTROL_PORT:-$((${VNC_PORT:-5900} + 100))} + $1)) input=() ;;
    *) echo "start-x11vnc: mode '$2': expected view or control" >&2; exit 2 ;;
esac
"$here/wait-for-display.sh" "$display" 60
exec x11vnc -display "$display" -rfbport "$port" -localhost -forever -shared -nopw \
    -noxdamage -quiet -noipv6 "${input[@]}"
