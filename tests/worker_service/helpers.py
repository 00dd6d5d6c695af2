"""Helpers of the worker-service tests: the tests' page server (solid colours, gates), task
specs, and reading a task's stream."""

from __future__ import annotations

import html
import threading
import time
import uuid
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from celery import Celery
from celery.result import AsyncResult

from tests.fixtures.xvfb import wait_until
from worker.service.events import read_events
from worker.spec.channels import session_key

FINAL_STATES = ("succeeded", "failed", "cancelled", "timed_out")
GATE_WAIT_S = 120


class _Handler(BaseHTTPRequestHandler):
    server_version = "pilothouse-test/1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the task's page went away meanwhile
            pass

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        pages: PageServer = self.server.pages
        if url.path == "/colour":
            colour = query.get("c", "1e90ff")
            if not all(ch in "0123456789abcdefABCDEF" for ch in colour) or len(colour) != 6:
                colour = "000000"
            title = html.escape(query.get("title", "Colour"))
            beacon = "".join(ch for ch in query.get("beacon", "") if ch.isalnum() or ch == "-")
            script = (f"<script>for (const kind of ['mousedown', 'keydown']) document.addEventListener("
                      f"kind, () => fetch('/beacon?name={beacon}'));</script>" if beacon else "")
            self._send(f"<!doctype html><html><head><title>{title}</title><style>html,body{{margin:0;"
                       f"height:100%;background:#{colour}}}</style></head><body>"
                       f"<h1 id='heading' style='margin:0;font-size:12px'>{title}</h1>{script}</body></html>")
        elif url.path == "/beacon":
            pages.arrive(query.get("name", ""))
            self._send("", "text/plain")
        elif url.path == "/gate":
            name = query.get("name", "")
            pages.arrive(name)
            opened = pages.gate(name).wait(GATE_WAIT_S)
            self._send("open" if opened else "gate timeout", "text/plain")
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


class PageServer:
    """``/colour?c=RRGGBB&title=T``: a page of one solid colour (``&beacon=N``: a click or a key
    press in it calls ``/beacon?name=N``). ``/gate?name=N``: answers only once the test calls
    ``open(N)``, so a task can be held at a known point without sleeping. ``arrivals(N)`` counts
    the requests to a gate or beacon."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.pages = self
        self.port = self.server.server_port
        self._gates: dict[str, threading.Event] = defaultdict(threading.Event)
        self._arrivals: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> PageServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for gate in list(self._gates.values()):
            gate.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gate(self, name: str) -> threading.Event:
        with self._lock:
            return self._gates[name]

    def arrive(self, name: str) -> None:
        with self._lock:
            self._arrivals[name] += 1

    def arrivals(self, name: str) -> int:
        with self._lock:
            return self._arrivals[name]

    def open(self, name: str) -> None:
        self.gate(name).set()

    def open_all(self) -> None:
        """Open every gate a test made (so a test that failed leaves no task held)."""
        with self._lock:
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()


# -- task specs ---------------------------------------------------------------------------------

def gate_step(name: str, timeout_s: float = 90) -> dict[str, Any]:
    """A step that waits until the test opens the gate ``name``."""
    return {"action": "evaluate", "script": f"fetch('/gate?name={name}').then(r => r.text())",
            "name": f"gate_{name}"[:64], "timeout_s": timeout_s}


def colour_spec(pages: PageServer, colour: str, *, hold_s: float = 60, title: str = "Colour",
                beacon: str = "") -> dict[str, Any]:
    """Show a page of one colour and hold it (waiting for an element that never comes)."""
    return {"version": 1, "name": f"colour {colour}", "timeout_s": hold_s + 30,
            "start_url": pages.url(f"/colour?c={colour}&title={title}&beacon={beacon}"),
            "steps": [{"action": "wait_for", "selector": "#never-there", "state": "attached",
                       "timeout_s": hold_s}]}


def gated_spec(pages: PageServer, gate: str, *, extra_steps: list[dict] | None = None) -> dict[str, Any]:
    """Open a page, wait at ``gate``, then run ``extra_steps``."""
    pages.gate(gate)  # made now, so that open_all() opens it even before the task arrives
    return {"version": 1, "name": f"gated {gate}", "timeout_s": 120,
            "start_url": pages.url("/colour?c=2e8b57&title=Gated"),
            "steps": [gate_step(gate), *(extra_steps or [])]}


def new_task_id() -> str:
    return str(uuid.uuid4())


# -- the main app's side of the contract ---------------------------------------------------------

def send(celery: Celery, spec: dict[str, Any], task_id: str | None = None, owner: str = "alice",
         queue: str = "automation") -> AsyncResult:
    """Send ``automation.run`` by name, exactly as the main app does."""
    task_id = task_id or new_task_id()
    return celery.send_task("automation.run", kwargs={"task_id": task_id, "spec": spec, "owner": owner,
                                                      "queued_at": time.time()},
                            task_id=task_id, queue=queue)


def events(client: redis.Redis, task_id: str) -> list[dict[str, Any]]:
    return [event for _, event in read_events(client, task_id)]


def final_events(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == "state" and e["state"] in FINAL_STATES]


def states(evs: list[dict[str, Any]]) -> list[str]:
    return [e["state"] for e in evs if e["type"] == "state"]


def wait_final(client: redis.Redis, task_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Follow the task's stream until its final state; return every event."""
    return wait_until(lambda: (evs := events(client, task_id)) and final_events(evs) and evs,
                      timeout, f"a final state of task {task_id}", interval=0.05)


def state_event(evs: list[dict[str, Any]], state: str) -> dict[str, Any] | None:
    """The first event of ``state``."""
    return next((e for e in evs if e["type"] == "state" and e["state"] == state), None)


def wait_state(client: redis.Redis, task_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
    """Wait for the task's first ``state`` event and return it."""
    return wait_until(lambda: state_event(events(client, task_id), state), timeout,
                      f"state {state!r} of task {task_id}", interval=0.05)


def wait_session(client: redis.Redis, task_id: str, timeout: float = 30) -> dict[str, str]:
    """The live session record of a running task (it holds the VNC token)."""
    return wait_until(lambda: client.hgetall(session_key(task_id)), timeout,
                      f"the live session of task {task_id}", interval=0.05)


# -- live view ----------------------------------------------------------------------------------

def websocket_open(port: int, token: str | None, timeout: float = 5) -> bytes:
    """A raw websocket handshake with websockify (``?token=``); returns what the server sent
    before it closed or until an RFB greeting arrived (b"" when it refused the connection)."""
    import base64
    import os
    import socket

    query = "" if token is None else f"?token={token}"
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /websockify{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: binary\r\n\r\n")
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request.encode())
        deadline = time.monotonic() + timeout
        while b"RFB 003" not in received and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received
