"""The live-view gateway's plumbing: find a running task's session, and relay a viewer's
websocket to the websockify of the worker that runs it.

The relay is byte for byte: after both handshakes (the viewer's with us, ours with the
worker), the viewer's frames are already masked as a server expects and the worker's are
unmasked as a browser expects, so nothing is parsed or copied twice. It ends when either
side closes, or when ``still_allowed()`` says no (the task ended, control was handed back).
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import redis

from worker.spec.channels import session_key

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER = 16 * 1024
CHECK_EVERY_S = 1.0
CONNECT_TIMEOUT_S = 5
SEND_TIMEOUT_S = 30


class UpstreamError(RuntimeError):
    """The worker's websockify refused or did not answer the handshake."""


def live_session(client: redis.Redis, task_id: str) -> dict[str, str] | None:
    """The session record of a running task (host, ports, tokens), or None."""
    return client.hgetall(session_key(task_id)) or None


def any_session(client: redis.Redis) -> dict[str, str] | None:
    """The session record of some running task (to reach a worker's websockify)."""
    for key in client.scan_iter(match=session_key("*"), count=100):
        record = client.hgetall(key)
        if record.get("host") and record.get("novnc_port"):
            return record
    return None


def accept_value(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def handshake_response(key: str, protocol: str | None) -> bytes:
    """Our 101 answer to the viewer."""
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept_value(key)}"]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def close_frame(code: int = 1000, reason: str = "") -> bytes:
    """A server-to-client close frame (unmasked)."""
    payload = struct.pack("!H", code) + reason.encode()[:120]
    return bytes([0x88, len(payload)]) + payload


def open_upstream(host: str, port: int, path: str, protocols: str | None) -> tuple[socket.socket, bytes, str]:
    """Connect to the worker's websockify and do the websocket handshake; returns the socket,
    any bytes that came after the handshake, and the subprotocol it chose."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {authority}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {protocols}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(4096)
            if not chunk or len(buffer) > MAX_HEADER:
                raise UpstreamError("the worker closed the connection during the handshake")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        if " 101 " not in f"{status} " or headers.get("sec-websocket-accept") != accept_value(key):
            raise UpstreamError(f"the worker refused the live view: {status}")
        return sock, rest, headers.get("sec-websocket-protocol", "")
    except BaseException:
        sock.close()
        raise


def relay(viewer: socket.socket, upstream: socket.socket, first: bytes,
          still_allowed: Callable[[], bool]) -> str:
    """Copy bytes both ways until one side closes or ``still_allowed()`` turns false (then
    the viewer gets a close frame). Returns why it ended."""
    for sock in (viewer, upstream):
        sock.settimeout(SEND_TIMEOUT_S)
    if first:
        viewer.sendall(first)
    checked = time.monotonic()
    while True:
        readable, _, _ = select.select([viewer, upstream], [], [], CHECK_EVERY_S)
        for source in readable:
            data = source.recv(65536)
            if not data:
                return "viewer closed" if source is viewer else "worker closed"
            (upstream if source is viewer else viewer).sendall(data)
        if time.monotonic() - checked >= CHECK_EVERY_S:
            checked = time.monotonic()
            if not still_allowed():
                viewer.sendall(close_frame(1000, "the live view ended"))
                return "not allowed any more"


def viewer_socket(environ: dict[str, Any]) -> socket.socket:
    """The viewer's raw connection, from gunicorn (or Werkzeug's development server)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("the live view needs gunicorn (or the Werkzeug server) to reach the socket")
    return sock
