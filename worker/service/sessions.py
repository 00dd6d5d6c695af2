"""Live sessions, VNC tokens and control.

While a task runs, Redis holds a session record (which worker, how the main app reaches its
websockify, which slot and display) and a view token that websockify resolves to the slot's
loopback, view-only VNC server. When the task's owner takes control, a second token is minted
for the slot's input-taking VNC server and the task's next step waits until control is handed
back. Every key carries a time to live and is removed when the task ends; websockify drops a
viewer whose token is withdrawn at once, and a task's end waits until it has, so no viewer of
one task ever sees the next task on the same slot.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import redis

from worker.settings import WorkerSettings
from worker.spec.channels import (
    VNC_CLOSED_CHANNEL,
    control_key,
    session_key,
    viewers_key,
    vnc_token_key,
    worker_sessions_key,
)

TTL_MARGIN_S = 300
VIEWERS_GONE_S = 3.0  # the longest a task's end waits for websockify to drop its viewers


@dataclass(frozen=True)
class LiveSession:
    task_id: str
    token: str
    slot: int


class ControlError(Exception):
    """Control cannot change as asked; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
        "started_at": time.time(), "token": token, "ttl_s": ttl,
        "control_port": settings.vnc_control_port(slot), "controller": "", "control_token": "",
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
    """Withdraw the tokens and wait until websockify has dropped every viewer (so nobody sees
    what the slot runs next), then remove control and the session record."""
    pipe = client.pipeline(transaction=False)
    pipe.hget(session_key(session.task_id), "control_token")
    pipe.get(viewers_key(session.task_id))
    control_token, viewers = pipe.execute()
    withdraw(client, [t for t in (session.token, _s(control_token or "")) if t])
    deadline = time.monotonic() + VIEWERS_GONE_S
    while int(viewers or 0) > 0 and time.monotonic() < deadline:  # nobody watching: no wait at all
        time.sleep(0.005)
        viewers = client.get(viewers_key(session.task_id))
    pipe = client.pipeline()
    pipe.delete(session_key(session.task_id), viewers_key(session.task_id), control_key(session.task_id))
    pipe.srem(worker_sessions_key(settings.worker_id), session.task_id)
    pipe.execute()


def withdraw(client: redis.Redis, tokens: list[str]) -> None:
    """Delete VNC tokens and tell websockify, which disconnects their viewers at once."""
    if not tokens:
        return
    pipe = client.pipeline()
    for token in tokens:
        pipe.delete(vnc_token_key(token))
        pipe.publish(VNC_CLOSED_CHANNEL, token)
    pipe.execute()


def take_control(client: redis.Redis, task_id: str, by: str) -> dict[str, str]:
    """Give ``by`` the task's browser: mint a control token and hold the task's next step.
    Taking it again (same person) returns the same token."""
    record = {_s(k): _s(v) for k, v in client.hgetall(session_key(task_id)).items()}
    if not record:
        raise ControlError(404, f"task {task_id} is not running")
    if not record.get("token"):
        raise ControlError(409, f"task {task_id} runs with live_view off: nobody can watch or control it")
    if record.get("controller") and record["controller"] != by:
        raise ControlError(409, f"{record['controller']} has control of task {task_id}")
    if record.get("controller") == by and record.get("control_token"):
        return {"control_token": record["control_token"], "by": by, "since": record.get("control_since", "")}
    token, since = secrets.token_urlsafe(24), str(time.time())
    ttl = max(client.ttl(session_key(task_id)), 1)
    pipe = client.pipeline()
    pipe.set(vnc_token_key(token), f"127.0.0.1:{record['control_port']}", ex=ttl)
    pipe.set(control_key(task_id), json.dumps({"by": by, "since": float(since)}), ex=ttl)
    pipe.hset(session_key(task_id),
              mapping={"controller": by, "control_token": token, "control_since": since})
    pipe.execute()
    return {"control_token": token, "by": by, "since": since}


def release_control(client: redis.Redis, task_id: str) -> str | None:
    """Hand the browser back: the control token dies (its viewer is dropped) and the task goes
    on. Returns who had control (None when nobody had)."""
    record = {_s(k): _s(v) for k, v in client.hgetall(session_key(task_id)).items()}
    by = record.get("controller") or None
    withdraw(client, [record["control_token"]] if record.get("control_token") else [])
    pipe = client.pipeline()
    pipe.delete(control_key(task_id))
    if record:
        pipe.hset(session_key(task_id), mapping={"controller": "", "control_token": "", "control_since": ""})
    pipe.execute()
    return by


def list_sessions(client: redis.Redis, worker_id: str) -> list[dict[str, str]]:
    """The live sessions of a worker, with their viewer counts; stale index entries are dropped."""
    out = []
    for raw in sorted(client.smembers(worker_sessions_key(worker_id))):
        task_id = _s(raw)
        record = client.hgetall(session_key(task_id))
        if not record:
            client.srem(worker_sessions_key(worker_id), task_id)
            continue
        session = {_s(k): _s(v) for k, v in record.items() if _s(k) not in ("token", "control_token")}
        session["viewers"] = int(client.get(viewers_key(task_id)) or 0)
        out.append(session)
    return out


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
