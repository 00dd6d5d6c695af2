"""``python -m worker.spec --schema`` prints the JSON Schema; ``python -m worker.spec FILE...`` validates."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from worker.spec import SpecError, json_schema, parse_spec


def main(argv: list[str] | None = None) -> int:
    """Print the schema or validate spec files; exit 1 when any file is invalid."""
    parser = argparse.ArgumentParser(prog="python -m worker.spec", description=__doc__)
    parser.add_argument("--schema", action="store_true", help="print the spec's JSON Schema")
    parser.add_argument("files", nargs="*", type=Path, help="spec files to validate")
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
    if not args.schema and not args.files:
        parser.error("give --schema or at least one spec file")
    failed = 0
    for path in args.files:
        try:
            parse_spec(path.read_bytes())
            print(f"{path}: ok")
        except (OSError, SpecError) as exc:
            failed += 1
            print(f"{path}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
