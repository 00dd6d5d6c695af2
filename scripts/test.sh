#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints, then runs pytest (slow tests too).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k policy`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
echo "test: ruff"
.venv/bin/ruff check .
echo "test: pytest"
exec .venv/bin/python -m pytest --durations=15 "$@"
