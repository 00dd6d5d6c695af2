"""The whole Pilothouse stack on this machine, in the foreground: Redis, the demo site, the
worker (natively, from worker/supervisord.conf) and the main app (gunicorn). Prints the URL
and a login; Ctrl-C stops everything. Started by ``bash scripts/run.sh`` (``make run``).

State lives in ``.run/`` (``PILOTHOUSE_RUN_DIR``): logs, the generated secrets, the first
admin's login. Ports are the usual ones when free, else free ones; set ``PORT``,
``WORKER_API_PORT``, ``NOVNC_PORT``, ``REDIS_URL`` or ``DATABASE_URL`` to choose.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ADMIN_EMAIL = "admin@pilothouse.local"
FLASK = [str(VENV_BIN / "flask"), "--app", "main_app"]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, count: int = 1, taken: set[int] | None = None) -> int:
    """``preferred`` when it (and the ``count - 1`` after it) are free, else the next such run."""
    taken = taken if taken is not None else set()
    for base in range(preferred, preferred + 2000):
        run = range(base, base + count)
        if all(p not in taken and port_free(p) for p in run):
            taken.update(run)
            return base
    raise SystemExit(f"no free port near {preferred}")


def pick_display(preferred: int, count: int) -> int:
    for base in range(preferred, preferred + 400):
        if all(not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
               for n in range(base, base + count)):
            return base
    raise SystemExit("no free X display numbers")


def secret_file(path: Path) -> str:
    """A secret generated once and kept in ``path`` (mode 600)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def wait_http(url: str, what: str, procs: dict[str, subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; see its log in .run/logs/")
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{what} is not healthy after {timeout:.0f} s ({url}); see .run/logs/")


class Stack:
    """Starts the processes in order and stops them in reverse."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.logs = run_dir, run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                        PYTHONUNBUFFERED="1")

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (open while it runs)
        proc = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def run_once(self, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                print(f"stopping {name}…", flush=True)
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def configure(stack: Stack) -> dict[str, str]:
    """Ports, URLs and secrets for every service (environment wins where it is set)."""
    env, taken = os.environ, set()
    concurrency = int(env.get("JOB_CONCURRENCY", "2"))
    cfg = {
        "MAIN_PORT": str(int(env["PORT"]) if env.get("PORT") else pick_port(5000, taken=taken)),
        "WORKER_API_PORT": env.get("WORKER_API_PORT") or str(pick_port(8081, taken=taken)),
        "NOVNC_PORT": env.get("NOVNC_PORT") or str(pick_port(6080, taken=taken)),
        "VNC_PORT": env.get("VNC_PORT") or str(pick_port(5900, concurrency, taken)),
        "VNC_CONTROL_PORT": env.get("VNC_CONTROL_PORT") or str(pick_port(5950, concurrency, taken)),
        "DISPLAY": f":{pick_display(99, concurrency)}",
        "JOB_CONCURRENCY": str(concurrency),
        "SECRET_KEY": env.get("SECRET_KEY") or secret_file(stack.run_dir / "secret-key"),
        "WORKER_API_TOKEN": env.get("WORKER_API_TOKEN") or secret_file(stack.run_dir / "worker-token"),
        "DATABASE_URL": env.get("DATABASE_URL", "sqlite:///instance/pilothouse.db"),
        "ARTIFACTS_URL": env.get("ARTIFACTS_URL", f"file://{ROOT / 'artifacts'}"),
        "ALLOW_PRIVATE_NETWORKS": env.get("ALLOW_PRIVATE_NETWORKS", "1"),  # reach sites on this machine
        "SUPERVISOR_RUN_DIR": str(stack.run_dir / "supervisor"),
        "PROMETHEUS_MULTIPROC_DIR": str(stack.run_dir / "metrics"),
        "WORKER_ID": env.get("WORKER_ID", "local-worker"),
    }
    cfg["WORKER_SERVICE_URL"] = f"http://127.0.0.1:{cfg['WORKER_API_PORT']}"
    return cfg


def admin_login(stack: Stack) -> str:
    """Create the first admin if there is none; return the login to print."""
    login_file = stack.run_dir / "admin-login"
    out = stack.run_once([*FLASK, "create-admin", ADMIN_EMAIL, "--if-none"])
    if "admin created" in out:
        password = out.strip().rsplit(" / ", 1)[1]
        login_file.write_text(f"{ADMIN_EMAIL} / {password}\n")
        login_file.chmod(0o600)
    if login_file.exists():
        return login_file.read_text().strip()
    return "an admin exists already (created outside this script); sign in with it"


def main() -> int:
    run_dir = Path(os.environ.get("PILOTHOUSE_RUN_DIR", ROOT / ".run")).resolve()
    stack = Stack(run_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        cfg = configure(stack)
        if not os.environ.get("REDIS_URL"):
            port = pick_port(6390)
            stack.start("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", str(run_dir)])
            cfg["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        demo_port = pick_port(8090)
        stack.start("demo-site", [sys.executable, "-m", "worker.demo_site", "--port", str(demo_port)])
        cfg["DEMO_SITE_URL"] = f"http://127.0.0.1:{demo_port}"
        stack.env.update(cfg)
        stack.env.pop("PORT", None)  # the worker's API would take it (on Railway it is the worker's)
        stack.run_once([*FLASK, "db", "upgrade"])
        login = admin_login(stack)
        stack.start("worker", [str(ROOT / "worker" / "bin" / "start-supervisord.sh")])
        stack.start("main-app", [str(VENV_BIN / "gunicorn"), "-c", "main_app/gunicorn_conf.py",
                                 "main_app:create_app()"], PORT=cfg["MAIN_PORT"])
        url = f"http://127.0.0.1:{cfg['MAIN_PORT']}/"
        print("starting: Redis, the demo site, the worker and the main app…", flush=True)
        wait_http(f"{url}health", "the main app", stack.procs)
        wait_http(f"{cfg['WORKER_SERVICE_URL']}/health", "the worker", stack.procs)
        print(f"\nPilothouse is running: {url}\n  sign in:   {login}\n"
              f"  demo site: {cfg['DEMO_SITE_URL']}/ (the task templates run against it)\n"
              f"  logs:      {stack.logs}/\nCtrl-C stops everything.\n", flush=True)
        while all(proc.poll() is None for proc in stack.procs.values()):
            time.sleep(1)
        dead = [name for name, proc in stack.procs.items() if proc.poll() is not None]
        print(f"{', '.join(dead)} stopped; see {stack.logs}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
