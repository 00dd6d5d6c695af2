"""Send a task spec to a running worker and print where to watch it live.

    python -m worker.submit examples/slow_page.json            # worker started by scripts/worker.sh

Reads ``WORKER_API_TOKEN``, ``REDIS_URL``, ``WORKER_API_PORT`` and ``NOVNC_PORT`` like the worker.
A spec with relative URLs and no ``base_url`` runs against the demo site, served by this
command for as long as it waits (the worker must allow private networks for that).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import redis

from worker.demo_site import serve
from worker.settings import SettingsError, WorkerSettings
from worker.spec.channels import result_key, session_key


def watch_url(host: str, novnc_port: int | str, token: str) -> str:
    """The noVNC page that shows the task whose live-view token is ``token``."""
    path = quote(f"websockify?token={token}")
    return f"http://{host}:{novnc_port}/vnc.html?autoconnect=1&resize=scale&path={path}"


def _post(settings: WorkerSettings, body: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.api_port}/api/automation", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.api_token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise SystemExit(f"error: the worker said {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"error: no worker API on port {settings.api_port} ({exc.reason})") from None


def _wait_for(client: redis.Redis, key: str, field: str | None, deadline: float) -> str | None:
    while time.monotonic() < deadline:
        value = client.hget(key, field) if field else client.get(key)
        if value:
            return value
        time.sleep(0.1)
    return None


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the task succeeded, 1 when not, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m worker.submit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--base-url", help="resolve the spec's relative URLs against this URL")
    parser.add_argument("--timeout", type=float, default=600, help="how long to wait for the result")
    args = parser.parse_args(argv)
    try:
        settings = WorkerSettings.from_env()
        spec = json.loads(args.spec.read_text())
    except (OSError, ValueError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    with ExitStack() as stack:
        if args.base_url:
            spec["base_url"] = args.base_url
        elif not spec.get("base_url"):
            spec["base_url"] = stack.enter_context(serve()).url
        task_id = _post(settings, {"spec": spec, "owner": "cli"})["task_id"]
        print(f"task {task_id} queued", file=sys.stderr)
        deadline = time.monotonic() + args.timeout
        token = _wait_for(client, session_key(task_id), "token", time.monotonic() + 30)
        if token:
            print(f"watch it live: {watch_url('127.0.0.1', settings.novnc_port, token)}", file=sys.stderr)
        result = _wait_for(client, result_key(task_id), None, deadline)
    if result is None:
        print(f"error: no result within {args.timeout:g} s", file=sys.stderr)
        return 1
    print(json.dumps(json.loads(result), indent=2))
    return 0 if json.loads(result)["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
