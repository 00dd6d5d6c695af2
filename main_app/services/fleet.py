"""What the fleet looks like from Redis: workers and their slots, and the queue's depth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis

from worker.spec.channels import PREFIX

# kombu's Redis transport keeps one list per queue and priority step (default steps 0, 3, 6, 9)
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in the Celery queue (not counting those a worker already holds)."""
    pipe = client.pipeline()
    for suffix in PRIORITY_SUFFIXES:
        pipe.llen(queue + suffix)
    return sum(pipe.execute())


def workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every worker whose slots reported within their heartbeat's time to live."""
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    for key in client.scan_iter(match=f"{PREFIX}:worker:*:slot:*", count=500):
        state = client.hgetall(key)
        if state:
            worker_id = key.split(":")[2]
            found[worker_id].append(state)
    out = []
    for worker_id, slots in sorted(found.items()):
        slots.sort(key=lambda s: int(s.get("index", 0)))
        out.append({"worker_id": worker_id, "slots": slots,
                    "busy": sum(1 for s in slots if s.get("task_id")),
                    "browsers_up": sum(1 for s in slots if s.get("browser") == "up")})
    return out
