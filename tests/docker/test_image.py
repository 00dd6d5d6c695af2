"""The worker image, built and run for real: what Railway will deploy.

Each container runs on the host network with a 64 MB /dev/shm (Railway's default), talks to
a Redis on the host, and gets tasks the way the main app sends them: by name, from a plain
Celery client, with nothing of the worker imported but its contract (worker.spec.channels).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import sync_playwright

from tests.docker.harness import API_TOKEN, DockerEngine, WorkerContainer, Workers
from tests.fixtures.xvfb import wait_until
from worker.spec.channels import (
    EVENT_FIELD,
    TASK_NAME,
    attempts_key,
    events_stream,
    session_key,
    viewers_key,
    vnc_token_key,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(900)]

COLOUR = (0xE0, 0x30, 0x1E)  # tests/fixtures/pages/colour.html's background
VIEWER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def worker(workers: Workers) -> Iterator[WorkerContainer]:
    """One worker shared by the tests that do not stop it."""
    container = workers.start()
    yield container
    workers.remove(container)


def send(worker: WorkerContainer, spec: dict):
    """Queue ``spec`` as the main app does; return (task id, AsyncResult)."""
    task_id = str(uuid.uuid4())
    kwargs = {"task_id": task_id, "spec": spec, "owner": "tester"}
    result = worker.celery().send_task(TASK_NAME, kwargs=kwargs, queue="automation")
    return task_id, result


def wait_running(worker: WorkerContainer, task_id: str, timeout: float = 60) -> dict:
    """The task's live-session record, once the worker has opened it."""
    client = redis.Redis.from_url(worker.redis_url, decode_responses=True)
    return wait_until(lambda: client.hgetall(session_key(task_id)), timeout, f"task {task_id} to start",
                      interval=0.1)


def states(worker: WorkerContainer, task_id: str) -> list[str]:
    client = redis.Redis.from_url(worker.redis_url, decode_responses=True)
    events = [json.loads(fields[EVENT_FIELD]) for _, fields in client.xrange(events_stream(task_id))]
    return [e["state"] for e in events if e.get("type") == "state"]


# -- the image itself ------------------------------------------------------------------------


def test_image_config(docker_engine: DockerEngine, worker_image: str):
    inspect = docker_engine.docker("image", "inspect", worker_image, "--format", "{{json .Config}}")
    config = json.loads(inspect.stdout)
    assert config["User"] == "10001:10001"
    assert {"6080/tcp", "8081/tcp"} <= set(config["ExposedPorts"])
    assert config["Cmd"] == ["/app/worker/bin/start-supervisord.sh"] and not config.get("Entrypoint")
    assert config["WorkingDir"] == "/app"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert "PORT" not in env  # Railway sets it
    assert env["BROWSER_EXECUTABLE"] == "/usr/lib/chromium/chromium"


def test_image_contents_as_the_unprivileged_user(docker_engine: DockerEngine, worker_image: str):
    probe = """
import os, stat, subprocess, sys
assert os.getuid() == 10001, os.getuid()
print(subprocess.run([os.environ["BROWSER_EXECUTABLE"], "--version"], capture_output=True, text=True).stdout)
assert stat.S_IMODE(os.stat("/tmp/.X11-unix").st_mode) == 0o1777
assert os.access("/app/artifacts", os.W_OK) and not os.access("/app/worker", os.W_OK)
assert os.path.isfile(os.path.join(os.environ["NOVNC_WEB"], "vnc.html"))
for tool in ("Xvfb", "x11vnc", "xdpyinfo", "supervisord", "celery", "gunicorn"):
    assert subprocess.run(["which", tool], capture_output=True).returncode == 0, tool
import worker.api, worker.tasks, worker.live.proxy_server  # imports only, no connection
"""
    done = docker_engine.docker("run", "--rm", "--network", "none", "-e", "WORKER_API_TOKEN=x",
                                worker_image, "python3", "-c", probe)
    assert "Chromium" in done.stdout


def test_the_entry_point_refuses_to_start_without_an_api_token(docker_engine: DockerEngine,
                                                               worker_image: str):
    done = docker_engine.docker("run", "--rm", "--network", "none", worker_image, check=False, timeout=60)
    assert done.returncode != 0 and "WORKER_API_TOKEN" in done.stderr


# -- a running worker ------------------------------------------------------------------------


def test_health_and_dockers_own_healthcheck(worker: WorkerContainer):
    status, body = worker.health()
    assert status == 200 and body["status"] == "ok", body
    assert [slot["browser"] for slot in body["slots"]] == ["up"]

    def docker_verdict() -> str | None:
        status = worker.inspect("{{.State.Health.Status}}")
        return status if status in ("healthy", "unhealthy") else None

    assert wait_until(docker_verdict, 60, "docker's health status", interval=0.5) == "healthy"


def test_a_task_sent_by_name_runs_in_the_container(worker: WorkerContainer, site):
    task_id, pending = send(worker, {
        "version": 1, "start_url": site.url("/index.html"),
        "steps": [{"action": "extract", "name": "h", "selector": "h1"},
                  {"action": "screenshot", "name": "shot"}]})
    result = pending.get(timeout=120)
    assert result["status"] == "succeeded", result
    assert result["task_id"] == task_id and result["extracted"] == {"h": "Fixture home"}
    (shot,) = result["artifacts"]
    # written by the unprivileged user into the image's artifacts folder
    worker.engine.docker("exec", worker.name, "test", "-s", f"/app/artifacts/{shot['key']}")
    assert states(worker, task_id)[-1] == "succeeded"


def test_live_view_shows_the_running_page_through_novnc(worker: WorkerContainer, site):
    task_id, pending = send(worker, {
        "version": 1, "start_url": site.url("/colour.html"), "live_view": True,
        "steps": [{"action": "sleep", "seconds": 12}]})
    token = wait_running(worker, task_id)["token"]
    client = redis.Redis.from_url(worker.redis_url, decode_responses=True)
    assert client.exists(vnc_token_key(token))
    url = f"http://127.0.0.1:{worker.novnc_port}/vnc.html?autoconnect=1&path=websockify%3Ftoken%3D{token}"
    with sync_playwright() as pw:
        viewer = pw.chromium.launch(executable_path="/usr/lib/chromium/chromium", args=VIEWER_ARGS)
        try:
            page = viewer.new_page()
            page.goto(url)
            canvas = "#noVNC_container canvas"
            page.wait_for_function(f"document.querySelector('{canvas}')?.width >= 1280", timeout=20_000)
            # The page's solid background fills the lower part of the remote screen (the
            # browser's own toolbar is at the top): sample a few points there.
            read = f"""() => {{
                const c = document.querySelector('{canvas}'), ctx = c.getContext('2d');
                return [[0.25, 0.6], [0.5, 0.75], [0.75, 0.9]].map(([x, y]) => Array.from(
                    ctx.getImageData(Math.floor(c.width * x), Math.floor(c.height * y), 1, 1).data));
            }}"""

            def shows_the_colour() -> bool:
                return all(close(pixel, COLOUR) for pixel in page.evaluate(read))

            wait_until(shows_the_colour, 20, "the page's colour on the noVNC canvas", interval=0.2)
            assert client.get(viewers_key(task_id)) == "1"
        finally:
            viewer.close()
    assert pending.get(timeout=60)["status"] == "succeeded"
    # the token dies with the task: nobody can open this display any more
    assert not client.exists(vnc_token_key(token))


def close(pixel: list[int], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def test_live_view_refuses_a_websocket_without_a_valid_token(worker: WorkerContainer):
    for path in ("/websockify?token=not-a-token", "/websockify"):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        with socket.create_connection(("127.0.0.1", worker.novnc_port), timeout=10) as sock:
            sock.sendall(request.encode())
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
            # websockify accepts the upgrade, then closes without ever reaching a VNC server
            if b" 101 " in status_line:
                sock.settimeout(10)
                assert b"RFB" not in sock.recv(4096)


def test_the_api_wants_the_shared_secret(worker: WorkerContainer):
    url = f"http://127.0.0.1:{worker.api_port}/api/sessions"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


# -- redeploys: SIGTERM must not lose a task -------------------------------------------------


def test_docker_stop_lets_a_running_task_finish(start_worker, site):
    worker = start_worker(RAILWAY_DEPLOYMENT_DRAINING_SECONDS="20")
    task_id, pending = send(worker, {
        "version": 1, "start_url": site.url("/index.html"),
        "steps": [{"action": "sleep", "seconds": 4}, {"action": "extract", "name": "h", "selector": "h1"}]})
    wait_running(worker, task_id)
    started = time.monotonic()
    worker.engine.docker("stop", "-t", "60", worker.name, timeout=120)
    took = time.monotonic() - started
    result = pending.get(timeout=10)
    assert result["status"] == "succeeded" and result["extracted"] == {"h": "Fixture home"}
    assert "retrying" not in states(worker, task_id)
    assert worker.inspect("{{.State.ExitCode}}") == "0"
    assert took < 55, f"docker stop took {took:.0f} s: supervisord did not exit before the SIGKILL"


def test_docker_stop_hands_an_unfinished_task_back_and_the_restarted_container_runs_it(start_worker, site):
    # A draining time shorter than the task: the worker must give the task back, not drop it.
    worker = start_worker(RAILWAY_DEPLOYMENT_DRAINING_SECONDS="4")
    task_id, pending = send(worker, {
        "version": 1, "start_url": site.url("/index.html"),
        "steps": [{"action": "sleep", "seconds": 10}, {"action": "extract", "name": "h", "selector": "h1"}]})
    wait_running(worker, task_id)
    worker.engine.docker("stop", "-t", "60", worker.name, timeout=120)
    assert pending.state != "SUCCESS"
    assert worker.inspect("{{.State.ExitCode}}") == "0"
    worker.engine.docker("start", worker.name)
    worker.wait_ready()
    result = pending.get(timeout=120)
    assert result["status"] == "succeeded" and result["extracted"] == {"h": "Fixture home"}
    client = redis.Redis.from_url(worker.redis_url, decode_responses=True)
    assert int(client.get(attempts_key(task_id))) == 2
    assert "retrying" in states(worker, task_id)
