"""How the main app and the worker find each other's data in Redis, and the task message.

Part of the contract (standard library and pydantic only): the main app sends ``TASK_NAME``
with a ``RunRequest``'s fields as keyword arguments, and reads the keys named here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TASK_NAME = "automation.run"
PREFIX = "pilothouse"
VNC_TOKEN_NAMESPACE = f"{PREFIX}:vnc-token"
EVENT_FIELD = "event"  # each stream entry holds one JSON document under this field


class RunRequest(BaseModel):
    """The keyword arguments of ``automation.run``."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    spec: dict[str, Any]
    owner: str = Field(default="", max_length=200)
    queued_at: float | None = Field(default=None, description="Unix time the task was queued.")


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
