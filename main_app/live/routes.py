"""The live-view gateway: the only public way to a worker's display.

``/live/<task_id>/websockify`` takes the task page's websocket, checks that the signed-in
user may see the task (its owner or an admin; anyone else gets 404), and relays it to the
websockify of the worker running the task with the task's token, which the browser never
sees. ``?mode=control`` reaches the input-taking VNC server, only while the owner has control.
``/live/novnc/<file>`` serves the noVNC client, fetched once from a worker's websockify.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from flask import Response, abort, current_app, request
from flask_login import current_user

from main_app.api.auth import visible_task
from main_app.live import bp
from main_app.services import live
from main_app.services.broker import redis_client
from main_app.services.worker_client import WorkerUnavailable

NOVNC_FILE = re.compile(r"^(core|vendor)/[A-Za-z0-9_./-]+\.js$")
_novnc_cache: dict[str, bytes] = {}


class _Handled(Response):
    """The connection was taken over (a relayed websocket): tell gunicorn to write nothing."""

    def __call__(self, environ, start_response):
        if "gunicorn.socket" in environ:
            raise StopIteration()
        return super().__call__(environ, start_response)


def _same_origin() -> bool:
    """A websocket carries the session cookie whoever opened it: only our own pages may."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    configured = current_app.config["PILOTHOUSE"].public_origin
    if configured:
        return origin.rstrip("/") == configured
    return urlsplit(origin).netloc == request.host


def _session_for(task_id: str) -> dict[str, str]:
    if not current_user.is_authenticated:
        abort(401, "sign in to watch a task")
    task = visible_task(task_id, current_user)
    session = live.live_session(redis_client(), task_id)
    if task.final or not session:
        abort(404, f"task {task_id} is not running: there is nothing to watch")
    return session


@bp.route("/live/<task_id>/websockify", websocket=True)  # Werkzeug routes upgrades apart
def websockify(task_id: str):
    if request.headers.get("Upgrade", "").lower() != "websocket":
        abort(400, "this address takes a websocket (the task page's live view opens it)")
    if not _same_origin():
        abort(403, "the live view opens only from this site's own pages")
    session = _session_for(task_id)
    mode = request.args.get("mode", "view")
    if mode == "control":
        if session.get("controller") != current_user.email or not session.get("control_token"):
            abort(403, "take control first (only the task's owner can)")
        token = session["control_token"]
    elif mode == "view":
        token = session.get("token")
        if not token:
            abort(409, "this task runs with live_view off")
    else:
        abort(400, f"mode={mode!r}: expected view or control")
    key = request.headers.get("Sec-WebSocket-Key", "")
    if not key:
        abort(400, "Sec-WebSocket-Key is missing")
    try:
        upstream, first, protocol = live.open_upstream(
            session["host"], int(session["novnc_port"]), f"/websockify?token={token}",
            request.headers.get("Sec-WebSocket-Protocol"))
    except (OSError, live.UpstreamError) as exc:
        current_app.logger.warning("live view of %s: %s", task_id, exc)
        abort(502, "the worker running this task does not answer")
    viewer = live.viewer_socket(request.environ)
    email, client = current_user.email, redis_client()

    def still_allowed() -> bool:
        now = live.live_session(client, task_id)
        return bool(now) and (mode == "view" or now.get("controller") == email)

    ended = "dropped"
    try:
        viewer.sendall(live.handshake_response(key, protocol or None))
        ended = live.relay(viewer, upstream, first, still_allowed)
    except OSError as exc:
        ended = f"dropped ({exc})"
    finally:
        upstream.close()
    current_app.logger.info("live view of %s (%s) ended: %s", task_id, mode, ended)
    if mode == "control" and ended != "not allowed any more":
        _hand_back(task_id)  # the owner's page went away: the task must not wait for nobody
    return _Handled()


def _hand_back(task_id: str) -> None:
    try:
        current_app.extensions["pilothouse.worker"].release_control(task_id)
    except WorkerUnavailable as exc:
        current_app.logger.warning("could not hand control of %s back: %s", task_id, exc)


@bp.get("/live/novnc/<path:filename>")
def novnc(filename: str):
    """noVNC's ES modules, fetched once from a worker (its image has Debian's noVNC) and kept:
    one path for every task, so the browser caches them too."""
    if not current_user.is_authenticated:
        abort(401, "sign in to watch a task")
    if not NOVNC_FILE.match(filename) or ".." in filename:
        abort(404)
    body = _novnc_cache.get(filename)
    if body is None:
        session = live.any_session(redis_client())
        if session is None:
            abort(404, "no worker is running a task: there is nothing to watch")
        url = f"http://{_authority(session['host'], session['novnc_port'])}/{filename}"
        try:
            answer = requests.get(url, timeout=(3.05, 10))
        except requests.RequestException:
            abort(502, "the worker does not answer")
        if answer.status_code != 200:
            abort(404)
        body = _novnc_cache.setdefault(filename, answer.content)
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


def _authority(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
