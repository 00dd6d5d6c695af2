"""Readiness of the worker's parts: Redis, each slot's display and each slot's browser."""

from __future__ import annotations

import socket
import time
from typing import Any

import redis

from worker.service.runtime import SLOT_TTL_S, display_socket
from worker.settings import WorkerSettings
from worker.spec.channels import slot_key


def display_answers(display: str) -> bool:
    """True when the X server of ``display`` accepts a connection on its socket."""
    path = display_socket(display)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
        return True
    except OSError:
        return False


def slot_states(client: redis.Redis, settings: WorkerSettings) -> list[dict[str, Any]]:
    """Each slot's last heartbeat (empty when it never reported or its report expired)."""
    pipe = client.pipeline()
    for index in range(settings.concurrency):
        pipe.hgetall(slot_key(settings.worker_id, index))
    return pipe.execute()


def check(client: redis.Redis, settings: WorkerSettings) -> tuple[dict[str, Any], list[str]]:
    """(parts, failing): the state of every part and the names of those not ready."""
    failing: list[str] = []
    parts: dict[str, Any] = {"redis": "ok", "slots": []}
    try:
        client.ping()
        states = slot_states(client, settings)
    except redis.RedisError as exc:
        parts["redis"] = f"unreachable: {exc}"
        failing.append("redis")
        states = [{}] * settings.concurrency
    now = time.time()
    for index, state in enumerate(states):
        display = settings.display(index)
        fresh = bool(state) and now - float(state.get("updated_at", 0)) < SLOT_TTL_S
        slot = {"index": index, "display": display,
                "display_state": "ok" if display_answers(display) else "down",
                "browser": state.get("browser", "unknown") if fresh else "no heartbeat",
                "task_id": state.get("task_id") or None if fresh else None}
        if slot["display_state"] != "ok":
            failing.append(f"slot {index}: display {display} does not answer")
        if slot["browser"] != "up" and "redis" not in failing:
            failing.append(f"slot {index}: browser {slot['browser']}")
        parts["slots"].append(slot)
    return parts, failing
