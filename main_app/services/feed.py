"""A task's events for a reader: the whole run so far, then live, until the task ends.

Events come from the task's Redis stream while it exists (the worker writes it as things
happen), else from the database (the recorder's copy, for tasks older than the stream).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis
from sqlalchemy import and_, or_, select

from main_app.extensions import db
from main_app.models import FINAL_STATES, Task, TaskEvent
from main_app.services import streams

BLOCK_MS = 10_000
KEEPALIVE = ("", {"type": "keepalive"})


def is_final(event: dict[str, Any]) -> bool:
    return event.get("type") == "state" and event.get("state") in FINAL_STATES


def recorded(task_id: str, after_seq: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """The recorder's copy of a task's events in the order they happened, as (``db-<seq>``,
    event), after the event ``db-<after_seq>``. Recorders record concurrently (one per main
    app process), so the order of the rows is not the order of the events: their time is."""
    query = select(TaskEvent.seq, TaskEvent.data).where(TaskEvent.task_id == task_id)
    if after_seq:
        ts = db.session.scalar(select(TaskEvent.ts).where(TaskEvent.task_id == task_id,
                                                          TaskEvent.seq == after_seq))
        if ts is not None:
            query = query.where(or_(TaskEvent.ts > ts, and_(TaskEvent.ts == ts, TaskEvent.seq > after_seq)))
    rows = db.session.execute(query.order_by(TaskEvent.ts, TaskEvent.seq)).all()
    return [(f"db-{seq}", data) for seq, data in rows]


def follow(client: redis.Redis, task: Task, after: str = "", max_s: float = 3600) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """Yield (entry id, event) from after ``after`` until the final state; ``KEEPALIVE``
    while nothing happens. Ends after ``max_s`` (the client reconnects with Last-Event-ID)."""
    task_id, deadline, sent = task.id, time.monotonic() + max_s, set()
    if after.startswith("db-") or not streams.stream_exists(client, task_id):
        seq = int(after[3:]) if after.startswith("db-") and after[3:].isdigit() else 0
        events = recorded(task_id, seq)
        yield from events
        if task.final or any(is_final(e) for _, e in events):
            return
        sent = {e.get("id") for _, e in events}
        after = ""  # the task still runs: its stream exists now, or will (skip what was sent)
    while time.monotonic() < deadline:
        batch = streams.read_after(client, task_id, after, block_ms=BLOCK_MS)
        if not batch:
            yield KEEPALIVE
            continue
        for entry_id, event in batch:
            after = entry_id
            if event.get("id") not in sent:
                yield entry_id, event
            if is_final(event):
                return
