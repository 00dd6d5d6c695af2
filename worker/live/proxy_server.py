"""websockify + noVNC on ``NOVNC_PORT``: ``python -m worker.live.proxy_server``.

Serves the noVNC client from ``NOVNC_WEB`` and bridges each websocket to the VNC server its
``?token=`` names in Redis; a missing, unknown or expired token is refused, and a connected
viewer is dropped as soon as its token is gone (the task ended, or control was handed back),
so nobody keeps watching a slot after their task. While a viewer is connected, the task's
viewer count in Redis is one higher.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from urllib.parse import parse_qs, urlparse

import redis
from websockify.websocketproxy import ProxyRequestHandler, WebSocketProxy

from worker.live.tokens import RedisTokens
from worker.settings import SettingsError, WorkerSettings, env_str
from worker.spec.channels import (
    VNC_CLOSED_CHANNEL,
    session_key,
    viewers_key,
    vnc_token_key,
    worker_sessions_key,
)

log = logging.getLogger("worker.live")
VIEWER_KEY_TTL_S = 24 * 3600
TOKEN_CHECK_S = 0.5


def _task_of(client: redis.Redis, token: str, worker_id: str) -> str | None:
    """The task whose session holds ``token`` (view or control) on this worker."""
    for task_id in client.smembers(worker_sessions_key(worker_id)):
        if token in client.hmget(session_key(task_id), "token", "control_token"):
            return task_id
    return None


def watch_token(client: redis.Redis, token: str, target: socket.socket, stop: threading.Event) -> None:
    """Shut the VNC connection down as soon as ``token`` is withdrawn (published on
    ``VNC_CLOSED_CHANNEL``) or has expired; websockify then closes the viewer's websocket
    ("Target closed"). A Redis outage does not drop anyone."""
    pubsub, key = client.pubsub(ignore_subscribe_messages=True), vnc_token_key(token)
    try:
        pubsub.subscribe(VNC_CLOSED_CHANNEL)
        message = None  # first, and whenever nothing was published: is the token still there?
        while not stop.is_set():
            try:
                if (message is None and not client.exists(key)) or (message or {}).get("data") == token:
                    break
                message = pubsub.get_message(timeout=TOKEN_CHECK_S)
            except redis.RedisError:
                message = None
                stop.wait(TOKEN_CHECK_S)
        else:
            return  # the viewer left first
    finally:
        pubsub.close()
    log.info("the token of a connected viewer was withdrawn: disconnecting it")
    try:
        target.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class ViewerHandler(ProxyRequestHandler):
    """websockify's handler, counting viewers per task and dropping those whose token died."""

    def _token(self) -> str:
        return (parse_qs(urlparse(self.path).query).get("token") or [""])[0]

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.server.redis_url, decode_responses=True, socket_timeout=5)

    def new_websocket_client(self) -> None:
        client, task_id = self._client(), None
        try:
            task_id = _task_of(client, self._token(), self.server.worker_id)
            if task_id:
                client.incr(viewers_key(task_id))
                client.expire(viewers_key(task_id), VIEWER_KEY_TTL_S)
        except redis.RedisError:
            log.warning("cannot count a viewer (Redis unreachable)")
        try:
            super().new_websocket_client()
        finally:
            if task_id:
                try:
                    if client.decr(viewers_key(task_id)) <= 0:
                        client.delete(viewers_key(task_id))
                except redis.RedisError:
                    pass

    def do_proxy(self, target: socket.socket) -> None:
        stop = threading.Event()
        watcher = threading.Thread(target=watch_token, args=(self._client(), self._token(), target, stop),
                                   name="token-watch", daemon=True)
        watcher.start()
        try:
            super().do_proxy(target)
        finally:
            stop.set()


class LiveViewProxy(WebSocketProxy):
    def __init__(self, *, redis_url: str, worker_id: str, **kwargs: object):
        self.redis_url, self.worker_id = redis_url, worker_id
        super().__init__(RequestHandlerClass=ViewerHandler, **kwargs)


def main() -> int:
    """Serve until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = WorkerSettings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    web = env_str("NOVNC_WEB", "/usr/share/novnc")
    if not os.path.isfile(os.path.join(web, "vnc.html")):
        print(f"error: NOVNC_WEB={web!r} has no vnc.html: install Debian's 'novnc' package", file=sys.stderr)
        return 2
    server = LiveViewProxy(
        redis_url=settings.redis_url, worker_id=settings.worker_id,
        listen_host=env_str("NOVNC_LISTEN_HOST", "::"), listen_port=settings.novnc_port,
        web=web, file_only=True, token_plugin=RedisTokens(settings.redis_url), heartbeat=30,
    )
    server.start_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
