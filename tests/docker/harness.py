"""The Docker test harness as plain code: the private engine, worker containers, free ports.

The fixtures in conftest.py wire these together; the tests use them directly.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.xvfb import wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENGINE_DIR = Path(os.environ.get("PILOTHOUSE_DOCKER_DIR", "/var/tmp/pilothouse-docker"))
DOCKER = "/usr/bin/docker"  # Debian's 20.10 client: its BuildKit needs no buildx plug-in
IMAGE = "pilothouse-worker:test"
API_TOKEN = "test-token"
READY_TIMEOUT_S = 90

# Phase -> duration or size, printed at the end of the run, so cold/warm costs stay visible.
TIMINGS: dict[str, str] = {}


def timed(phase: str, started: float) -> None:
    TIMINGS[phase] = f"{time.monotonic() - started:.1f} s"


def host_network() -> dict[str, str]:
    """What dockerd changes on the host, and engine.sh must put back."""
    def iptables(*args: str) -> list[str]:
        done = subprocess.run(["iptables", *args], capture_output=True, text=True, check=True)
        return done.stdout.splitlines()

    chains = [line.split()[1] for table in ("filter", "nat") for line in iptables("-t", table, "-S")
              if line.startswith("-N DOCKER")]
    return {
        "FORWARD policy": iptables("-S", "FORWARD")[0],
        "docker0": "present" if Path("/sys/class/net/docker0").exists() else "absent",
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
        "DOCKER chains": " ".join(sorted(chains)),
    }


def engine_script(command: str) -> None:
    """``tests/docker/engine.sh <command>`` (start, stop, purge)."""
    subprocess.run([str(HERE / "engine.sh"), command], check=True, timeout=180,
                   env={**os.environ, "PILOTHOUSE_DOCKER_DIR": str(ENGINE_DIR)})


@dataclass
class DockerEngine:
    """The private engine: ``env`` points Docker's client at it."""

    env: dict[str, str]

    @classmethod
    def private(cls) -> DockerEngine:
        return cls(env={**os.environ, "DOCKER_HOST": f"unix://{ENGINE_DIR}/docker.sock",
                        "DOCKER_BUILDKIT": "1", "DOCKER_CLI": DOCKER,
                        "PILOTHOUSE_DOCKER_DIR": str(ENGINE_DIR)})

    def docker(self, *args: str, timeout: float = 120,
               check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_display(taken: set[int], start: int = 180) -> int:
    """An X display number free on the host and not ``taken`` by another test container:
    with the host's network namespace shared, abstract X sockets would collide."""
    for number in range(start, start + 400):
        in_use = Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()
        if number in taken or in_use:
            continue
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.bind(f"\0/tmp/.X11-unix/X{number}")
            except OSError:
                continue
        return number
    raise RuntimeError("no free X display number")


@dataclass
class WorkerContainer:
    """A running worker; every port is a host port (``--network host``)."""

    engine: DockerEngine
    name: str
    redis_url: str
    api_port: int
    novnc_port: int
    env: dict[str, str] = field(default_factory=dict)

    def health(self) -> tuple[int, dict]:
        """(status, body) of ``/health``; status 0 while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/health", timeout=3) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except (OSError, ValueError):
            return 0, {}

    def wait_ready(self) -> dict:
        """Poll ``/health`` until 200 (the API answers 503 while the slots warm up)."""
        def ready() -> dict | None:
            status, body = self.health()
            return body if status == 200 else None

        try:
            return wait_until(ready, READY_TIMEOUT_S, f"{self.name} /health 200", interval=0.2)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; the container's log:\n{self.logs()[-4000:]}") from None

    def inspect(self, template: str) -> str:
        """``docker inspect --format template`` of this container."""
        return self.engine.docker("inspect", self.name, "--format", template).stdout.strip()

    def logs(self) -> str:
        done = self.engine.docker("logs", self.name, check=False)
        return done.stdout + done.stderr

    def celery(self):
        """A plain Celery client, like the main app's: it sends tasks by name only."""
        import celery

        return celery.Celery(broker=self.redis_url, backend=self.redis_url)


class Workers:
    """Starts worker containers and removes them (keeping their logs in ENGINE_DIR/logs)."""

    def __init__(self, engine: DockerEngine, image: str, redis_url: str):
        self.engine, self.image, self.redis_url = engine, image, redis_url
        self.running: list[WorkerContainer] = []
        self._dbs = itertools.count(1)
        self._displays: set[int] = set()

    def start(self, **extra_env: str) -> WorkerContainer:
        """A ready worker (``/health`` 200); ``extra_env`` overrides the defaults below."""
        name = f"pilothouse-test-{uuid.uuid4().hex[:8]}"
        api_port, novnc_port, vnc_port, control_port = free_port(), free_port(), free_port(), free_port()
        display = free_display(self._displays)
        self._displays.add(display)
        env = {
            # its own database: containers never take each other's tasks from the shared queue
            "REDIS_URL": f"{self.redis_url}/{next(self._dbs)}",
            "WORKER_API_TOKEN": API_TOKEN,
            "WORKER_ID": name,
            "JOB_CONCURRENCY": "1",
            "ALLOW_PRIVATE_NETWORKS": "1",  # the test pages are served on 127.0.0.1
            "WORKER_API_PORT": str(api_port),
            "NOVNC_PORT": str(novnc_port),
            "VNC_PORT": str(vnc_port),
            "VNC_CONTROL_PORT": str(control_port),
            "DISPLAY": f":{display}",
            **extra_env,
        }
        # --network host: the container's ports are host ports, and it reaches the host's
        # Redis and test pages at 127.0.0.1. --shm-size: Railway's default /dev/shm.
        args = ["run", "-d", "--name", name, "--network", "host", "--shm-size=64m",
                "--health-interval=2s"]  # the image's own check, polled faster than in production
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        started = time.monotonic()
        self.engine.docker(*args, self.image)
        worker = WorkerContainer(self.engine, name, env["REDIS_URL"], api_port, novnc_port, env)
        self.running.append(worker)
        worker.wait_ready()
        TIMINGS.setdefault("container run -> /health 200", f"{time.monotonic() - started:.1f} s")
        return worker

    def remove(self, worker: WorkerContainer) -> None:
        logs = ENGINE_DIR / "logs"
        logs.mkdir(exist_ok=True)
        (logs / f"{worker.name}.log").write_text(worker.logs())
        self.engine.docker("rm", "-f", worker.name, check=False, timeout=60)
        self.running.remove(worker)
