"""Admin pages: users, every task, the workers and the queue."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from main_app.admin import bp
from main_app.extensions import db
from main_app.models import TASK_STATES, Task, User
from main_app.services import fleet
from main_app.services.broker import redis_client
from main_app.services.worker_client import WorkerUnavailable

PER_PAGE = 50


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(404)


@bp.get("/")
def overview():
    client, settings = redis_client(), current_app.config["PILOTHOUSE"]
    worker_api = current_app.extensions["pilothouse.worker"]
    try:
        health, sessions = worker_api.health(), worker_api.sessions()
    except WorkerUnavailable as exc:
        health, sessions = {"status": "unreachable", "error": str(exc)}, {"sessions": []}
    counts = dict(db.session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
    return render_template("admin/overview.html", workers=fleet.workers(client), health=health,
                           sessions=sessions.get("sessions", []),
                           queue_depth=fleet.queue_depth(client, settings.queue), queue=settings.queue,
                           counts=counts, states=TASK_STATES,
                           users=db.session.scalar(select(func.count()).select_from(User)),
                           worker_url=settings.worker_service_url)


@bp.get("/users")
def users():
    rows = db.session.execute(
        select(User, func.count(Task.id)).outerjoin(Task, Task.owner_id == User.id)
        .group_by(User.id).order_by(User.created_at)).all()
    return render_template("admin/users.html", rows=rows)


@bp.get("/tasks")
def all_tasks():
    status = request.args.get("status", "")
    page = int(request.args["page"]) if request.args.get("page", "").isdigit() else 1
    query = select(Task)
    if status in TASK_STATES:
        query = query.where(Task.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(Task.created_at.desc()).limit(PER_PAGE)
                              .offset((max(page, 1) - 1) * PER_PAGE)).all()
    return render_template("admin/tasks.html", tasks=rows, status=status, states=TASK_STATES,
                           page=max(page, 1), pages=max(1, -(-total // PER_PAGE)), total=total)
