"""Fixtures that build and run the worker image on the test suite's own, private dockerd.

``docker_engine`` (session): installs Debian's engine if missing, starts a private dockerd
(engine.sh), imports the stand-in ``debian:bookworm-slim`` (make_base.sh), and on teardown
stops the engine and checks that the host's network is as it found it.
``worker_image`` (session): ``pilothouse-worker:test``, built from worker/ alone.
``workers`` (session) / ``start_worker`` (per test): worker containers, ready to take tasks.

Engine state lives in ``$PILOTHOUSE_DOCKER_DIR`` (default /var/tmp/pilothouse-docker) and is
kept between runs, so a warm run reuses the image cache. Needs root.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.docker.harness import (
    DOCKER,
    ENGINE_DIR,
    HERE,
    IMAGE,
    ROOT,
    TIMINGS,
    DockerEngine,
    WorkerContainer,
    Workers,
    engine_script,
    free_port,
    host_network,
    timed,
)
from tests.fixtures.xvfb import wait_until


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMINGS:
        terminalreporter.section("docker timings")
        for phase, value in TIMINGS.items():
            terminalreporter.write_line(f"{phase:<34} {value}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private dockerd with the stand-in base image; the host is checked on the way out."""
    if os.geteuid() != 0:
        pytest.fail("the Docker tests need root (dockerd, iptables); deselect them with -m 'not docker'")
    ENGINE_DIR.mkdir(parents=True, exist_ok=True)
    # One engine directory, one test session at a time.
    with open(ENGINE_DIR.with_name(ENGINE_DIR.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", str(HERE / "ensure_packages.sh")], check=True, timeout=900)
        # An engine left running by a killed session holds the clean snapshot: stopping it
        # restores the host first, so that "before" is the host's own state.
        if (ENGINE_DIR / "dockerd.pid").exists() or (ENGINE_DIR / "host").exists():
            engine_script("stop")
        before = host_network()
        started = time.monotonic()
        engine_script("start")
        timed("engine start", started)
        engine = DockerEngine.private()
        try:
            started = time.monotonic()
            subprocess.run([str(HERE / "make_base.sh")], env=engine.env, check=True, timeout=600,
                           stdout=subprocess.DEVNULL)
            timed("stand-in base image", started)
            yield engine
        finally:
            with contextlib.suppress(Exception):
                TIMINGS["engine data root (du)"] = subprocess.run(
                    ["du", "-sh", str(ENGINE_DIR / "data")], capture_output=True, text=True,
                    timeout=120).stdout.split()[0]
            started = time.monotonic()
            engine_script("stop")
            timed("engine stop", started)
        assert host_network() == before, "the private dockerd left the host's network changed"


@pytest.fixture(scope="session")
def worker_image(docker_engine: DockerEngine) -> str:
    """``pilothouse-worker:test``, built with worker/ alone as the context (as on Railway)."""
    log = ENGINE_DIR / "build.log"
    started = time.monotonic()
    # No --pull (no registry): FROM resolves to the stand-in base.
    with log.open("w") as out:
        done = subprocess.run([DOCKER, "build", "--progress=plain", "-t", IMAGE, str(ROOT / "worker")],
                              env=docker_engine.env, stdout=out, stderr=subprocess.STDOUT, timeout=1200)
    if done.returncode != 0:
        pytest.fail(f"docker build failed; tail of {log}:\n" + "\n".join(log.read_text().splitlines()[-40:]))
    timed("docker build", started)
    size = int(docker_engine.docker("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout)
    TIMINGS["image size"] = f"{size / 1e9:.2f} GB"
    return IMAGE


@pytest.fixture(scope="session")
def host_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away redis-server on the host (the containers share its network); yields
    ``redis://127.0.0.1:<port>`` without a database number."""
    server = shutil.which("redis-server")
    if not server:
        pytest.fail("redis-server is not installed: run scripts/bootstrap.sh")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--databases", "64",
                             "--save", "", "--appendonly", "no", "--dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: proc.poll() is not None or _answers(port), 10, "redis-server")
        assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    with contextlib.suppress(redis.RedisError), client:
        return bool(client.ping())
    return False


@pytest.fixture(scope="session")
def workers(docker_engine: DockerEngine, worker_image: str, host_redis: str) -> Iterator[Workers]:
    """The session's container starter; what is still running is removed at the end."""
    registry = Workers(docker_engine, worker_image, host_redis)
    yield registry
    for worker in list(registry.running):
        registry.remove(worker)


@pytest.fixture
def start_worker(workers: Workers) -> Iterator[Callable[..., WorkerContainer]]:
    """``start_worker(**env)`` for one test: its containers are removed after it."""
    mine: list[WorkerContainer] = []

    def start(**extra_env: str) -> WorkerContainer:
        worker = workers.start(**extra_env)
        mine.append(worker)
        return worker

    yield start
    for worker in mine:
        workers.remove(worker)
