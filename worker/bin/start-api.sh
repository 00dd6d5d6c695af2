#!/usr/bin/env bash
# The worker API on PORT (Railway health-checks it) or WORKER_API_PORT; IPv4 and IPv6.
set -euo pipefail
exec gunicorn --bind "[${WORKER_API_HOST:-::}]:${PORT:-${WORKER_API_PORT:-8081}}" \
    --workers 2 --threads 8 --timeout 150 --graceful-timeout 30 \
    --access-logfile - --error-logfile - "worker.api:create_app()"
