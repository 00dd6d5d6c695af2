"""The README's run command starts the whole stack, prints the URL and a login that work, and
Ctrl-C leaves nothing running. (``scripts/run.sh`` is bootstrap + ``scripts/stack.py``; this
runs the latter, with its state in a temporary folder.)"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

from tests.fixtures.main_app import CSRF_META
from tests.fixtures.xvfb import wait_until

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def stack_processes(run_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            mine = proc.environ().get("PILOTHOUSE_RUN_DIR") == str(run_dir)
            if mine and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def test_the_run_command_starts_everything_prints_a_working_login_and_stops_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "REDIS_URL", "DATABASE_URL")}
    env.update(PILOTHOUSE_RUN_DIR=str(run_dir), DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
               ARTIFACTS_URL=f"file://{tmp_path / 'artifacts'}", WORKER_ID=f"run-test-{os.getpid()}")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "stack.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        printed = wait_until(lambda: "Ctrl-C stops everything" in "".join(lines) and "".join(lines), 150,
                             "the run command to print the URL and the login")
        url = re.search(r"Pilothouse is running: (http://\S+)", printed).group(1)
        email, password = re.search(r"sign in:\s+(\S+) / (\S+)", printed).groups()

        web = requests.Session()
        csrf = CSRF_META.search(web.get(url + "login", timeout=10).text).group(1)
        signed_in = web.post(url + "login", data={"email": email, "password": password, "csrf_token": csrf})
        assert signed_in.url.endswith("/tasks"), "the printed login must work"
        demo = re.search(r"demo site: (http://\S+)", printed).group(1)
        page = web.get(url + "tasks/new?template=hello", timeout=10).text
        csrf = CSRF_META.search(page).group(1)
        editor = re.search(r'<textarea name="spec"[^>]*>(.*?)</textarea>', page, re.S)[1]
        spec = json.loads(html.unescape(editor))
        assert spec["base_url"] == demo, "the templates run against the stack's demo site"
        created = web.post(url + "api/v1/tasks", json=spec, headers={"X-CSRFToken": csrf}, timeout=10)
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        done = wait_until(lambda: (t := web.get(f"{url}api/v1/tasks/{task_id}", timeout=10).json())["status"]
                          in ("succeeded", "failed") and t, 90, "the hello template to run on the demo site")
        assert done["status"] == "succeeded", done
        assert done["result"]["extracted"]["heading"] == "Pilothouse demo shop"
        assert stack_processes(run_dir), "the stack's processes carry PILOTHOUSE_RUN_DIR"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, "".join(lines)[-3000:]
    wait_until(lambda: not stack_processes(run_dir), 30, "every process of the stack to exit")
