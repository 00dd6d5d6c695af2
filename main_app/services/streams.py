"""Task event streams, from the main app's side: append an event, read a task's events.

The format is the contract's (``worker.spec.channels``): one JSON document per entry.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from worker.spec import TaskResult
from worker.spec.channels import EVENT_FIELD, append_event, events_stream


def emit(client: redis.Redis, task_id: str, event_type: str, **fields: Any) -> str:
    """Append one event to the task's stream and the stream of all tasks; return its entry id."""
    pipe = client.pipeline(transaction=True)
    append_event(pipe, task_id, event_type, **fields)
    return pipe.execute()[0]


def decode(fields: dict[str, str]) -> dict[str, Any]:
    """The event document of one stream entry."""
    return json.loads(fields[EVENT_FIELD])


def read_after(client: redis.Redis, task_id: str, after: str = "", block_ms: int | None = None,
               count: int = 500) -> list[tuple[str, dict[str, Any]]]:
    """The task's events after entry id ``after`` (all of them when empty), waiting up to
    ``block_ms`` for the first when there are none yet."""
    key = events_stream(task_id)
    if block_ms is None:
        entries = client.xrange(key, min=f"({after}" if after else "-", count=count)
    else:
        answer = client.xread({key: after or "0-0"}, count=count, block=block_ms)
        entries = answer[0][1] if answer else []
    return [(entry_id, decode(fields)) for entry_id, fields in entries]


def stream_exists(client: redis.Redis, task_id: str) -> bool:
    return bool(client.exists(events_stream(task_id)))


def ended_result(task_id: str, status: str, error: str, kind: str, started_at: float | None = None) -> dict:
    """The result of a task the main app ends itself (cancelled in the queue, worker lost),
    in the contract's shape, so it reads like any worker's result."""
    now = time.time()
    return TaskResult(task_id=task_id, status=status, error=error, error_kind=kind,
                      started_at=started_at or now, finished_at=now, duration_ms=0).model_dump(mode="json")
