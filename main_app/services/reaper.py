"""Tasks whose worker vanished: found by the recorder, given to another worker or ended.

A running task's worker keeps the task's run lock alive (TTL 15 s, set every 5 s). When a
task has been quiet for ``VANISHED_AFTER_S``, its lock is gone on two looks
``VANISHED_CONFIRM_S`` apart and it has not ended, the process that ran it is gone (a
container killed without a chance to hand the task back). While attempts remain the task is
sent again (recorded as a retry); after the last one it fails with that reason. The result
is also stored where the worker looks first, so a late redelivery never runs it.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Flask
from sqlalchemy import select

from main_app.extensions import db
from main_app.models import Task
from main_app.services import streams
from main_app.services.broker import redis_client
from worker.spec.channels import (
    MAX_ATTEMPTS,
    TASK_STREAM_TTL_S,
    attempts_key,
    result_key,
    run_lock_key,
)

log = logging.getLogger(__name__)
REAPER_LOCK = "pilothouse:recorder:reaper"
_missing_since: dict[str, float] = {}


def reap(app: Flask) -> list[str]:
    """One pass (one process of the fleet at a time); returns the ids of the tasks it acted on."""
    client, settings = redis_client(app), app.config["PILOTHOUSE"]
    if not client.set(REAPER_LOCK, "1", nx=True, ex=max(int(settings.housekeeping_s), 1)):
        return []
    now, acted = time.time(), []
    quiet = db.session.scalars(select(Task).where(
        Task.status.in_(("running", "retrying")), Task.last_event_at < now - settings.vanished_quiet_s)).all()
    for task in quiet:
        if client.exists(run_lock_key(task.id)):
            _missing_since.pop(task.id, None)
            continue
        first = _missing_since.setdefault(task.id, now)
        if now - first < settings.vanished_confirm_s:
            continue
        _missing_since.pop(task.id, None)
        handle_vanished(app, task)
        acted.append(task.id)
    return acted


def handle_vanished(app: Flask, task: Task) -> None:
    """Send the task again, or end it as failed when its attempts are used up."""
    from main_app.services.tasks import enqueue  # tasks imports streams; avoid a cycle at import

    client = redis_client(app)
    if client.exists(result_key(task.id)):  # it did end; its final event is on its way
        return
    attempts = int(client.get(attempts_key(task.id)) or task.attempts or 0)
    who = task.worker_id or "its worker"
    if attempts < MAX_ATTEMPTS:
        log.warning("task %s: %s stopped answering; sending it again", task.id, who)
        streams.emit(client, task.id, "state", state="retrying", attempt=attempts + 1,
                     reason=f"{who} stopped answering while running it; queued again")
        enqueue(task, task.owner, float(task.spec.get("timeout_s", 120)), attempt=attempts + 1)
        return
    message = (f"{who} stopped answering while running it, and it was tried {attempts} times "
               f"(the most allowed): the worker vanished")
    result = streams.ended_result(task.id, "failed", message, "worker_lost", started_at=task.started_at)
    if client.set(result_key(task.id), json.dumps(result), ex=TASK_STREAM_TTL_S, nx=True):
        streams.emit(client, task.id, "state", state="failed", result=result)
