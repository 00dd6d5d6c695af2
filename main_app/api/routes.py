"""REST API v1: tasks, their events and artifacts, the spec's schema. Views stay thin."""

from __future__ import annotations

import json
import re

from flask import Response, abort, current_app, g, jsonify, request, send_file, stream_with_context
from sqlalchemy import func, select

from main_app.api import bp
from main_app.api.auth import api_login_required, visible_task
from main_app.api.body import json_body
from main_app.api.openapi import openapi_document
from main_app.errors import json_error
from main_app.extensions import csrf, db
from main_app.models import TASK_STATES, Task
from main_app.services import artifacts, control, feed, tasks
from main_app.services.broker import redis_client
from worker.spec import SpecError, json_schema, parse_spec

csrf.exempt(bp)  # api.auth checks the CSRF token of browser sessions itself
MAX_PER_PAGE = 100
EVENT_ID = re.compile(r"^(\d{1,20}(-\d{1,20})?|db-\d{1,18})$")  # a Redis stream entry, or db-<seq>


@bp.errorhandler(tasks.TaskError)
def _task_error(exc: tasks.TaskError):
    return json_error(exc.status, exc.message, **exc.extra)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/spec/schema")
def spec_schema():
    return jsonify(json_schema())


@bp.post("/spec/validate")
@api_login_required
def spec_validate():
    """The editor's check: ``{"valid": true}`` or the errors, each with its place."""
    body = json_body()
    try:
        if not isinstance(body, dict):  # parse_spec would read a JSON string as JSON text
            raise SpecError([{"loc": "", "message": "a task spec must be a JSON object"}])
        parse_spec(body)
    except SpecError as exc:
        return jsonify({"valid": False, "errors": exc.errors, "message": str(exc)})
    return jsonify({"valid": True, "errors": []})


@bp.post("/tasks")
@api_login_required
def create_task():
    task, created = tasks.submit(g.user, json_body(), request.headers.get("Idempotency-Key"))
    response = jsonify(tasks.describe(task))
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return response, 201 if created else 200


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:  # "²".isdigit() too
        abort(400, f"{name}={raw!r}: expected a whole number from {low} to {high}")
    return int(raw)


@bp.get("/tasks")
@api_login_required
def list_tasks():
    """Mine (an admin adds ``?all=1`` for everyone's), newest first, ``?status=``, paginated."""
    page, per_page = _int_arg("page", 1, 1, 10**6), _int_arg("per_page", 20, 1, MAX_PER_PAGE)
    query = select(Task)
    if not (g.user.is_admin and request.args.get("all") == "1"):
        query = query.where(Task.owner_id == g.user.id)
    status = request.args.get("status")
    if status:
        wanted = status.split(",")
        unknown = [s for s in wanted if s not in TASK_STATES]
        if unknown:
            abort(400, f"status={','.join(unknown)!r}: expected one of {', '.join(TASK_STATES)}")
        query = query.where(Task.status.in_(wanted))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Task.created_at.desc(), Task.id)
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return jsonify({"tasks": [tasks.describe(t, full=False) for t in rows], "page": page,
                    "per_page": per_page, "total": total,
                    "pages": max(1, -(-total // per_page))})


@bp.get("/tasks/<task_id>")
@api_login_required
def get_task(task_id: str):
    return jsonify(tasks.describe(visible_task(task_id, g.user)))


@bp.post("/tasks/<task_id>/cancel")
@api_login_required
def cancel_task(task_id: str):
    task = visible_task(task_id, g.user)
    done = tasks.cancel(task, current_app.extensions["pilothouse.worker"])
    return jsonify({"id": task.id, "cancel": done}), 202


@bp.post("/tasks/<task_id>/control")
@api_login_required
def take_control(task_id: str):
    """The owner takes the browser (the task's next step waits); viewers stay view-only."""
    task = visible_task(task_id, g.user)
    return jsonify(control.take(task, g.user))


@bp.delete("/tasks/<task_id>/control")
@api_login_required
def release_control(task_id: str):
    task = visible_task(task_id, g.user)
    return jsonify(control.release(task, g.user))


@bp.get("/tasks/<task_id>/events")
@api_login_required
def task_events(task_id: str):
    """Server-sent events: the run so far, then live; the stream ends when the task does."""
    task = visible_task(task_id, g.user)
    after = (request.headers.get("Last-Event-ID") or request.args.get("after", "")).strip()
    if after and not EVENT_ID.match(after):
        abort(400, f"Last-Event-ID (or ?after=) {after[:80]!r} is not an id this stream sent: send the "
                   "'id:' of the last event you got, or nothing to start from the beginning")
    client = redis_client()

    def generate():
        for entry_id, event in feed.follow(client, task, after):
            if event is feed.KEEPALIVE[1]:
                yield ": keepalive\n\n"
                continue
            yield f"id: {entry_id}\nevent: {event.get('type', 'message')}\ndata: {json.dumps(event)}\n\n"
        yield "event: end\ndata: {}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(generate()), mimetype="text/event-stream", headers=headers)


@bp.get("/tasks/<task_id>/artifacts/<name>")
@api_login_required
def task_artifact(task_id: str, name: str):
    task = visible_task(task_id, g.user)
    found = artifacts.find(task, name)
    if found is None:
        abort(404, f"task {task_id} has no artifact {name!r}")
    meta, path = found
    if path is None:
        abort(404, f"artifact {name!r} is not in this app's artifact store (ARTIFACTS_URL)")
    return send_file(path, mimetype=meta["content_type"], download_name=path.name,
                     as_attachment=meta["kind"] != "screenshot", max_age=3600)
