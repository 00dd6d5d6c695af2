"""A task's Redis stream: every state change and every step, as it happens.

Each entry holds one JSON document under the field ``event``: ``{"type": ..., "ts": ...}``.
A page that opens late reads the stream from its start and sees the whole run so far.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from worker.spec.channels import EVENT_FIELD, TASK_STREAM_TTL_S, append_event, events_stream

STREAM_TTL_S = TASK_STREAM_TTL_S


class TaskEvents:
    """Appends events to one task's stream."""

    def __init__(self, client: redis.Redis, task_id: str):
        self.client, self.task_id = client, task_id
        self.key = events_stream(task_id)

    def emit(self, event_type: str, **fields: Any) -> str:
        """Append ``{"type": event_type, "ts": now, **fields}`` to the task's stream and to the
        stream of all tasks (atomically); return the task stream's entry id."""
        pipe = self.client.pipeline(transaction=True)
        append_event(pipe, self.task_id, event_type, **fields)
        return pipe.execute()[0]

    def state(self, state: str, **fields: Any) -> str:
        """A lifecycle change: queued, running, retrying, succeeded, failed, cancelled, timed_out."""
        return self.emit("state", state=state, **fields)

    def step(self, event: dict[str, Any]) -> None:
        """Forward an engine step event (``step_started`` / ``step_finished``)."""
        fields = {k: v for k, v in event.items() if k != "type"}
        self.emit(event["type"], **fields)


def read_events(client: redis.Redis, task_id: str, after: str = "0-0") -> list[tuple[str, dict[str, Any]]]:
    """Every event after entry id ``after``, decoded: ``[(entry_id, event), ...]``."""
    entries = client.xrange(events_stream(task_id), min=f"({after}" if after != "0-0" else "-")
    return [(_text(entry_id), json.loads(_text(fields[_key(fields)]))) for entry_id, fields in entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(fields: dict) -> bytes | str:
    return EVENT_FIELD.encode() if EVENT_FIELD.encode() in fields else EVENT_FIELD
