"""The live-view gateway: the only way to a worker's display is a websocket to the main app,
opened from its own pages by someone who may see the task; it relays to the worker with the
task's token (never shown to the browser) and closes when the task ends or control is handed
back."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import pytest
import requests

from tests.fixtures.xvfb import wait_until
from tests.worker_service.helpers import gated_spec, new_task_id

# The gateway does not touch the database beyond the task row: SQLite is enough.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("main", ["sqlite"], indirect=True)]


def handshake(user, task_id: str, *, mode: str = "view",
              origin: str | None = "same") -> tuple[socket.socket, bytes]:
    """A websocket handshake with the gateway, as a browser makes it (session cookie, Origin);
    returns the socket and what came back until the VNC greeting (or the error)."""
    server = user.server
    origin = server.url if origin == "same" else origin
    cookie = "; ".join(f"{c.name}={c.value}" for c in user.web.cookies)
    lines = [f"GET /live/{task_id}/websockify?mode={mode} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
             "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
             "Sec-WebSocket-Protocol: binary", f"Cookie: {cookie}"]
    if origin:
        lines.append(f"Origin: {origin}")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    received, deadline = b"", time.monotonic() + 10
    while b"RFB 003" not in received and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
        if received.startswith(b"HTTP/1.1 4") and b"\r\n\r\n" in received and b'"}' in received:
            break
    return sock, received


def status_of(received: bytes) -> int:
    return int(received.split(b" ", 2)[1])


def closed_by_server(sock: socket.socket, timeout: float = 15) -> bool:
    """True once the server closes the connection (a close frame, then EOF)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


@pytest.fixture
def running(alice, pages):
    """A task of alice's held at a gate (so it runs until the test lets it go)."""
    gate = new_task_id()
    task_id = alice.api("POST", "/api/v1/tasks", json=gated_spec(pages, gate)).json()["id"]
    wait_until(lambda: pages.arrivals(gate), 90, "the task to run (the worker may finish others first)")
    wait_until(lambda: alice.api("GET", f"/api/v1/tasks/{task_id}").json()["status"] == "running", 15,
               "the main app to record that it runs")
    yield task_id, gate
    pages.open(gate)


def test_the_owner_watches_through_the_gateway_and_the_stream_ends_with_the_task(alice, running, pages):
    task_id, gate = running
    sock, received = handshake(alice, task_id)
    try:
        assert received.startswith(b"HTTP/1.1 101"), received[:300]
        assert b"RFB 003" in received  # the worker's VNC server greets us through the relay
        assert b"token" not in received.lower()
        pages.open(gate)
        alice.wait_final(task_id)
        assert closed_by_server(sock), "the live view must close when the task ends"
    finally:
        sock.close()


def test_only_the_sites_own_pages_may_open_the_live_view(alice, running):
    task_id, _ = running
    for origin in ("http://evil.example", None):
        sock, received = handshake(alice, task_id, origin=origin)
        sock.close()
        assert status_of(received) == 403, received[:300]


def test_other_users_and_strangers_get_404_or_401(alice, bob, running, main):
    task_id, _ = running
    sock, received = handshake(bob, task_id)
    sock.close()
    assert status_of(received) == 404
    from tests.fixtures.main_app import WebUser

    stranger = WebUser(main, "nobody@pilothouse.test")
    sock, received = handshake(stranger, task_id)
    sock.close()
    assert status_of(received) == 401


def test_an_admin_may_watch(admin, running):
    task_id, _ = running
    sock, received = handshake(admin, task_id)
    sock.close()
    assert received.startswith(b"HTTP/1.1 101") and b"RFB 003" in received


def test_control_mode_only_while_the_owner_has_control(alice, admin, running):
    task_id, _ = running
    sock, received = handshake(alice, task_id, mode="control")
    sock.close()
    assert status_of(received) == 403, "control needs 'take control' first"

    assert admin.api("POST", f"/api/v1/tasks/{task_id}/control").status_code == 403  # owners only
    taken = alice.api("POST", f"/api/v1/tasks/{task_id}/control")
    assert taken.status_code == 200 and taken.json()["by"] == alice.email
    assert "token" not in taken.text
    sock, received = handshake(alice, task_id, mode="control")
    try:
        assert received.startswith(b"HTTP/1.1 101") and b"RFB 003" in received
        assert alice.api("DELETE", f"/api/v1/tasks/{task_id}/control").json()["control"] == "released"
        assert closed_by_server(sock), "handing back must end the control connection"
    finally:
        sock.close()


def test_a_finished_task_has_nothing_to_watch(alice, pages):
    task_id = alice.api("POST", "/api/v1/tasks", json={
        "version": 1, "start_url": pages.url("/colour?c=000080&title=Done"), "steps": []}).json()["id"]
    alice.wait_final(task_id)
    sock, received = handshake(alice, task_id)
    sock.close()
    assert status_of(received) == 404 and b"not running" in received


def test_control_is_handed_back_when_the_owners_control_connection_goes(alice, running):
    task_id, _ = running
    assert alice.api("POST", f"/api/v1/tasks/{task_id}/control").status_code == 200
    sock, received = handshake(alice, task_id, mode="control")
    assert received.startswith(b"HTTP/1.1 101")
    sock.close()  # the owner closed the tab
    wait_until(lambda: any(e.get("type") == "control" and e.get("state") == "released"
                           for e in recorded_events(alice, task_id)), 15, "control to be handed back")


def test_the_novnc_client_is_served_to_signed_in_users_only(alice, main, running):
    served = alice.web.get(main.url + "/live/novnc/core/rfb.js", timeout=10)
    assert served.status_code == 200 and "javascript" in served.headers["Content-Type"]
    assert "export default class RFB" in served.text and "max-age" in served.headers["Cache-Control"]
    assert requests.get(main.url + "/live/novnc/core/rfb.js", timeout=10).status_code == 401
    assert alice.web.get(main.url + "/live/novnc/../vnc.html", timeout=10).status_code == 404
    assert alice.web.get(main.url + "/live/novnc/vnc.html", timeout=10).status_code == 404


def recorded_events(user, task_id: str) -> list[dict]:
    """The task's events the main app has recorded so far (read from its database)."""
    rows = user.server.query("SELECT data FROM task_events WHERE task_id = :id ORDER BY seq", id=task_id)
    return [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
