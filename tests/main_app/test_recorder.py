"""The recorder: every task's events reach the database once, even when nobody watches, when
the main app was down while the task ran, when a recorder died holding entries, with two
replicas recording at once, and when the worker running a task vanished.

These tests run a deployment of their own (Redis database 5, a worker stack, a main app on
SQLite): a second main app on the same Redis would take this one's events. As on Railway, the
two services do not share an artifact store: the main app copies artifacts from the worker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from main_app.settings import database_url, recorder_group
from tests.fixtures.main_app import MainAppServer, WebUser
from tests.fixtures.worker_stack import WorkerStack
from tests.fixtures.xvfb import wait_until
from tests.main_app.conftest import quick_spec
from tests.worker_service.helpers import gated_spec, new_task_id
from worker.spec.channels import ALL_EVENTS_STREAM, MAX_ATTEMPTS, TASK_NAME, attempts_key, events_stream

pytestmark = pytest.mark.slow
DB = 5
FAST_REAPER = {"VANISHED_AFTER_S": "2", "VANISHED_CONFIRM_S": "1", "RECORDER_HOUSEKEEPING_S": "1",
               "RECORDER_RECLAIM_IDLE_MS": "1000"}


class Deployment:
    """One main app and its workers on a Redis database of their own."""

    def __init__(self, redis_server, workdir: Path):
        self.redis_url, self.workdir = redis_server.url(DB), workdir
        self.client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.stacks: list[WorkerStack] = []
        self.artifacts = workdir / "artifacts"  # the worker's
        self.main_artifacts = workdir / "main-artifacts"  # the main app's own store
        self.main: MainAppServer | None = None

    def start_worker(self) -> WorkerStack:
        stack = WorkerStack(self.redis_url, self.workdir / f"worker-{len(self.stacks)}", concurrency=1,
                            token="recorder-tests", extra_env={"ARTIFACTS_URL": f"file://{self.artifacts}"})
        self.stacks.append(stack)
        return stack.start()

    def start_main(self, **extra_env: str) -> MainAppServer:
        worker = self.stacks[0]
        self.main = MainAppServer(self.workdir / "main", redis_url=self.redis_url, worker_url=worker.api_url,
                                  worker_token=worker.token, artifacts_dir=self.main_artifacts,
                                  extra_env={**FAST_REAPER, **extra_env})
        return self.main.start()

    def close(self) -> None:
        if self.main:
            self.main.stop()
        for stack in self.stacks:
            stack.stop()
        self.client.flushdb()


@pytest.fixture(scope="module")
def deployment(redis_server, tmp_path_factory) -> Iterator[Deployment]:
    env = Deployment(redis_server, tmp_path_factory.mktemp("recorder"))
    env.start_worker()
    env.start_main()
    yield env
    env.close()


@pytest.fixture
def user(deployment: Deployment) -> WebUser:
    if deployment.main.proc is None:  # a test before stopped it
        deployment.main.start()
    return WebUser(deployment.main, f"rec-{uuid.uuid4().hex[:6]}@pilothouse.test").signup()


def db_task(main: MainAppServer, task_id: str):
    rows = main.query("SELECT status, attempts, error, error_kind FROM tasks WHERE id = :id", id=task_id)
    return rows[0] if rows else None


def db_events(main: MainAppServer, task_id: str) -> list[dict]:
    rows = main.query("SELECT data FROM task_events WHERE task_id = :id ORDER BY seq", id=task_id)
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]


def wait_db_final(main: MainAppServer, task_id: str, timeout: float = 60):
    return wait_until(lambda: (row := db_task(main, task_id)) and row[0] in (
        "succeeded", "failed", "cancelled", "timed_out") and row, timeout, f"task {task_id} final in the DB")


def ended_in_redis(deployment: Deployment, task_id: str) -> bool:
    """The worker wrote the task's final state to its stream."""
    events = (json.loads(f["event"]) for _, f in deployment.client.xrange(events_stream(task_id)))
    return any(e["type"] == "state" and e["state"] in ("succeeded", "failed") for e in events)


def assert_recorded_once(deployment: Deployment, task_id: str) -> list[dict]:
    """The DB holds every event of the task's stream, each exactly once."""
    stream = [json.loads(f["event"])["id"] for _, f in deployment.client.xrange(events_stream(task_id))]
    recorded = db_events(deployment.main, task_id)
    ids = [e["id"] for e in recorded]
    assert len(ids) == len(set(ids)), "an event was recorded twice"
    assert sorted(ids) == sorted(stream), "the database and the task's stream differ"
    finals = [e for e in recorded if e["type"] == "state" and e["state"] in ("succeeded", "failed")]
    assert len(finals) == 1
    return recorded


def test_a_task_nobody_watches_reaches_the_database_once(deployment, user, pages):
    task_id = user.api("POST", "/api/v1/tasks", json=quick_spec(pages)).json()["id"]
    row = wait_db_final(deployment.main, task_id)  # read straight from the database: nobody asks the app
    assert row[0] == "succeeded"
    assert assert_recorded_once(deployment, task_id)[0]["state"] == "queued"


def test_the_main_app_keeps_a_copy_of_the_artifacts_of_a_worker_it_does_not_share_a_store_with(
        deployment, user, pages):
    spec = {**quick_spec(pages), "steps": [{"action": "screenshot", "name": "proof"}]}
    task_id = user.api("POST", "/api/v1/tasks", json=spec).json()["id"]
    assert wait_db_final(deployment.main, task_id)[0] == "succeeded"
    copy = deployment.main_artifacts / task_id / "proof.png"
    original = deployment.artifacts / task_id / "proof.png"
    wait_until(copy.is_file, 10, "the recorder to copy the screenshot into the main app's store")
    assert copy.read_bytes() == original.read_bytes()
    original.unlink()  # the worker's container is gone: the main app still serves it
    served = user.api("GET", f"/api/v1/tasks/{task_id}/artifacts/proof.png")
    assert served.status_code == 200 and served.content == copy.read_bytes()


def run_while_the_main_app_is_down(deployment: Deployment, user: WebUser, pages) -> str:
    """A task that starts, then ends while the main app is stopped (it stays stopped)."""
    gate = new_task_id()
    task_id = user.api("POST", "/api/v1/tasks", json=gated_spec(pages, gate)).json()["id"]
    wait_until(lambda: pages.arrivals(gate), 30, "the task to run")
    deployment.main.stop()
    pages.open(gate)
    wait_until(lambda: ended_in_redis(deployment, task_id), 30, "the task to end while the main app is down")
    return task_id


def test_a_task_that_ran_while_the_main_app_was_down_is_recorded_when_it_is_back(deployment, user, pages):
    task_id = run_while_the_main_app_is_down(deployment, user, pages)
    assert db_task(deployment.main, task_id)[0] in ("queued", "running")  # nobody recorded the end

    deployment.main.start()
    assert wait_db_final(deployment.main, task_id)[0] == "succeeded"
    assert_recorded_once(deployment, task_id)


def test_entries_a_recorder_read_but_never_acknowledged_are_reclaimed(deployment, user, pages):
    """A recorder process that died after reading entries (before recording them) leaves them
    pending in the group: another recorder claims and records them."""
    task_id = run_while_the_main_app_is_down(deployment, user, pages)
    group = recorder_group(database_url(deployment.main.database_url))
    ghost = deployment.client.xreadgroup(group, "ghost-that-died", {ALL_EVENTS_STREAM: ">"},
                                         count=1000)
    taken = [entry_id for entry_id, fields in ghost[0][1] if fields.get("task_id") == task_id]
    assert taken, "the dead recorder should hold this task's entries"

    deployment.main.start()
    assert wait_db_final(deployment.main, task_id)[0] == "succeeded"
    assert_recorded_once(deployment, task_id)
    pending = deployment.client.xpending_range(ALL_EVENTS_STREAM, group, min="-", max="+", count=1000)
    assert not {p["message_id"] for p in pending} & set(taken), "reclaimed entries must be acknowledged"


def test_two_replicas_record_each_event_once(deployment, user, pages):
    replica = MainAppServer(deployment.workdir / "replica", redis_url=deployment.redis_url,
                            worker_url=deployment.stacks[0].api_url, worker_token="recorder-tests",
                            artifacts_dir=deployment.main_artifacts,
                            database_url=deployment.main.database_url, extra_env=FAST_REAPER)
    replica.start()
    try:
        ids = [user.api("POST", "/api/v1/tasks", json=quick_spec(pages)).json()["id"] for _ in range(6)]
        for task_id in ids:
            assert wait_db_final(deployment.main, task_id)[0] == "succeeded"
        for task_id in ids:
            assert_recorded_once(deployment, task_id)
    finally:
        replica.stop()


def test_a_task_whose_worker_vanished_goes_to_another_worker(deployment, user, pages):
    gate = new_task_id()
    task_id = user.api("POST", "/api/v1/tasks", json=gated_spec(pages, gate)).json()["id"]
    wait_until(lambda: pages.arrivals(gate), 30, "the task to run")
    first = deployment.stacks[0]
    first.kill_all()  # the container is gone: no SIGTERM, no hand-back
    first.stop()
    pages.open(gate)
    deployment.start_worker()

    row = wait_db_final(deployment.main, task_id, timeout=90)
    assert row[0] == "succeeded" and row[1] == 2, row
    retry = next(e for e in db_events(deployment.main, task_id) if e.get("state") == "retrying")
    assert first.worker_id in retry["reason"] and "stopped answering" in retry["reason"]
    assert_recorded_once(deployment, task_id)


def test_a_task_whose_worker_vanished_on_its_last_attempt_fails_and_never_runs_again(deployment, user, pages):
    gate = new_task_id()
    task_id = user.api("POST", "/api/v1/tasks", json=gated_spec(pages, gate)).json()["id"]
    wait_until(lambda: pages.arrivals(gate), 30, "the task to run")
    deployment.client.set(attempts_key(task_id), MAX_ATTEMPTS)  # as if lost twice before
    worker = deployment.stacks[-1]
    worker.kill_all()
    worker.stop()

    row = wait_db_final(deployment.main, task_id, timeout=60)
    assert row[0] == "failed" and row[3] == "worker_lost", row
    assert "vanished" in row[2] and worker.worker_id in row[2]

    # The broker hands the lost message out again (its visibility timeout ran out): the result stands.
    pages.open(gate)
    deployment.start_worker()
    from celery import Celery

    celery = Celery(broker=deployment.redis_url, backend=deployment.redis_url)
    spec = deployment.main.query("SELECT spec FROM tasks WHERE id = :id", id=task_id)[0][0]
    again = celery.send_task(TASK_NAME, kwargs={"task_id": task_id, "spec": json.loads(spec) if isinstance(
        spec, str) else spec, "owner": user.email}, task_id=task_id, queue="automation")
    assert again.get(timeout=60)["status"] == "failed"
    runs = [e for e in db_events(deployment.main, task_id) if e.get("state") == "running"]
    assert len(runs) == 1, "the task must not run again once it failed"
