"""Take control of a running task's browser (its owner only) and hand it back."""

from __future__ import annotations

from typing import Any

from flask import current_app

from main_app.models import Task, User
from main_app.services.tasks import TaskError
from main_app.services.worker_client import WorkerUnavailable


def take(task: Task, user: User) -> dict[str, Any]:
    """Ask the worker to give ``user`` the browser; the control token stays in Redis and in
    the main app: the page only learns that it may now connect in control mode."""
    if task.owner_id != user.id:
        raise TaskError(403, "only the task's owner can take control")
    if task.status != "running":
        raise TaskError(409, f"task {task.id} is {task.status}: only a running task can be controlled")
    try:
        granted = current_app.extensions["pilothouse.worker"].take_control(task.id, user.email)
    except WorkerUnavailable as exc:
        raise TaskError(exc.status if exc.status in (404, 409) else 503, str(exc)) from None
    return {"id": task.id, "control": "taken", "by": granted["by"]}


def release(task: Task, user: User) -> dict[str, Any]:
    """Hand the browser back (the owner, or an admin); the task's next step runs."""
    if task.owner_id != user.id and not user.is_admin:
        raise TaskError(403, "only the task's owner can hand control back")
    try:
        answer = current_app.extensions["pilothouse.worker"].release_control(task.id)
    except WorkerUnavailable as exc:
        raise TaskError(503, str(exc)) from None
    return {"id": task.id, "control": "released" if answer.get("released") else "nobody had it"}
