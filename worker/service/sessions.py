"""Live sessions and VNC tokens.

While a task runs, Redis holds a session record (which worker, how the main app reaches its
websockify, which slot and display) and a VNC token that websockify resolves to the slot's
loopback VNC port. Both carry a time to live and are removed when the task ends.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import redis

from worker.settings import WorkerSettings
from worker.spec.channels import session_key, viewers_key, vnc_token_key, worker_sessions_key

TTL_MARGIN_S = 300


@dataclass(frozen=True)
class LiveSession:
    task_id: str
    token: str
    slot: int


def open_session(client: redis.Redis, settings: WorkerSettings, *, task_id: str, slot: int,
                 owner: str, timeout_s: float, live_view: bool = True) -> LiveSession:
    """Register the session and, when the task may be watched, mint a token for its display;
    both expire on their own."""
    token = secrets.token_urlsafe(24) if live_view else ""
    ttl = int(timeout_s) + TTL_MARGIN_S
    record = {
        "task_id": task_id, "owner": owner, "worker_id": settings.worker_id,
        "host": settings.advertise_host, "novnc_port": settings.novnc_port,
        "api_port": settings.api_port, "slot": slot, "display": settings.display(slot),
        "started_at": time.time(), "token": token,
    }
    pipe = client.pipeline()
    if token:
        pipe.set(vnc_token_key(token), f"127.0.0.1:{settings.vnc_port(slot)}", ex=ttl)
    pipe.hset(session_key(task_id), mapping=record)
    pipe.expire(session_key(task_id), ttl)
    pipe.sadd(worker_sessions_key(settings.worker_id), task_id)
    pipe.execute()
    return LiveSession(task_id, token, slot)


def close_session(client: redis.Redis, settings: WorkerSettings, session: LiveSession) -> None:
    """Remove the token (so no new viewer can connect) and the session record."""
    pipe = client.pipeline()
    pipe.delete(session_key(session.task_id), viewers_key(session.task_id))
    if session.token:
        pipe.delete(vnc_token_key(session.token))
    pipe.srem(worker_sessions_key(settings.worker_id), session.task_id)
    pipe.execute()


def list_sessions(client: redis.Redis, worker_id: str) -> list[dict[str, str]]:
    """The live sessions of a worker, with their viewer counts; stale index entries are dropped."""
    out = []
    for raw in sorted(client.smembers(worker_sessions_key(worker_id))):
        task_id = raw.decode() if isinstance(raw, bytes) else raw
        record = client.hgetall(session_key(task_id))
        if not record:
            client.srem(worker_sessions_key(worker_id), task_id)
            continue
        session = {_s(k): _s(v) for k, v in record.items() if _s(k) != "token"}
        session["viewers"] = int(client.get(viewers_key(task_id)) or 0)
        out.append(session)
    return out


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
