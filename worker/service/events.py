"""A task's Redis stream: every state change and every step, as it happens.

Each entry holds one JSON document under the field ``event``: ``{"type": ..., "ts": ...}``.
A page that opens late reads the stream from its start and sees the whole run so far.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import redis

from worker.spec.channels import EVENT_FIELD, TASK_STREAM_TTL_S, append_event, events_stream

STREAM_TTL_S = TASK_STREAM_TTL_S
log = logging.getLogger(__name__)


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

    def emit_many(self, events: list[dict[str, Any]]) -> None:
        """Append engine events (each ``{"type": ..., **fields}``) in one round trip."""
        pipe = self.client.pipeline(transaction=True)
        for event in events:
            append_event(pipe, self.task_id, event["type"], **{k: v for k, v in event.items() if k != "type"})
        pipe.execute()


class StepWriter:
    """Writes a task's step events from a thread of its own, in order and in batches, so the
    browser's event loop never waits on Redis. ``close()`` returns once all are written."""

    def __init__(self, events: TaskEvents):
        self.events, self._queue = events, queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="step-events", daemon=True)
        self._thread.start()

    def put(self, event: dict[str, Any]) -> None:
        """Queue an engine event; its time is now, not when it is written."""
        self._queue.put({"ts": time.time(), **event})

    def close(self, timeout: float = 10) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _write(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            events = [e for e in batch if e is not None]
            if events:
                try:
                    self.events.emit_many(events)
                except redis.RedisError:
                    log.warning("task %s: %d step events not written", self.events.task_id, len(events))
            if len(events) < len(batch):  # closed
                return


def read_events(client: redis.Redis, task_id: str, after: str = "0-0") -> list[tuple[str, dict[str, Any]]]:
    """Every event after entry id ``after``, decoded: ``[(entry_id, event), ...]``."""
    entries = client.xrange(events_stream(task_id), min=f"({after}" if after != "0-0" else "-")
    return [(_text(entry_id), json.loads(_text(fields[_key(fields)]))) for entry_id, fields in entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(fields: dict) -> bytes | str:
    return EVENT_FIELD.encode() if EVENT_FIELD.encode() in fields else EVENT_FIELD
