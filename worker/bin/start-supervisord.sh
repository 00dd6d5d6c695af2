#!/usr/bin/env bash
# Entry point of the worker image: fill in every default (docs/worker-service.md), then
# exec supervisord so it becomes PID 1 and gets Railway's SIGTERM itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export JOB_QUEUE_NAME="${JOB_QUEUE_NAME:-automation}"
export JOB_CONCURRENCY="${JOB_CONCURRENCY:-2}"
export DISPLAY="${DISPLAY:-:99}"
export VNC_PORT="${VNC_PORT:-5900}"
export VNC_CONTROL_PORT="${VNC_CONTROL_PORT:-$((VNC_PORT + 100))}"
export NOVNC_PORT="${NOVNC_PORT:-6080}"
export NOVNC_WEB="${NOVNC_WEB:-/usr/share/novnc}"
export WORKER_API_PORT="${WORKER_API_PORT:-8081}"
export WORKER_ID="${WORKER_ID:-$(hostname)}"
export RAILWAY_DEPLOYMENT_DRAINING_SECONDS="${RAILWAY_DEPLOYMENT_DRAINING_SECONDS:-60}"
export SUPERVISOR_RUN_DIR="${SUPERVISOR_RUN_DIR:-/tmp/pilothouse-supervisor}"
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/pilothouse-metrics}"
export SCREEN_SIZE="${SCREEN_SIZE:-1280x720x24}"
# Celery needs the draining time to finish its tasks; supervisord waits a little longer
# before it kills what is left.
export WORKER_STOP_WAIT_SECONDS=$((RAILWAY_DEPLOYMENT_DRAINING_SECONDS + 10))

if [[ -z "${WORKER_API_TOKEN:-}" ]]; then
    echo "start-supervisord: WORKER_API_TOKEN is not set: the worker API needs a shared secret" >&2
    exit 2
fi
[[ "$JOB_CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || { echo "JOB_CONCURRENCY=$JOB_CONCURRENCY: expected a number >= 1" >&2; exit 2; }

mkdir -p "$SUPERVISOR_RUN_DIR"
# The metrics folder must start empty: counters of processes from an earlier run are stale.
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec supervisord -c "$here/supervisord.conf"
