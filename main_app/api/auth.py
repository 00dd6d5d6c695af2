"""Who is calling the API: a bearer API token, or the signed-in browser session (then unsafe
methods need the page's CSRF token, sent as ``X-CSRFToken``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, request
from flask_login import current_user

from main_app.extensions import csrf, db
from main_app.models import Task, User
from main_app.services.accounts import AccountError, check_token

TASK_ID = re.compile(r"[0-9A-Za-z_.-]{1,36}")  # ids are UUIDs: anything else is no task of ours


def caller() -> User | None:
    """The user behind this request, or None."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            abort(401, f"use 'Authorization: Bearer <API token>' (got {scheme or 'nothing'!r} "
                       f"{'without a token' if not secret.strip() else 'as the scheme'})")
        try:
            return check_token(secret.strip())
        except AccountError as exc:
            abort(401, str(exc))
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        return current_user._get_current_object()
    return None


def api_login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = caller()
        if user is None:
            abort(401)
        g.user = user
        return view(*args, **kwargs)

    return wrapper


def visible_task(task_id: str, user: User) -> Task:
    """The task when ``user`` may see it (its owner or an admin); else 404, never 403, so
    nobody learns which ids exist."""
    task = db.session.get(Task, task_id) if TASK_ID.fullmatch(task_id) else None
    if task is None or (task.owner_id != user.id and not user.is_admin):
        abort(404, f"no task {task_id}")
    return task
