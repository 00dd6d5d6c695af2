#!/usr/bin/env bash
# Start a worker locally, natively from worker/supervisord.conf, with its own Redis unless
# REDIS_URL is set. Ctrl-C stops it. Then, in another terminal:
#   .venv/bin/python -m worker.submit examples/slow_page.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
run="$PWD/.run"
mkdir -p "$run"

if [[ -z "${REDIS_URL:-}" ]]; then
    port="${LOCAL_REDIS_PORT:-6390}"
    if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
            --pidfile "$run/redis.pid" --logfile "$run/redis.log" --dir "$run"
    fi
    export REDIS_URL="redis://127.0.0.1:$port/0"
fi
[[ -s "$run/worker-token" ]] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' >"$run/worker-token"
export WORKER_API_TOKEN="${WORKER_API_TOKEN:-$(cat "$run/worker-token")}"
export ALLOW_PRIVATE_NETWORKS="${ALLOW_PRIVATE_NETWORKS:-1}"   # local development: reach local sites
export ARTIFACTS_URL="${ARTIFACTS_URL:-file://$PWD/artifacts}"
export SUPERVISOR_RUN_DIR="${SUPERVISOR_RUN_DIR:-$run/supervisor}"
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$run/metrics}"
export PATH="$PWD/.venv/bin:$PATH"

cat <<TXT
worker: Redis $REDIS_URL, API http://127.0.0.1:${WORKER_API_PORT:-8081} (token in .run/worker-token),
        live view http://127.0.0.1:${NOVNC_PORT:-6080}/vnc.html (needs a task's token)
        send a task:  .venv/bin/python -m worker.submit examples/slow_page.json
TXT
exec worker/bin/start-supervisord.sh
