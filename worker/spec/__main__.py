"""``python -m worker.spec --schema`` prints the JSON Schema; ``python -m worker.spec FILE...`` validates.

A spec whose URLs are relative (like the examples) is checked as if run with ``--base-url``
(default ``http://localhost/``), the way ``python -m worker.run`` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from worker.spec import SpecError, json_schema, parse_spec


def _check(path: Path, base_url: str) -> None:
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise SpecError([{"loc": "", "message": f"not valid JSON: {exc}"}]) from None
    if isinstance(data, dict) and not data.get("base_url"):
        data["base_url"] = base_url
    parse_spec(data)


def main(argv: list[str] | None = None) -> int:
    """Print the schema or validate spec files; exit 1 when any file is invalid."""
    parser = argparse.ArgumentParser(prog="python -m worker.spec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schema", action="store_true", help="print the spec's JSON Schema")
    parser.add_argument("--base-url", default="http://localhost/",
                        help="base for relative URLs when a spec has no base_url")
    parser.add_argument("files", nargs="*", type=Path, help="spec files to validate")
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
    if not args.schema and not args.files:
        parser.error("give --schema or at least one spec file")
    failed = 0
    for path in args.files:
        try:
            _check(path, args.base_url)
            print(f"{path}: ok")
        except (OSError, SpecError) as exc:
            failed += 1
            print(f"{path}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
