"""How the main app and the worker find each other's data in Redis, and the task message.

Part of the contract (standard library and pydantic only): the main app sends ``TASK_NAME``
with a ``RunRequest``'s fields as keyword arguments, and reads the keys named here.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TASK_NAME = "automation.run"
PREFIX = "pilothouse"
VNC_TOKEN_NAMESPACE = f"{PREFIX}:vnc-token"
EVENT_FIELD = "event"  # each stream entry holds one JSON document under this field
TASK_FIELD = "task_id"  # ... and, in the stream of all tasks, the task's id under this one


class RunRequest(BaseModel):
    """The keyword arguments of ``automation.run``."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    spec: dict[str, Any]
    owner: str = Field(default="", max_length=200)
    queued_at: float | None = Field(default=None, description="Unix time the task was queued.")


# Every task's events, also appended (with the task id) to this one stream: the main app's
# recorder reads it with a consumer group, so no event is missed while the main app is down.
ALL_EVENTS_STREAM = f"{PREFIX}:events"
ALL_EVENTS_MAXLEN = 200_000
TASK_STREAM_MAXLEN = 10_000
TASK_STREAM_TTL_S = 7 * 24 * 3600  # also how long a finished task's result stays in Redis
MAX_ATTEMPTS = 3  # runs of one task, counting retries after a lost worker or browser
FINAL_STATES = ("succeeded", "failed", "cancelled", "timed_out")


def encode_event(event_type: str, **fields: Any) -> str:
    """One stream entry's JSON document: ``{"type": ..., "ts": <unix time>, "id": ..., **fields}``;
    ``id`` is unique, so a reader that sees an event twice (in both streams) records it once."""
    return json.dumps({"type": event_type, "ts": time.time(), "id": secrets.token_hex(8), **fields},
                      default=str)


def append_event(pipe: Any, task_id: str, event_type: str, **fields: Any) -> None:
    """Queue the commands that append one event to the task's stream and to the stream of all
    tasks on ``pipe`` (a redis-py pipeline, ideally a transaction); the caller executes it.
    The task stream's entry id is the first result of ``pipe.execute()``."""
    document = encode_event(event_type, **fields)
    pipe.xadd(events_stream(task_id), {EVENT_FIELD: document}, maxlen=TASK_STREAM_MAXLEN, approximate=True)
    pipe.expire(events_stream(task_id), TASK_STREAM_TTL_S)
    pipe.xadd(ALL_EVENTS_STREAM, {EVENT_FIELD: document, TASK_FIELD: task_id},
              maxlen=ALL_EVENTS_MAXLEN, approximate=True)


def events_stream(task_id: str) -> str:
    """Redis stream of every state change and step of a task, in order."""
    return f"{PREFIX}:task:{task_id}:events"


def result_key(task_id: str) -> str:
    """The final result (JSON), kept so a redelivered task is not run twice."""
    return f"{PREFIX}:task:{task_id}:result"


def cancel_key(task_id: str) -> str:
    """Exists while a cancel of the task is requested."""
    return f"{PREFIX}:task:{task_id}:cancel"


def run_lock_key(task_id: str) -> str:
    """Held (with a short, refreshed TTL) by the one process running the task."""
    return f"{PREFIX}:task:{task_id}:lock"


def attempts_key(task_id: str) -> str:
    """How many times a worker started the task."""
    return f"{PREFIX}:task:{task_id}:attempts"


def session_key(task_id: str) -> str:
    """Hash describing the live session of a running task (worker, host, port, token...)."""
    return f"{PREFIX}:session:{task_id}"


def worker_sessions_key(worker_id: str) -> str:
    """Set of the task ids a worker is running."""
    return f"{PREFIX}:worker:{worker_id}:sessions"


def slot_key(worker_id: str, index: int) -> str:
    """Hash a slot refreshes while it lives: browser state, busy task, heartbeat time."""
    return f"{PREFIX}:worker:{worker_id}:slot:{index}"


def control_key(task_id: str) -> str:
    """Exists while a human has control of the task's browser (JSON: who, since when); the
    task's next step waits until it is gone."""
    return f"{PREFIX}:task:{task_id}:control"


def viewers_key(task_id: str) -> str:
    """How many live viewers a task has right now."""
    return f"{PREFIX}:task:{task_id}:viewers"


# Published (the token) when a VNC token is withdrawn: websockify drops its viewers at once.
VNC_CLOSED_CHANNEL = f"{PREFIX}:vnc-closed"


def vnc_token_key(token: str) -> str:
    """websockify's lookup key: its value is the slot's VNC ``host:port``."""
    return f"{VNC_TOKEN_NAMESPACE}:{token}"


# Celery's hard time limit for a task is its own timeout plus this margin; the broker's
# visibility timeout is longer than the longest limit, so a long task is never delivered twice.
TIME_LIMIT_MARGIN_S = 60
VISIBILITY_TIMEOUT_S = 2 * 3600


def time_limit_for(timeout_s: float) -> int:
    """The hard time limit (seconds) to send with a task whose spec says ``timeout_s``."""
    return int(timeout_s) + TIME_LIMIT_MARGIN_S
