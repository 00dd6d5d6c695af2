#!/usr/bin/env bash
# The Celery worker: one pool process per slot. It starts once every slot's display answers.
# REMAP_SIGTERM=SIGQUIT makes SIGTERM a soft shutdown: running tasks get the draining time
# (worker_soft_shutdown_timeout), then what still runs is handed back to the queue.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${DISPLAY:-:99}" base="${base#:}" base="${base%%.*}"
for ((i = 0; i < ${JOB_CONCURRENCY:-2}; i++)); do
    "$here/wait-for-display.sh" ":$((base + i))" 60
done
export REMAP_SIGTERM=SIGQUIT
# Each slot's Playwright driver is a Node.js process: a 2 MB young generation (not 16 MB)
# keeps about 23–30 MiB less of its heap resident when idle (docs/benchmarks.md, run W4).
export NODE_OPTIONS="${NODE_OPTIONS:---max-semi-space-size=2}"
exec celery -A worker.celery_app worker --loglevel=INFO --events \
    --queues "${JOB_QUEUE_NAME:-automation}" --concurrency "${JOB_CONCURRENCY:-2}" \
    --hostname "${WORKER_ID:-worker}@%h"
