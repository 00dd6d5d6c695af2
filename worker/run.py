"""Run one task spec locally and print its result as JSON.

    python -m worker.run examples/hello.json                 # against the bundled demo site
    python -m worker.run examples/hello.json --base-url https://example.org/

A spec with relative URLs and no ``base_url`` runs against the demo site, started on a free
loopback port (and allowed by the URL policy) for the length of the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from worker.demo_site import serve
from worker.engine import LocalArtifactStore, Slot
from worker.settings import EngineSettings, SettingsError
from worker.spec import SpecError, TaskResult, parse_spec


def _load(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([{"loc": "", "message": f"not valid JSON: {exc}"}]) from None
    if not isinstance(data, dict):
        raise SpecError([{"loc": "", "message": "a task spec must be a JSON object"}])
    return data


def _with_paths(result: TaskResult, store: LocalArtifactStore) -> dict[str, Any]:
    out = result.model_dump(mode="json")
    for artifact in out["artifacts"]:
        artifact["path"] = str(store.path(artifact["key"]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the task succeeded, 1 when it did not, 2 on a bad spec or setting."""
    parser = argparse.ArgumentParser(prog="python -m worker.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="a task spec JSON file, or - for standard input")
    parser.add_argument("--base-url", help="resolve the spec's relative URLs against this URL")
    parser.add_argument("--out", type=Path, help="artifact folder (default: ARTIFACTS_URL or ./artifacts)")
    parser.add_argument("--task-id", help="the task id (default: a new UUID)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        data = _load(args.spec)
        settings = EngineSettings.from_env()
        with ExitStack() as stack:
            if args.base_url:
                data["base_url"] = args.base_url
            elif not data.get("base_url"):
                site = stack.enter_context(serve())
                data["base_url"] = site.url
                settings = dataclasses.replace(settings, url_allowlist=(*settings.url_allowlist, "127.0.0.1"))
                print(f"demo site: {site.url}", file=sys.stderr)
            spec = parse_spec(data)
            store = LocalArtifactStore(args.out or settings.artifacts_dir)
            slot = stack.enter_context(Slot(settings, store=store))
            result = slot.run(spec, task_id=args.task_id)
    except (OSError, ValueError, SettingsError) as exc:  # SpecError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(_with_paths(result, store), indent=2))
    return 0 if result.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
