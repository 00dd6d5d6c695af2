"""The web UI's pages (server-rendered); the task page's live parts come from the API."""

from __future__ import annotations

import json
import time

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import func, select

from main_app.api.auth import visible_task
from main_app.extensions import db
from main_app.models import TASK_STATES, ApiToken, Task
from main_app.services import artifacts, tasks
from main_app.services.accounts import AccountError, create_token, revoke_token
from main_app.services.broker import redis_client
from main_app.services.live import live_session
from main_app.services.templates_lib import load_templates
from main_app.ui import bp

PER_PAGE = 25


@bp.get("/")
def index():
    return redirect(url_for("ui.tasks") if current_user.is_authenticated else url_for("auth.login"))


@bp.get("/health")
def health():
    """``{"status": "ok", "service": "main", ...}`` with the database and Redis checked; 503
    naming the part that fails."""
    parts = {"database": _check(lambda: db.session.execute(select(1))),
             "redis": _check(lambda: redis_client().ping())}
    if parts["database"] != "ok":
        db.session.rollback()
    failing = [name for name, state in parts.items() if state != "ok"]
    now = time.time()
    body = {"status": "unavailable" if failing else "ok", "service": "main", "timestamp": now,
            "uptime": round(now - current_app.config["STARTED_AT"], 1), **parts}
    if failing:
        body["failing"] = failing
    return body, 503 if failing else 200


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 (any failure means "not ready", named below)
        return f"unreachable: {type(exc).__name__}"
    return "ok"


@bp.get("/tasks", endpoint="tasks")
@login_required
def tasks_page():
    status = request.args.get("status", "")
    page = max(int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1, 1)
    query = select(Task).where(Task.owner_id == current_user.id)
    if status in TASK_STATES:
        query = query.where(Task.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(Task.created_at.desc()).limit(PER_PAGE)
                              .offset((page - 1) * PER_PAGE)).all()
    live_ids = {t.id for t in rows if t.status == "running" and live_session(redis_client(), t.id)}
    return render_template("tasks.html", tasks=rows, status=status, page=page, states=TASK_STATES,
                           pages=max(1, -(-total // PER_PAGE)), total=total, live_ids=live_ids,
                           position=tasks.queue_position)


@bp.route("/tasks/new", methods=["GET", "POST"])
@login_required
def new_task():
    templates = load_templates(current_app.config["PILOTHOUSE"].demo_site_url)
    text, errors, chosen = request.form.get("spec", ""), [], None
    if request.method == "POST":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            errors = [{"loc": "", "message": f"not valid JSON: {exc.msg} at {where}"}]
        else:
            try:
                task, _ = tasks.submit(current_user, raw)
            except tasks.TaskError as exc:
                errors = exc.extra.get("errors") or [{"loc": "", "message": exc.message}]
            else:
                return redirect(url_for("ui.task_page", task_id=task.id))
    elif request.args.get("template"):
        chosen = next((t for t in templates if t["id"] == request.args["template"]), None)
        text = json.dumps(chosen["spec"], indent=2) if chosen else ""
    if not text:
        chosen = templates[0] if templates else None
        text = json.dumps(chosen["spec"], indent=2) if chosen else '{"version": 1, "steps": []}'
    # Not Jinja's tojson: it sorts keys, and a template must read in its own order.
    return render_template("new_task.html", templates=templates, text=text, errors=errors,
                           chosen=chosen["id"] if chosen else None,
                           templates_json=htmlsafe_json_dumps(templates)), 422 if errors else 200


@bp.get("/tasks/<task_id>")
@login_required
def task_page(task_id: str):
    task = visible_task(task_id, current_user)
    # An ended task's timeline comes from its recorded result (the page replays no state).
    done = {"start" if s.get("index") is None else str(s["index"]): s
            for s in (task.result or {}).get("steps") or [] if isinstance(s, dict)} if task.final else {}
    return render_template("task.html", task=task, info=tasks.describe(task), done=done,
                           artifacts=artifacts.listed(task), is_owner=task.owner_id == current_user.id)


@bp.post("/tasks/<task_id>/cancel")
@login_required
def cancel(task_id: str):
    task = visible_task(task_id, current_user)
    try:
        done = tasks.cancel(task, current_app.extensions["pilothouse.worker"])
        flash(f"Cancel requested: {done}.", "ok")
    except tasks.TaskError as exc:
        flash(exc.message, "error")
    return redirect(url_for("ui.task_page", task_id=task.id))


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    shown = None
    if request.method == "POST":
        try:
            record, shown = create_token(current_user, request.form.get("name", ""))
        except AccountError as exc:
            flash(str(exc), "error")
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.created_at.desc())).all()
    return render_template("tokens.html", tokens=rows, shown=shown)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if not revoke_token(current_user, token_id):
        abort(404)
    flash("Token revoked: programs using it are refused from now on.", "ok")
    return redirect(url_for("ui.tokens"))
