"""What ``automation.run`` does, as plain code: claim the task, run it on this process's slot
with a live session, write every change to the task's stream, and store the result once.

Exactly once: the result is stored under the task id; a redelivered message whose result is
already stored returns it without running again, and a short lock (kept alive by the slot's
heartbeat) stops two processes from running the same task at the same time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from worker import metrics
from worker.service.events import STREAM_TTL_S, StepWriter, TaskEvents
from worker.service.runtime import LOCK_TTL_S, SlotRuntime
from worker.service.sessions import close_session, open_session
from worker.settings import WorkerSettings
from worker.spec import RunRequest, SpecError, TaskResult, parse_spec
from worker.spec.channels import (
    MAX_ATTEMPTS,
    append_event,
    attempts_key,
    cancel_key,
    control_key,
    result_key,
    run_lock_key,
)

log = logging.getLogger(__name__)
CANCEL_POLL_S = 0.2


class RetryLater(Exception):
    """The browser died under the task: run it again after ``countdown`` seconds."""

    def __init__(self, reason: str, countdown: float):
        super().__init__(reason)
        self.countdown = countdown


class RedisFlag:
    """A callable that says whether a Redis key exists, asking Redis at most every ``every`` s.
    A latching flag (cancel) stays true once seen; a plain one (control) follows the key."""

    def __init__(self, client: redis.Redis, key: str, every: float = CANCEL_POLL_S, latch: bool = True):
        self.client, self.key, self.every, self.latch = client, key, every, latch
        self._checked, self._value = 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not (self.latch and self._value) and now - self._checked >= self.every:
            self._checked = now
            try:
                self._value = bool(self.client.exists(self.key))
            except redis.RedisError:
                log.warning("cannot read %s", self.key)
        return self._value


def _claim(client: redis.Redis, task_id: str, owner_tag: str) -> None:
    """Take the run lock, waiting for a lost previous attempt's lock to lapse."""
    deadline = time.monotonic() + LOCK_TTL_S * 2
    while not client.set(run_lock_key(task_id), owner_tag, nx=True, ex=LOCK_TTL_S):
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {task_id} is still locked by {client.get(run_lock_key(task_id))!r}")
        time.sleep(0.25)


def _failure(task_id: str, message: str, kind: str) -> dict[str, Any]:
    now = time.time()
    return TaskResult(task_id=task_id, status="failed", error=message, error_kind=kind,
                      started_at=now, finished_at=now, duration_ms=0).model_dump(mode="json")


def _finish(client: redis.Redis, result: dict[str, Any]) -> dict[str, Any]:
    """Store the result where a redelivery finds it and announce the final state, at once."""
    task_id = result["task_id"]
    metrics.TASKS.labels(result["status"]).inc()
    pipe = client.pipeline(transaction=True)
    pipe.set(result_key(task_id), json.dumps(result), ex=STREAM_TTL_S)
    append_event(pipe, task_id, "state", state=result["status"], result=result)
    pipe.delete(cancel_key(task_id))
    pipe.execute()
    return result


def _recorder(writer: StepWriter) -> Callable[[dict[str, Any]], None]:
    """Forward the engine's step events to the stream (without waiting), and time the steps."""

    def record(event: dict[str, Any]) -> None:
        writer.put(event)
        if event["type"] == "step_finished":
            metrics.STEP_SECONDS.labels(event["action"]).observe(event["duration_ms"] / 1000)

    return record


def execute(request: RunRequest, runtime: SlotRuntime, client: redis.Redis,
            settings: WorkerSettings) -> dict[str, Any]:
    """Run the request once; raise ``RetryLater`` when another attempt may succeed."""
    task_id = request.task_id
    events = TaskEvents(client, task_id)
    pipe = client.pipeline(transaction=False)  # one round trip for the common case
    pipe.get(result_key(task_id))
    pipe.set(run_lock_key(task_id), runtime.lock_tag, nx=True, ex=LOCK_TTL_S)
    stored, locked = pipe.execute()
    if stored:  # delivered again after it finished: the result stands
        if locked:
            client.delete(run_lock_key(task_id))
        return json.loads(stored)
    if not locked:
        _claim(client, task_id, runtime.lock_tag)
    try:
        return _execute_claimed(request, runtime, client, settings, events)
    finally:
        client.delete(run_lock_key(task_id))


def _execute_claimed(request: RunRequest, runtime: SlotRuntime, client: redis.Redis,
                     settings: WorkerSettings, events: TaskEvents) -> dict[str, Any]:
    task_id = request.task_id
    pipe = client.pipeline(transaction=False)
    pipe.incr(attempts_key(task_id))
    pipe.expire(attempts_key(task_id), STREAM_TTL_S)
    pipe.exists(cancel_key(task_id))
    attempt, _, cancelled = pipe.execute()
    if attempt > 1:
        events.state("retrying", attempt=attempt, reason="a previous attempt did not finish")
    if attempt > MAX_ATTEMPTS:
        return _finish(client, _failure(
            task_id, f"gave up after {MAX_ATTEMPTS} attempts: the worker or browser was lost each time",
            "browser_crashed"))
    try:
        spec = parse_spec(request.spec)
    except SpecError as exc:
        return _finish(client, _failure(task_id, f"invalid task spec: {exc}", "step_failed"))
    if cancelled:
        return _finish(client, {**_failure(task_id, "cancelled before it started", "cancelled"),
                                        "status": "cancelled"})
    wait = time.time() - request.queued_at if request.queued_at else None
    if wait is not None:
        metrics.QUEUE_WAIT.observe(max(wait, 0))
    # the live session first: a page that hears "running" can connect at once
    session = open_session(client, settings, task_id=task_id, slot=runtime.index,
                           owner=request.owner, timeout_s=spec.timeout_s, live_view=spec.live_view)
    events.state("running", attempt=attempt, worker_id=settings.worker_id, slot=runtime.index,
                 display=runtime.display, queue_wait_s=wait)
    writer = StepWriter(events)
    try:
        result = runtime.run(spec, task_id, RedisFlag(client, cancel_key(task_id)), _recorder(writer),
                             paused=RedisFlag(client, control_key(task_id), latch=False))
    except Exception as exc:  # the engine failed outside a step (e.g. making the context): end the task
        log.exception("task %s: the engine failed before or after its steps", task_id)
        kind = "internal" if runtime.slot.healthy() else "browser_crashed"  # a dead browser: retry
        result = TaskResult.model_validate(_failure(task_id, f"{type(exc).__name__}: {exc}", kind))
    finally:
        writer.close()  # every step event is on the stream before the final state
        close_session(client, settings, session)
    metrics.TASK_SECONDS.observe(result.duration_ms / 1000)
    if result.retryable and attempt < MAX_ATTEMPTS:
        events.state("retrying", attempt=attempt + 1, reason=result.error)
        raise RetryLater(result.error or "browser crashed", countdown=2 ** (attempt - 1))
    return _finish(client, result.model_dump(mode="json"))
