"""The recorder: every task event reaches the database once, even when nobody watches and
even when the main app was down while the task ran.

Workers append each event to the stream of all tasks (``pilothouse:events``) as well as to the
task's own. Every main-app process runs a ``Recorder`` thread in one consumer group: it reads
new entries, records each (``record_events`` is idempotent: an event is stored at most once,
by its id), and acknowledges them only then. An entry a crashed process read but never
acknowledged is claimed by another after ``RECORDER_RECLAIM_IDLE_MS``. The group keeps its
place in the stream, so a main app that was down catches up when it starts. The group is named
after the database (``recorder:<hash of its address>``): the replicas of one deployment share
it, and two deployments that share a Redis each record the events of their own tasks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from main_app.extensions import db
from main_app.models import FINAL_STATES, Task, TaskEvent
from main_app.services import artifacts, reaper
from main_app.services.broker import redis_client
from main_app.services.streams import decode
from worker.spec.channels import ALL_EVENTS_STREAM, TASK_FIELD

log = logging.getLogger(__name__)
BATCH = 100
BLOCK_MS = 2000
STALE_CONSUMER_MS = 3600_000


def record_events(batch: list[tuple[str, dict[str, Any]]]) -> int:
    """Store each (task id, event) of ``batch`` once and apply it to the task's row, in one
    transaction (one commit for a batch, not one per event); when that fails on one of them
    (a concurrent recorder stored it first, or the database cannot hold it), again one by one.
    Returns how many events were new. Events of tasks that are not ours (sent to the worker
    directly) are skipped. A database outage raises: nothing is acknowledged, all is retried."""
    try:
        staged = [_stage(task_id, event) for task_id, event in batch]
        db.session.commit()
    except (IntegrityError, DataError) as exc:
        db.session.rollback()
        if len(batch) > 1:
            return sum(record_events([item]) for item in batch)
        if isinstance(exc, DataError):  # skipped, not retried forever: the others go on
            log.error("recorder: task %s: an event the database refuses: %s", batch[0][0], exc)
        return 0
    for _, ended in staged:
        if ended is not None:  # the final state: keep a copy of its files
            artifacts.collect(ended.id, ended.result or {})
    return sum(new for new, _ in staged)


def record_event(task_id: str, event: dict[str, Any]) -> bool:
    """``record_events`` for one event: True when it was new."""
    return record_events([(task_id, event)]) == 1


def _stage(task_id: str, event: dict[str, Any]) -> tuple[bool, Task | None]:
    """Add one event to the session, uncommitted: (was it new, the task when it ended it)."""
    task = db.session.get(Task, task_id)
    if task is None:
        return False, None
    event_id = str(event.get("id") or f"{event.get('type')}@{event.get('ts')}")[:64]
    seen = db.session.scalar(select(TaskEvent.seq).where(TaskEvent.task_id == task_id,
                                                         TaskEvent.event_id == event_id))
    if seen is not None:
        return False, None
    ts = float(event.get("ts") or time.time())
    db.session.add(TaskEvent(task_id=task_id, event_id=event_id, type=str(event.get("type", "?"))[:32],
                             ts=ts, data=event))
    was_final = task.final
    apply_to_task(task, event, ts)
    return True, task if task.final and not was_final else None


# Within one attempt a task goes retrying -> queued -> running. Recorders (one per process)
# may commit a task's events out of order, so a state only replaces one that came before it.
RANK = {"retrying": 0, "queued": 1, "running": 2}


def _place(state: str, attempt: int) -> tuple[int, int]:
    return attempt, RANK[state]


def _current_place(task: Task) -> tuple[int, int]:
    """Where the row's state is: running counts the attempt it ran; queued and retrying are
    about the attempt after the last one that ran."""
    ran = task.attempts or 0
    return _place(task.status, ran if task.status == "running" else ran + 1)


def apply_to_task(task: Task, event: dict[str, Any], ts: float) -> None:
    """What one event changes in the task's row. A task that ended never changes again, and
    a state older than the row's (it reached this recorder late) changes nothing."""
    task.last_event_at = max(task.last_event_at or 0, ts)
    if event.get("type") != "state" or task.final:
        return
    state = event.get("state")
    if state in FINAL_STATES:
        result = event.get("result") or {}
        task.status, task.result = state, result or None
        task.finished_at = ts
        task.error, task.error_kind = result.get("error"), result.get("error_kind")
        if result.get("started_at") and not task.started_at:
            task.started_at = result["started_at"]
        return
    if state not in RANK:
        return
    attempt = int(event.get("attempt") or (1 if state != "retrying" else (task.attempts or 0) + 1))
    newer = _place(state, attempt) >= _current_place(task)
    if state == "running":
        task.started_at = min(task.started_at or ts, ts)
        task.attempts = max(task.attempts or 0, attempt)
        if newer:
            task.worker_id = event.get("worker_id") or task.worker_id
    if newer:
        task.status = state


class Recorder:
    """One consumer of the group; ``start()`` runs it on a daemon thread until ``stop()``."""

    def __init__(self, app: Flask, name: str | None = None):
        self.app = app
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.client: redis.Redis = redis_client(app)
        self.group = app.config["PILOTHOUSE"].recorder_group
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._housekept = 0.0
        self.reclaim_idle_ms = app.config["PILOTHOUSE"].reclaim_idle_ms

    def start(self) -> Recorder:
        self._thread = threading.Thread(target=self.run, name="recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Record until stopped; Redis or database outages are waited out, never fatal."""
        log.info("recorder %s started", self.name)
        while not self._stop.is_set():
            try:
                self.ensure_group()
                self.poll(BLOCK_MS)
                if time.monotonic() - self._housekept > self.app.config["PILOTHOUSE"].housekeeping_s:
                    self.housekeeping()
            except (redis.RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("recorder: %s; trying again", exc)
                with self.app.app_context():
                    db.session.rollback()
                self._stop.wait(1)
            except Exception:  # never let the thread die: log it, wait, go on
                log.exception("recorder: unexpected error")
                self._stop.wait(1)

    def ensure_group(self) -> None:
        try:  # from the start of the stream: nothing written before the first start is missed
            self.client.xgroup_create(ALL_EVENTS_STREAM, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def poll(self, block_ms: int = BLOCK_MS) -> int:
        """Read and record new entries; return how many were handled."""
        answer = self.client.xreadgroup(self.group, self.name, {ALL_EVENTS_STREAM: ">"}, count=BATCH,
                                        block=block_ms)
        return self._handle(answer[0][1] if answer else [])

    def reclaim(self) -> int:
        """Take over entries another consumer read but never acknowledged (it died)."""
        _, entries, *_ = self.client.xautoclaim(ALL_EVENTS_STREAM, self.group, self.name,
                                                min_idle_time=self.reclaim_idle_ms, start_id="0-0",
                                                count=BATCH)
        return self._handle(entries)

    def _handle(self, entries: list) -> int:
        """Record the entries, then acknowledge them (a trimmed entry comes back empty)."""
        if not entries:
            return 0
        with self.app.app_context():
            record_events([(fields.get(TASK_FIELD, ""), decode(fields)) for _, fields in entries if fields])
        self.client.xack(ALL_EVENTS_STREAM, self.group, *[entry_id for entry_id, _ in entries])
        return len(entries)

    def housekeeping(self) -> None:
        """Reclaim orphaned entries, end tasks whose worker vanished, forget dead consumers."""
        self._housekept = time.monotonic()
        self.reclaim()
        with self.app.app_context():
            reaper.reap(self.app)
        for consumer in self.client.xinfo_consumers(ALL_EVENTS_STREAM, self.group):
            if consumer["pending"] == 0 and consumer["idle"] > STALE_CONSUMER_MS:
                self.client.xgroup_delconsumer(ALL_EVENTS_STREAM, self.group, consumer["name"])

