"""The worker API's routes; each view is a few lines over plain functions."""

from __future__ import annotations

import hmac
import time
import uuid
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Blueprint, Response, current_app, jsonify, request, send_file

from worker.api.errors import error
from worker.api.health import check
from worker.metrics import exposition
from worker.service.events import TaskEvents
from worker.service.sessions import ControlError, list_sessions, release_control, take_control
from worker.spec import TASK_NAME, RunRequest, SpecError, parse_spec
from worker.spec.channels import cancel_key, result_key, time_limit_for

bp = Blueprint("api", __name__)
MAX_WAIT_S = 120
CANCEL_TTL_S = 24 * 3600
CONTENT_TYPES = {".png": "image/png", ".pdf": "application/pdf", ".zip": "application/zip"}


def _ctx() -> dict[str, Any]:
    return current_app.extensions["pilothouse"]


@bp.before_request
def _authenticate():
    if request.endpoint in ("api.health",):
        return None
    expected = _ctx()["settings"].api_token
    given = request.headers.get("Authorization", "")
    if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), expected.encode())):
        response, status = error(401, "missing or wrong bearer token (WORKER_API_TOKEN)")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response, status
    return None


@bp.get("/health")
def health():
    ctx = _ctx()
    parts, failing = check(ctx["redis"], ctx["settings"])
    body = {"status": "ok" if not failing else "unavailable", "service": "worker",
            "worker_id": ctx["settings"].worker_id, "timestamp": time.time(),
            "uptime": round(time.time() - ctx["started"], 1), **parts}
    if failing:
        body["failing"] = failing
    return jsonify(body), 200 if not failing else 503


@bp.get("/api/sessions")
def sessions():
    ctx = _ctx()
    parts, _ = check(ctx["redis"], ctx["settings"])
    return jsonify({"worker_id": ctx["settings"].worker_id, "slots": parts["slots"],
                    "sessions": list_sessions(ctx["redis"], ctx["settings"].worker_id)})


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise _BadRequest(415, "send the task as JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _BadRequest(400, "the body is not a JSON object")
    return body


class _BadRequest(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@bp.errorhandler(_BadRequest)
def _bad_request(exc: _BadRequest):
    return error(exc.status, exc.message, **exc.extra)


def _wait_seconds() -> float:
    raw = request.args.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise _BadRequest(400, f"wait={raw!r}: expected seconds (0-{MAX_WAIT_S})") from None
    if not 0 <= wait <= MAX_WAIT_S:
        raise _BadRequest(400, f"wait={raw!r}: expected seconds (0-{MAX_WAIT_S})")
    return wait


@bp.post("/api/automation")
def automation():
    """Body: ``{"spec": {...}, "owner": "...", "task_id": "..."}``; ``?wait=S`` waits for the result."""
    body, wait = _json_body(), _wait_seconds()
    unknown = sorted(set(body) - {"spec", "owner", "task_id"})
    if unknown:
        raise _BadRequest(400, f"unknown field(s): {', '.join(unknown)}; send spec, owner, task_id")
    if "spec" not in body:
        raise _BadRequest(400, "'spec' is required: the task spec to run")
    try:
        spec = parse_spec(body["spec"])
    except SpecError as exc:
        raise _BadRequest(422, f"invalid task spec: {exc}", errors=exc.errors) from None
    try:
        run = RunRequest(task_id=body.get("task_id") or str(uuid.uuid4()), spec=body["spec"],
                         owner=str(body.get("owner") or ""), queued_at=time.time())
    except ValueError as exc:
        raise _BadRequest(400, f"bad task_id or owner: {exc}") from None
    ctx = _ctx()
    TaskEvents(ctx["redis"], run.task_id).state("queued", owner=run.owner)
    async_result = ctx["celery"].send_task(
        TASK_NAME, kwargs=run.model_dump(), task_id=run.task_id, queue=ctx["settings"].queue,
        time_limit=time_limit_for(spec.timeout_s))
    if not wait:
        return jsonify({"task_id": run.task_id, "status": "queued"}), 202
    try:
        value = async_result.get(timeout=wait, propagate=False)
    except CeleryTimeout:
        return jsonify({"task_id": run.task_id, "status": "queued or running",
                        "message": f"no result within {wait:g} s; follow the task's events"}), 202
    if isinstance(value, BaseException):  # the worker raised instead of returning a result
        return jsonify({"task_id": run.task_id, "status": "failed",
                        "error": f"the worker raised {type(value).__name__}: {value}"}), 500
    return jsonify(value), 200


@bp.post("/api/sessions/<task_id>/cancel")
def cancel(task_id: str):
    ctx = _ctx()
    if ctx["redis"].exists(result_key(task_id)):
        return error(409, f"task {task_id} has already finished")
    ctx["redis"].set(cancel_key(task_id), "1", ex=CANCEL_TTL_S)
    ctx["celery"].control.revoke(task_id)  # a queued task is dropped when a worker gets it
    return jsonify({"task_id": task_id, "cancel": "requested"}), 202


@bp.post("/api/sessions/<task_id>/control")
def take(task_id: str):
    """Body ``{"by": "<who>"}``: that person gets the task's browser; returns the control token
    (for the main app's gateway only) and holds the task's next step until control is released."""
    body = _json_body()
    by = body.get("by")
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise _BadRequest(400, "'by' is required: who takes control (a name of at most 200 characters)")
    try:
        granted = take_control(_ctx()["redis"], task_id, by.strip())
    except ControlError as exc:
        return error(exc.status, str(exc))
    TaskEvents(_ctx()["redis"], task_id).emit("control", state="taken", by=granted["by"])
    return jsonify({"task_id": task_id, **granted}), 200


@bp.delete("/api/sessions/<task_id>/control")
def release(task_id: str):
    """Hand the browser back: the control viewer is dropped and the task's steps go on."""
    by = release_control(_ctx()["redis"], task_id)
    if by:
        TaskEvents(_ctx()["redis"], task_id).emit("control", state="released", by=by)
    return jsonify({"task_id": task_id, "released": bool(by), "by": by}), 200


@bp.get("/api/artifacts/<task_id>/<filename>")
def artifact(task_id: str, filename: str):
    """A file a task on this worker wrote to its local artifact store (the main app copies
    them from here when the two services do not share one)."""
    try:
        path = _ctx()["artifacts"].path(f"{task_id}/{filename}")
    except ValueError:
        return error(404, f"no artifact {filename!r} of task {task_id}")
    if not path.is_file():
        return error(404, f"no artifact {filename!r} of task {task_id} on this worker")
    return send_file(path, mimetype=CONTENT_TYPES.get(path.suffix, "application/octet-stream"))


@bp.get("/metrics")
def metrics():
    return Response(exposition(_ctx()["redis"], _ctx()["settings"]),
                    mimetype="text/plain; version=0.0.4")
