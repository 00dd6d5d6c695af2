"""Tasks from the main app's side: submit (validate, record, enqueue), cancel, describe."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from flask import current_app
from kombu.exceptions import OperationalError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from main_app.extensions import db
from main_app.models import Task, User
from main_app.services import streams
from main_app.services.broker import celery_client, redis_client
from main_app.services.worker_client import WorkerUnavailable
from worker.spec import TASK_NAME, RunRequest, SpecError, parse_spec
from worker.spec.channels import TASK_STREAM_TTL_S, cancel_key, result_key, run_lock_key, time_limit_for

MAX_IDEMPOTENCY_KEY = 200


class TaskError(Exception):
    """A request about a task that cannot be honoured; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def submit(owner: User, raw_spec: Any, idempotency_key: str | None = None) -> tuple[Task, bool]:
    """Validate, record (committed first) and enqueue a task; returns (task, created).

    The same ``idempotency_key`` with the same spec returns the first task; with another
    spec it is refused. Nothing is written when the spec is invalid or Redis is down."""
    if not isinstance(raw_spec, dict):
        raise TaskError(422, "a task spec must be a JSON object", errors=[
            {"loc": "", "message": "a task spec must be a JSON object"}])
    try:
        spec = parse_spec(raw_spec)
    except SpecError as exc:
        raise TaskError(422, f"invalid task spec: {exc}", errors=exc.errors) from None
    nul = _nul_at(raw_spec)
    if nul is not None:  # PostgreSQL's text cannot hold it, and no page or selector needs it
        raise TaskError(422, f"invalid task spec: {nul['loc']}: {nul['message']}", errors=[nul])
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise TaskError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters "
                                 f"(got {len(idempotency_key)})")
        earlier = _same_key(owner, idempotency_key, raw_spec)
        if earlier is not None:
            return earlier, False
    task = Task(owner_id=owner.id, name=spec.name, spec=raw_spec, status="queued",
                idempotency_key=idempotency_key)
    db.session.add(task)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won the race
        db.session.rollback()
        earlier = _same_key(owner, idempotency_key, raw_spec) if idempotency_key else None
        if earlier is None:
            raise
        return earlier, False
    try:
        enqueue(task, owner, spec.timeout_s)
    except (redis.RedisError, OperationalError) as exc:
        db.session.delete(task)
        db.session.commit()
        raise TaskError(503, f"the task queue (Redis) is unreachable, nothing was queued: {exc}") from None
    return task, True


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


def _nul_at(raw_spec: dict[str, Any]) -> dict[str, str] | None:
    """The error of the first field holding a NUL character (U+0000), placed as spec errors are."""
    message = "must not contain a NUL character (\\u0000)"
    for index, step in enumerate(raw_spec.get("steps") or []):
        for field, value in step.items():
            if _has_nul(value):
                return {"loc": f"steps[{index}] ({step.get('action')})", "message": f"'{field}' {message}"}
    for field, value in raw_spec.items():
        if field != "steps" and _has_nul(value):
            return {"loc": field, "message": message}
    return None


def _same_key(owner: User, key: str, raw_spec: dict[str, Any]) -> Task | None:
    """The owner's task made with this Idempotency-Key (409 when it was for another spec)."""
    earlier = db.session.scalar(select(Task).where(Task.owner_id == owner.id, Task.idempotency_key == key))
    if earlier is not None and earlier.spec != raw_spec:
        raise TaskError(409, f"this Idempotency-Key was used for another spec (task {earlier.id}); "
                             "use a new key for a new task")
    return earlier


def enqueue(task: Task, owner: User, timeout_s: float, **queued_fields: Any) -> None:
    """Record 'queued' on the task's stream, then send ``automation.run`` by name."""
    request = RunRequest(task_id=task.id, spec=task.spec, owner=owner.email, queued_at=time.time())
    streams.emit(redis_client(), task.id, "state", state="queued", owner=owner.email, **queued_fields)
    celery_client().send_task(TASK_NAME, kwargs=request.model_dump(), task_id=task.id,
                              queue=current_app.config["PILOTHOUSE"].queue,
                              time_limit=time_limit_for(timeout_s))


def cancel(task: Task, worker: Any) -> str:
    """Stop a task: a queued one never runs, a running one is stopped through the worker API.
    Returns what was done; a finished task cannot be cancelled (409)."""
    if task.final:
        raise TaskError(409, f"task {task.id} already {task.status}")
    client = redis_client()
    client.set(cancel_key(task.id), "1", ex=24 * 3600)
    # the database learns of a start a moment late: a task a worker holds is running already
    # (the worker takes the run lock before it checks the cancel flag set above)
    if task.status == "queued" and not client.exists(run_lock_key(task.id)):
        celery_client().control.revoke(task.id)
        now = time.time()
        result = {"task_id": task.id, "status": "cancelled", "error": "cancelled before it started",
                  "error_kind": "cancelled", "steps": [], "extracted": {}, "artifacts": [],
                  "final_url": None, "title": None, "console_errors": [], "blocked_requests": [],
                  "started_at": now, "finished_at": now, "duration_ms": 0}
        # a worker that still gets the message finds the result and does not run it
        if client.set(result_key(task.id), json.dumps(result), ex=TASK_STREAM_TTL_S, nx=True):
            streams.emit(client, task.id, "state", state="cancelled", result=result)
        return "removed from the queue"
    try:
        worker.cancel(task.id)
    except WorkerUnavailable as exc:
        if exc.status == 409:  # it ended meanwhile (the database has not heard yet)
            client.delete(cancel_key(task.id))
            raise TaskError(409, f"task {task.id} has already finished") from None
        # the cancel key above stops it anyway: the worker polls it
        current_app.logger.warning("worker API cancel of %s failed (%s); the cancel flag stands",
                                   task.id, exc)
    return "stopping"


def queue_position(task: Task) -> int | None:
    """1 for the next task to run, 2 for the one after...; None unless queued."""
    if task.status != "queued":
        return None
    ahead = db.session.scalar(select(func.count()).select_from(Task).where(
        Task.status == "queued", Task.created_at < task.created_at))
    return (ahead or 0) + 1


def describe(task: Task, *, full: bool = True) -> dict[str, Any]:
    """The task as the API shows it."""
    body: dict[str, Any] = {
        "id": task.id, "name": task.name, "status": task.status, "owner": task.owner.email,
        "created_at": task.created_at, "started_at": task.started_at, "finished_at": task.finished_at,
        "attempts": task.attempts, "error": task.error, "error_kind": task.error_kind,
        "queue_position": queue_position(task), "worker_id": task.worker_id,
        "links": {"self": f"/api/v1/tasks/{task.id}", "events": f"/api/v1/tasks/{task.id}/events",
                  "page": f"/tasks/{task.id}"},
    }
    if full:
        body["spec"] = task.spec
        body["result"] = task.result
    return body
