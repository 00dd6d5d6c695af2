#!/usr/bin/env bash
# Run a task spec locally and print its result (installs what is missing first).
#   bash scripts/run.sh                                   # examples/hello.json on the demo site
#   bash scripts/run.sh examples/contact_form.json
#   bash scripts/run.sh examples/hello.json --base-url https://example.org/
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
spec="${1:-examples/hello.json}"
shift || true
exec .venv/bin/python -m worker.run "$spec" "$@"
