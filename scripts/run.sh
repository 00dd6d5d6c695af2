#!/usr/bin/env bash
# The whole stack on this machine: installs what is missing, then starts Redis, the demo site,
# a worker and the main app, and prints the URL and a login. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/stack.py "$@"
