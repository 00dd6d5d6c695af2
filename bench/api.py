"""The main app end to end: what it adds to a task, and how many submissions it accepts.

    .venv/bin/python bench/api.py                    # 30 tasks per path, 300 submissions (≈ 1.5 min)
    .venv/bin/python bench/api.py --tasks 10 --submissions 100 --json

It starts everything itself: a private ``redis-server``, the demo site, the worker stack from
``worker/supervisord.conf`` (1 slot) and the main app under gunicorn with
``main_app/gunicorn_conf.py`` (2 processes, each with its recorder) on a SQLite database (or
``--database postgresql``: a PostgreSQL server the benchmark starts). A user signs up through
the real forms and gets an API token.

latency (spaced: ``--gap-ms`` idle before every task, the paths interleaved round robin)
    api -> db      POST /api/v1/tasks with the token, until the recorder has written the final
                   state to the database (read straight from the database every 2 ms): the
                   task's result is durable.
    api -> events  the same submission, until the final state arrives on GET .../events (the
                   server-sent events a watching client reads; no recorder in that path).
    worker         the worker's own figure, as bench/worker.py: ``send_task`` by name straight
                   to Celery, until the final state appears on the task's Redis stream.
    "the main app adds" = median(api -> db) - median(worker): validation, the database row, the
    enqueue, and the recorder's trip from the stream to the database.
submissions (the worker's Celery stopped, so nothing runs meanwhile)
    ``--submissions`` POST /api/v1/tasks from ``--clients`` threads at once: accepted per second
    and the median time per request. The queued tasks are dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # also runnable as a plain script
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import sqlalchemy  # noqa: E402

from bench.engine import NOISY_LOAD, _system_busy, machine  # noqa: E402
from bench.worker import MainAppClient, summary, task_spec  # noqa: E402
from main_app.settings import database_url  # noqa: E402
from tests.fixtures.main_app import MainAppServer, WebUser  # noqa: E402
from tests.fixtures.postgres import PostgresServer  # noqa: E402
from tests.fixtures.redis_server import RedisServer  # noqa: E402
from tests.fixtures.worker_stack import WorkerStack  # noqa: E402
from worker.demo_site import serve  # noqa: E402
from worker.settings import EngineSettings  # noqa: E402

TARGET_MS = 30
POLL_S = 0.002
TASK_TIMEOUT_S = 120
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


class ApiPaths:
    """The two ways through the main app, timed from the submission."""

    def __init__(self, user: WebUser, db_url: str, spec: dict[str, Any]):
        self.user, self.spec = user, spec
        self.engine = sqlalchemy.create_engine(database_url(db_url))
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {user.token()}"

    def submit(self) -> str:
        answer = self.http.post(self.user.server.url + "/api/v1/tasks", json=self.spec, timeout=30)
        if answer.status_code != 201:
            raise RuntimeError(f"submission refused: {answer.status_code} {answer.text[:200]}")
        return answer.json()["id"]

    def to_db(self) -> dict[str, float]:
        t0 = time.perf_counter()
        task_id = self.submit()
        accepted = time.perf_counter()
        query = sqlalchemy.text("SELECT status FROM tasks WHERE id = :id")
        deadline = t0 + TASK_TIMEOUT_S
        with self.engine.connect() as connection:
            while time.perf_counter() < deadline:
                status = connection.execute(query, {"id": task_id}).scalar()
                connection.rollback()  # a fresh snapshot for the next read
                if status in FINAL:
                    return self._checked(status, t0, accepted)
                time.sleep(POLL_S)
        raise TimeoutError(f"task {task_id} not recorded within {TASK_TIMEOUT_S} s")

    def to_events(self) -> dict[str, float]:
        t0 = time.perf_counter()
        task_id = self.submit()
        accepted = time.perf_counter()
        url = f"{self.user.server.url}/api/v1/tasks/{task_id}/events"
        with self.http.get(url, stream=True, timeout=TASK_TIMEOUT_S) as stream:
            for line in stream.iter_lines(chunk_size=None):  # as it arrives, not in 512-byte chunks
                if line.startswith(b"data: ") and b'"type": "state"' in line:
                    state = json.loads(line[6:]).get("state")
                    if state in FINAL:
                        return self._checked(state, t0, accepted)
        raise RuntimeError(f"the event stream of {task_id} ended without a final state")

    @staticmethod
    def _checked(status: str, t0: float, accepted: float) -> dict[str, float]:
        if status != "succeeded":
            raise RuntimeError(f"a benchmark task {status}")
        return {"wall": (time.perf_counter() - t0) * 1000, "submit": (accepted - t0) * 1000}


def latency(paths: dict[str, Callable[[], dict[str, float]]], rounds: int, warmup: int,
            gap_s: float) -> dict[str, Any]:
    """Round robin, the order rotating every round, ``gap_s`` idle before every task."""
    for run in paths.values():
        for _ in range(warmup):
            run()
    names, walls, submits = list(paths), {n: [] for n in paths}, {n: [] for n in paths}
    busy, t = _system_busy(), time.perf_counter()
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            time.sleep(gap_s)
            record = paths[name]()
            walls[name].append(record["wall"])
            submits[name].append(record.get("submit", 0.0))
    load = (_system_busy() - busy) / (time.perf_counter() - t)
    return {"wall_ms": {n: summary(v) for n, v in walls.items()},
            "submit_ms": {n: round(statistics.median(v), 1) for n, v in submits.items() if any(v)},
            "machine_busy_cores": round(load, 2)}


def submissions(paths: ApiPaths, n: int, clients: int) -> dict[str, Any]:
    """``n`` submissions from ``clients`` threads at once (nothing runs them meanwhile)."""
    times, lock = [], threading.Lock()

    def one(_: int) -> None:
        t0 = time.perf_counter()
        paths.submit()
        with lock:
            times.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    return {"submissions": n, "clients": clients, "wall_s": round(wall, 2),
            "accepted_per_s": round(n / wall, 1), "request_ms": summary(times)}


@contextlib.contextmanager
def deployment(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[WorkerStack, MainAppServer]]:
    """Redis, the demo site, a 1-slot worker and the main app, stopped in reverse order."""
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer(workdir=workdir / "redis")
        (workdir / "redis").mkdir()
        redis_server.start()
        stack.callback(redis_server.stop)
        worker = WorkerStack(redis_server.url(0), workdir / "worker", concurrency=1, worker_id="bench-api")
        worker.start(timeout=120)
        stack.callback(worker.stop)
        db_url = None
        if args.database == "postgresql":
            postgres = PostgresServer().start()
            stack.callback(postgres.stop)
            db_url = postgres.create_database("bench")
        main = MainAppServer(workdir / "main", redis_url=redis_server.url(0), worker_url=worker.api_url,
                             worker_token=worker.token, artifacts_dir=worker.artifacts, database_url=db_url)
        main.start()
        stack.callback(main.stop)
        yield worker, main


def run(args: argparse.Namespace) -> dict[str, Any]:
    site = serve("127.0.0.1", 0)
    try:
        with tempfile.TemporaryDirectory(prefix="pilothouse-bench-api-") as tmp, \
                deployment(args, Path(tmp)) as (worker, main):
            user = WebUser(main, "bench@pilothouse.test").signup()
            spec = task_spec(site.url + "/")
            paths = ApiPaths(user, main.database_url, spec)
            direct = MainAppClient(worker.redis_url)
            try:
                lat = latency({"api -> db": paths.to_db, "api -> events": paths.to_events,
                               "worker": lambda: {"wall": direct.run(spec)["stream"]}},
                              args.tasks, args.warmup, args.gap_ms / 1000)
            finally:
                direct.close()
            stopped = worker.supervisorctl("stop", "celery")
            if stopped.returncode != 0:
                raise RuntimeError(f"could not stop the worker's Celery: {stopped.stdout}{stopped.stderr}")
            sub = submissions(paths, args.submissions, args.clients)
            return {"machine": machine(EngineSettings.from_env()), "database": args.database,
                    "latency": lat, "submissions": sub}
    finally:
        site.stop()


def report(results: dict[str, Any]) -> str:
    lat, sub = results["latency"], results["submissions"]
    req = sub["request_ms"]
    lines = [f"latency — {results['database']}, spaced, interleaved; machine busy "
             f"{lat['machine_busy_cores']} cores (the stack itself included)",
             f"{'path':<16}{'median ms':>11}{'min–max ms':>18}{'p90 ms':>9}{'submit ms':>11}", "-" * 65]
    for name, s in lat["wall_ms"].items():
        span = f"{s['min']:.1f}–{s['max']:.1f}"
        lines.append(f"{name:<16}{s['median']:>11.1f}{span:>18}{s['p90']:>9.1f}"
                     f"{lat['submit_ms'].get(name, 0):>11.1f}")
    added = lat["wall_ms"]["api -> db"]["median"] - lat["wall_ms"]["worker"]["median"]
    live = lat["wall_ms"]["api -> events"]["median"] - lat["wall_ms"]["worker"]["median"]
    lines += ["", f"the main app adds to the median task: {added:+.1f} ms to the recorded result, "
              f"{live:+.1f} ms to the live final event (target ≤ {TARGET_MS} ms: "
              f"{'MET' if added <= TARGET_MS else 'MISSED'})",
              "", f"submissions — {sub['submissions']} from {sub['clients']} clients at once (nothing runs):",
              f"  {sub['accepted_per_s']} accepted per second ({sub['wall_s']} s); per request "
              f"median {req['median']} ms, p90 {req['p90']} ms, max {req['max']} ms"]
    if lat["machine_busy_cores"] > 1 + NOISY_LOAD * 4:
        lines.append("warning: the machine was busier than the benchmark alone explains")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/api.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=30, help="per path (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="per path (default: %(default)s)")
    parser.add_argument("--gap-ms", type=int, default=300, help="idle before each (default: %(default)s)")
    parser.add_argument("--submissions", type=int, default=300, help="(default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="threads submitting (default: %(default)s)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args)
    print(report(results))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
