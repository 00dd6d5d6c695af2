"""REST API v1 over real HTTP (gunicorn), on SQLite and on PostgreSQL, with tasks run by the
real worker stack: API tokens, listing, Idempotency-Key, bad input (which must change
nothing), isolation between users, the event stream, artifacts, cancel, the published
schemas and the main app's health.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa

from main_app.settings import database_url
from tests.fixtures.main_app import MainAppServer, WebUser
from tests.fixtures.xvfb import wait_until
from tests.main_app.conftest import new_user, quick_spec
from tests.worker_service.helpers import PageServer, gate_step, gated_spec
from worker.spec.channels import ALL_EVENTS_STREAM, events_stream, session_key

FINAL = ("succeeded", "failed", "cancelled", "timed_out")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def rclient(worker) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(worker.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _leave_no_task_behind(pages: PageServer) -> Iterator[None]:
    """Whatever a test did, open its gates afterwards, so no held task blocks the next test."""
    yield
    pages.open_all()


def db_rows(server: MainAppServer, sql: str, **params: Any) -> list[tuple]:
    """Rows straight from the main app's database (SQLite file or PostgreSQL), not through the app."""
    engine = sa.create_engine(database_url(server.database_url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def task_count(server: MainAppServer) -> int:
    return db_rows(server, "SELECT count(*) FROM tasks")[0][0]


def last_event_id(client: redis.Redis) -> str:
    last = client.xrevrange(ALL_EVENTS_STREAM, count=1)
    return last[0][0] if last else "0-0"


def queued_since(client: redis.Redis, after: str) -> list[dict[str, Any]]:
    """The 'queued' events on the stream of all tasks after entry ``after``."""
    out = []
    for _, fields in client.xrange(ALL_EVENTS_STREAM, min=f"({after}"):
        event = json.loads(fields["event"])
        if event.get("type") == "state" and event.get("state") == "queued":
            out.append({**event, "task_id": fields.get("task_id")})
    return out


def session_call(user: WebUser, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A call from the signed-in browser session (cookie + the page's CSRF token), no API token."""
    headers = dict(kwargs.pop("headers", None) or {})
    if method not in ("GET", "HEAD"):
        headers.setdefault("X-CSRFToken", user.csrf())
    return user.web.request(method, user.server.url + path, headers=headers, timeout=30, **kwargs)


def submit(user: WebUser, spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    answer = user.api("POST", "/api/v1/tasks", json=spec, **kwargs)
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_status(user: WebUser, task_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the API until the task has ``status`` (fail early if it ends in another)."""
    def reached():
        body = user.api("GET", f"/api/v1/tasks/{task_id}").json()
        if body["status"] != status and body["status"] in FINAL:
            raise AssertionError(f"task {task_id} ended {body['status']} while waiting for {status}: {body}")
        return body if body["status"] == status else None

    return wait_until(reached, timeout, f"task {task_id} to be {status}", interval=0.1)


def read_sse(response: requests.Response) -> list[dict[str, Any]]:
    """The server-sent events of a finished response: ``[{"id", "event", "data"}, ...]``."""
    events, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    if current:
        events.append(current)
    for event in events:
        event["data"] = json.loads(event.get("data", "null"))
    return events


def user_events(user: WebUser, task_id: str, **headers: str) -> list[dict[str, Any]]:
    """Every event of the task as its event stream (SSE) sends them, up to and with ``end``."""
    answer = user.api("GET", f"/api/v1/tasks/{task_id}/events", headers=headers, timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
    return read_sse(answer)


def live_handshake(user: WebUser, task_id: str) -> tuple[str, bytes]:
    """Open the live view's websocket as ``user``'s browser would (its session cookie, this
    site as Origin); return the gateway's status line and what followed the headers."""
    host = f"127.0.0.1:{user.server.port}"
    cookies = "; ".join(f"{c.name}={c.value}" for c in user.web.cookies)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /live/{task_id}/websockify HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
               f"Cookie: {cookies}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: binary\r\n\r\n")
    received = b""
    with socket.create_connection(("127.0.0.1", user.server.port), timeout=20) as sock:
        sock.sendall(request.encode())
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    return head.split(b"\r\n", 1)[0].decode(), rest


def shot_spec(pages: PageServer) -> dict[str, Any]:
    return {"version": 1, "name": "shot", "start_url": pages.url("/colour?c=ff8c00&title=Shot"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"},
                      {"action": "screenshot", "name": "page"}]}


@pytest.fixture(scope="module")
def finished(main: MainAppServer, pages: PageServer) -> tuple[WebUser, dict[str, Any]]:
    """A user and their task that took a screenshot and succeeded (one per database)."""
    owner = new_user(main, "carol")
    task = submit(owner, shot_spec(pages))
    done = owner.wait_final(task["id"], timeout=90)
    assert done["status"] == "succeeded", done
    return owner, done


# -- API tokens ----------------------------------------------------------------------------------


def test_an_api_token_is_shown_once_stored_hashed_and_can_be_revoked(main, alice):
    made = session_call(alice, "POST", "/api/v1/tokens", json={"name": "ci"})
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert secret.startswith("ph_") and len(secret) > 30
    assert "only time" in made.json()["note"]

    listed = session_call(alice, "GET", "/api/v1/tokens")
    assert listed.status_code == 200 and secret not in listed.text
    (entry,) = [t for t in listed.json()["tokens"] if t["id"] == made.json()["id"]]
    assert entry["name"] == "ci" and secret.startswith(entry["prefix"]) and len(entry["prefix"]) < 16
    assert entry["last_used_at"] is None and entry["revoked"] is False

    # the database holds the token's SHA-256, and the token itself nowhere, in no table
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert db_rows(main, "SELECT name FROM api_tokens WHERE token_hash = :h", h=digest) == [("ci",)]
    engine = sa.create_engine(database_url(main.database_url))
    try:
        tables = sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            for table in tables:
                dump = repr(conn.execute(sa.text(f'SELECT * FROM "{table}"')).all())
                assert secret not in dump, f"the API token is stored in plain text in {table}"
    finally:
        engine.dispose()

    before = time.time()
    me = alice.api("GET", "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["email"] == alice.email
    (entry,) = [t for t in session_call(alice, "GET", "/api/v1/tokens").json()["tokens"]
                if t["id"] == made.json()["id"]]
    assert entry["last_used_at"] is not None and entry["last_used_at"] >= before - 1

    revoked = session_call(alice, "DELETE", f"/api/v1/tokens/{entry['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    refused = alice.api("GET", "/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"] and "create a new one" in refused.json()["error"]
    (entry,) = [t for t in session_call(alice, "GET", "/api/v1/tokens").json()["tokens"]
                if t["id"] == made.json()["id"]]
    assert entry["revoked"] is True
    assert session_call(alice, "DELETE", f"/api/v1/tokens/{entry['id']}").status_code == 404


def test_a_token_cannot_be_made_from_the_session_without_its_csrf_token(alice):
    answer = alice.web.post(alice.server.url + "/api/v1/tokens", json={"name": "sneaky"}, timeout=30)
    assert answer.status_code == 400 and "security token" in answer.json()["error"]
    names = [t["name"] for t in session_call(alice, "GET", "/api/v1/tokens").json()["tokens"]]
    assert "sneaky" not in names


@pytest.mark.parametrize(("authorization", "says"), [
    (None, "sign in"),
    ("Basic YWxpY2U6c2VjcmV0", "Bearer"),
    ("Bearer", "Bearer"),
    ("Bearer not-a-token", "ph_"),
    ("Bearer ph_" + "x" * 43, "unknown"),
    ("Token ph_abc", "Bearer"),
], ids=["none", "basic", "no-token", "garbage", "unknown", "other-scheme"])
def test_a_missing_wrong_or_unknown_token_gets_401(main, authorization, says):
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(main.url + "/api/v1/tasks", headers=headers, timeout=30)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/json"
    assert says in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


# -- listing ------------------------------------------------------------------------------------


def test_my_tasks_are_listed_newest_first_in_pages_and_by_status(alice, pages):
    failing = {"version": 1, "name": "fails", "start_url": pages.url("/colour?c=800000"),
               "steps": [{"action": "wait_for", "selector": "#never", "timeout_s": 0.5}]}
    made = [submit(alice, quick_spec(pages, name=f"quick {i}"))["id"] for i in range(4)]
    made.append(submit(alice, failing)["id"])
    for task_id in made:
        alice.wait_final(task_id, timeout=90)
    newest_first = made[::-1]

    first = alice.api("GET", "/api/v1/tasks?per_page=2").json()
    assert (first["page"], first["per_page"], first["total"], first["pages"]) == (1, 2, 5, 3)
    assert [t["id"] for t in first["tasks"]] == newest_first[:2]
    second = alice.api("GET", "/api/v1/tasks", params={"per_page": 2, "page": 2}).json()
    third = alice.api("GET", "/api/v1/tasks", params={"per_page": 2, "page": 3}).json()
    assert [t["id"] for t in second["tasks"] + third["tasks"]] == newest_first[2:]
    assert alice.api("GET", "/api/v1/tasks?per_page=2&page=4").json()["tasks"] == []
    everything = alice.api("GET", "/api/v1/tasks").json()
    assert [t["id"] for t in everything["tasks"]] == newest_first and everything["per_page"] == 20

    failed = alice.api("GET", "/api/v1/tasks?status=failed").json()
    assert [t["id"] for t in failed["tasks"]] == [made[-1]] and failed["total"] == 1
    assert failed["tasks"][0]["error"]
    assert alice.api("GET", "/api/v1/tasks?status=succeeded,failed").json()["total"] == 5
    assert alice.api("GET", "/api/v1/tasks?status=running").json() == {
        "tasks": [], "page": 1, "per_page": 20, "total": 0, "pages": 1}


@pytest.mark.parametrize(("query", "names"), [
    ("page=0", "page"), ("page=two", "page"), ("page=-1", "page"), ("per_page=0", "per_page"),
    ("per_page=101", "per_page"), ("per_page=1.5", "per_page"), ("per_page=²", "per_page"),
    ("status=done", "done"),
    ("status=queued,finished", "finished"),
])
def test_a_bad_listing_parameter_gets_400_naming_it(alice, query, names):
    answer = alice.api("GET", f"/api/v1/tasks?{query}")
    assert answer.status_code == 400, answer.text
    assert names in answer.json()["error"] and answer.json()["status"] == 400


# -- Idempotency-Key ----------------------------------------------------------------------------


def test_the_same_idempotency_key_and_spec_make_one_task_that_runs_once(main, alice, bob, pages, rclient):
    spec = quick_spec(pages, name="once")
    mark, before = last_event_id(rclient), task_count(main)
    first = alice.api("POST", "/api/v1/tasks", json=spec, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201, first.text
    again = alice.api("POST", "/api/v1/tasks", json=spec, headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == f"/api/v1/tasks/{first.json()['id']}"

    # many at once: still one task (the database's unique key settles the race)
    results: list[requests.Response] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        barrier.wait(30)
        results.append(alice.api("POST", "/api/v1/tasks", json=spec, headers={"Idempotency-Key": "order-2"}))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in results) == [200] * 5 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    racing_id = results[0].json()["id"]

    # the key is the user's own: Bob's "order-1" is another task, not Alice's
    bobs = bob.api("POST", "/api/v1/tasks", json=spec, headers={"Idempotency-Key": "order-1"})
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]

    assert task_count(main) == before + 3
    queued = [e["task_id"] for e in queued_since(rclient, mark)]
    assert sorted(queued) == sorted([first.json()["id"], racing_id, bobs.json()["id"]])
    for user, task_id in ((alice, first.json()["id"]), (alice, racing_id), (bob, bobs.json()["id"])):
        assert user.wait_final(task_id, timeout=90)["status"] == "succeeded"
    runs = [e for e in user_events(alice, first.json()["id"]) if e["event"] == "state"
            and e["data"]["state"] == "running"]
    assert len(runs) == 1


def test_an_idempotency_key_reused_for_another_spec_or_too_long_is_refused(main, alice, pages, rclient):
    first = submit(alice, quick_spec(pages, name="first"), headers={"Idempotency-Key": "job-7"})
    mark, before = last_event_id(rclient), task_count(main)

    other = alice.api("POST", "/api/v1/tasks", json=quick_spec(pages, name="second"),
                      headers={"Idempotency-Key": "job-7"})
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["error"] and "another spec" in other.json()["error"]
    too_long = alice.api("POST", "/api/v1/tasks", json=quick_spec(pages),
                         headers={"Idempotency-Key": "k" * 201})
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["error"] and "200" in too_long.json()["error"]

    assert task_count(main) == before and queued_since(rclient, mark) == []
    assert alice.wait_final(first["id"], timeout=90)["status"] == "succeeded"


# -- bad input changes nothing ------------------------------------------------------------------

BIG = 300 * 1024  # over MAX_BODY_BYTES' default of 256 KiB
JSON = {"Content-Type": "application/json"}
DEEP = json.loads("[" * 500 + "]" * 500)


def _spec(**extra: Any) -> dict[str, Any]:
    return {"version": 1, "start_url": "http://127.0.0.1:9/", "steps": [], **extra}


BAD_REQUESTS = [
    # (id, request arguments, status, words of the error, (loc, words of its message) or None)
    ("too-big", {"data": json.dumps(_spec(name="x" * BIG)), "headers": JSON},
     413, "larger than 262144 bytes", None),
    ("too-big-chunked", {"data": lambda: iter([b'{"version": 1, "name": "', b"x" * BIG, b'"}']),
                         "headers": JSON},
     413, "larger than 262144 bytes", None),
    ("malformed", {"data": '{\n  "version": 1,\n  "steps": [}\n', "headers": JSON},
     400, "line 3 column 13", None),
    ("not-json-content-type", {"data": json.dumps(_spec()), "headers": {"Content-Type": "text/plain"}},
     415, "Content-Type: application/json", None),
    ("form", {"data": {"version": "1"}}, 415, "application/x-www-form-urlencoded", None),
    ("empty", {"data": b"", "headers": JSON}, 400, "empty", None),
    ("not-utf8", {"data": b'{"name": "\xff"}', "headers": JSON},
     400, "UTF-8", None),
    ("nan", {"data": '{"version": 1, "timeout_s": NaN}', "headers": JSON},
     400, "NaN", None),
    ("nested-too-deep", {"json": _spec(steps=[{"action": "evaluate", "script": "a => a", "arg": DEEP}])},
     400, "deeper than 64 levels", None),
    ("nested-too-deep-to-parse", {"data": "[" * 100_000 + "]" * 100_000, "headers": JSON},
     400, "deeper than 64 levels", None),
    ("array", {"json": [_spec()]}, 422, "JSON object", ("", "JSON object")),
    ("string", {"json": json.dumps(_spec())}, 422, "JSON object", ("", "JSON object")),
    ("unknown-top-field", {"json": _spec(stepz=[])}, 422, "stepz", ("stepz", "unknown field 'stepz'")),
    ("unknown-step-field", {"json": _spec(steps=[{"action": "goto", "url": "http://127.0.0.1:9/"},
                                                 {"action": "click", "selector": "a", "selectr": "b"}])},
     422, "steps[1] (click)", ("steps[1] (click)", "unknown field 'selectr'")),
    ("unknown-action", {"json": _spec(steps=[{"action": "clik", "selector": "a"}])},
     422, "clik", ("steps[0] (clik)", "unknown action 'clik' (did you mean 'click'?)")),
    ("missing-field", {"json": _spec(steps=[{"action": "fill", "selector": "#q"}])},
     422, "steps[0] (fill)", ("steps[0] (fill)", "'value' is required")),
    ("javascript-url", {"json": _spec(start_url="javascript:alert(1)")}, 422, "start_url", ("start_url", "")),
    ("nul-in-name", {"json": _spec(name="a\u0000b")}, 422, "name", ("name", "")),
    ("idempotency-key", {"json": _spec(), "headers": {"Idempotency-Key": "k" * 500}}, 400,
     "Idempotency-Key", None),
    ("not-signed-in", {"json": _spec(), "auth": False}, 401, "sign in", None),
]


@pytest.mark.parametrize(("kwargs", "status", "says", "error"), [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(main, alice, rclient, kwargs, status, says, error):
    mark, before = last_event_id(rclient), task_count(main)
    listed_before = alice.api("GET", "/api/v1/tasks").json()["total"]

    kwargs = {k: v() if callable(v) else v for k, v in kwargs.items()}  # a chunked body, made anew
    answer = alice.api("POST", "/api/v1/tasks", **kwargs)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["status"] == status and says in body["error"], body
    if error is not None:
        loc, message = error
        assert any(e["loc"] == loc and message in e["message"] for e in body["errors"]), body["errors"]

    assert task_count(main) == before, "a refused request wrote a task"
    assert alice.api("GET", "/api/v1/tasks").json()["total"] == listed_before
    assert queued_since(rclient, mark) == [], "a refused request queued a task"


def test_a_signed_in_session_without_the_csrf_token_cannot_submit(main, alice, pages, rclient):
    mark, before = last_event_id(rclient), task_count(main)
    answer = alice.web.post(main.url + "/api/v1/tasks", json=quick_spec(pages), timeout=30)
    assert answer.status_code == 400 and "security token" in answer.json()["error"]
    assert task_count(main) == before and queued_since(rclient, mark) == []
    with_csrf = session_call(alice, "POST", "/api/v1/tasks", json=quick_spec(pages))
    assert with_csrf.status_code == 201, with_csrf.text
    assert alice.wait_final(with_csrf.json()["id"], timeout=90)["status"] == "succeeded"


def test_control_characters_get_a_4xx_not_a_server_error(main, alice, finished):
    """PostgreSQL's text cannot hold NUL: such input is refused before it reaches the database."""
    owner, task = finished
    token = session_call(alice, "POST", "/api/v1/tokens", json={"name": "ci\u0000"})
    assert token.status_code == 400 and "control characters" in token.json()["error"]
    assert owner.api("GET", f"/api/v1/tasks/{task['id']}%00").status_code == 404
    assert owner.api("GET", f"/api/v1/tasks/{task['id']}%00/events").status_code == 404

    stranger = WebUser(main, "mallory\u0000@pilothouse.test")
    assert stranger.login().status_code == 401
    csrf = stranger.csrf("/signup")
    signup = stranger.web.post(main.url + "/signup", timeout=30, data={
        "email": stranger.email, "password": stranger.password, "password2": stranger.password,
        "csrf_token": csrf})
    assert signup.status_code == 400 and "is not an email address" in signup.text
    assert db_rows(main, "SELECT count(*) FROM users WHERE email LIKE 'mallory%'") == [(0,)]


# -- isolation ----------------------------------------------------------------------------------


def test_another_user_gets_404_for_everything_of_a_finished_task(main, finished, bob, admin):
    owner, task = finished
    task_id = task["id"]
    unknown = str(uuid.uuid4())
    paths = [("GET", "/api/v1/tasks/{}"), ("GET", "/api/v1/tasks/{}/events"),
             ("GET", "/api/v1/tasks/{}/artifacts/page"), ("GET", "/api/v1/tasks/{}/artifacts/page.png"),
             ("POST", "/api/v1/tasks/{}/cancel"), ("POST", "/api/v1/tasks/{}/control"),
             ("DELETE", "/api/v1/tasks/{}/control")]
    for method, path in paths:
        theirs = bob.api(method, path.format(task_id))
        nobodys = bob.api(method, path.format(unknown))
        assert theirs.status_code == 404, (method, path, theirs.text)
        # exactly what a task that does not exist gets: nothing tells Bob that it does
        assert theirs.json() == {**nobodys.json(), "error": nobodys.json()["error"].replace(unknown, task_id)}
    assert owner.api("GET", f"/api/v1/tasks/{task_id}/artifacts/page").status_code == 200
    assert task_id not in [t["id"] for t in bob.api("GET", "/api/v1/tasks?per_page=100").json()["tasks"]]
    assert bob.api("GET", "/api/v1/tasks?all=1&per_page=100").json()["total"] == 0  # not an admin

    assert admin.api("GET", f"/api/v1/tasks/{task_id}").json()["owner"] == owner.email
    assert admin.api("GET", f"/api/v1/tasks/{task_id}/artifacts/page").status_code == 200
    assert task_id not in [t["id"] for t in admin.api("GET", "/api/v1/tasks?per_page=100").json()["tasks"]]
    everyone = admin.api("GET", "/api/v1/tasks", params={"all": "1", "per_page": 100}).json()
    owners = {t["owner"] for t in everyone["tasks"]}
    assert owner.email in owners and len(owners) > 1
    assert task_id in [t["id"] for t in everyone["tasks"]]


def test_another_user_cannot_cancel_control_or_watch_a_running_task(main, alice, bob, pages, rclient):
    gate = f"iso-{uuid.uuid4().hex[:8]}"
    task = submit(alice, gated_spec(pages, gate))
    wait_status(alice, task["id"], "running")
    wait_until(lambda: rclient.hgetall(session_key(task["id"])), 30, "the task's live session")

    status, body = live_handshake(bob, task["id"])
    assert status.split()[1] == "404", status
    assert json.loads(body)["error"] == f"no task {task['id']}"
    for method, path in (("POST", "cancel"), ("POST", "control"), ("DELETE", "control")):
        answer = bob.api(method, f"/api/v1/tasks/{task['id']}/{path}")
        assert answer.status_code == 404, (method, path, answer.text)
    assert task["id"] not in [t["id"] for t in bob.api("GET", "/api/v1/tasks").json()["tasks"]]

    # the owner, asking the same way, is let through to the worker's display
    status, _ = live_handshake(alice, task["id"])
    assert status.split()[1] == "101", status

    assert alice.api("GET", f"/api/v1/tasks/{task['id']}").json()["status"] == "running"
    pages.open(gate)
    assert alice.wait_final(task["id"], timeout=60)["status"] == "succeeded"


# -- events -------------------------------------------------------------------------------------


def test_the_events_of_a_finished_task_replay_the_whole_run_then_end(finished):
    owner, task = finished
    events = user_events(owner, task["id"])
    assert events[-1]["event"] == "end"
    run = events[:-1]
    states = [e["data"]["state"] for e in run if e["event"] == "state"]
    assert states == ["queued", "running", "succeeded"], states
    kinds = [e["event"] for e in run]
    assert kinds.index("state") == 0 and kinds[-1] == "state"
    # the start_url navigation (index None), then the steps
    steps = [(e["event"], e["data"]["index"]) for e in run if e["event"].startswith("step_")]
    assert steps == [(kind, index) for index in (None, 0, 1) for kind in ("step_started", "step_finished")]
    assert all(e["id"] for e in run) and len({e["id"] for e in run}) == len(run)
    assert run[-1]["data"]["result"]["extracted"] == {"heading": "Shot"}

    # a reader that reconnects with Last-Event-ID gets what came after that event, no more
    running = next(i for i, e in enumerate(run) if e["event"] == "state" and e["data"]["state"] == "running")
    resumed = user_events(owner, task["id"], **{"Last-Event-ID": run[running]["id"]})
    assert [e["id"] for e in resumed[:-1]] == [e["id"] for e in run[running + 1:]]
    assert resumed[-1]["event"] == "end"


@pytest.mark.parametrize("last_event_id", ["garbage", "12-x", "db-abc"])
def test_a_bad_last_event_id_gets_400(finished, last_event_id):
    owner, task = finished
    answer = owner.api("GET", f"/api/v1/tasks/{task['id']}/events", headers={"Last-Event-ID": last_event_id})
    assert answer.status_code == 400 and "Last-Event-ID" in answer.json()["error"], answer.text


def test_the_events_outlive_the_redis_stream(finished, rclient):
    """A week on, the task's Redis stream has expired: the database's copy replays the run."""
    owner, task = finished
    assert rclient.exists(events_stream(task["id"]))
    live = user_events(owner, task["id"])
    wait_until(lambda: db_rows(owner.server, "SELECT count(*) FROM task_events WHERE task_id = :t",
                               t=task["id"]) == [(len(live) - 1,)], 30, "the recorder to record every event")
    rclient.delete(events_stream(task["id"]))  # what the stream's TTL does
    recorded = user_events(owner, task["id"])
    assert [e["data"] for e in recorded] == [e["data"] for e in live]
    assert recorded[-1]["event"] == "end"
    resumed = user_events(owner, task["id"], **{"Last-Event-ID": recorded[1]["id"]})
    assert [e["data"] for e in resumed] == [e["data"] for e in live[2:]]


def test_the_events_of_a_running_task_arrive_live_and_end_with_it(alice, pages):
    gate = f"sse-{uuid.uuid4().hex[:8]}"
    task = submit(alice, gated_spec(pages, gate))
    seen: list[dict[str, Any]] = []
    stream = alice.api("GET", f"/api/v1/tasks/{task['id']}/events", stream=True, timeout=90)
    assert stream.status_code == 200

    def read() -> None:
        seen.extend(read_sse(stream))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: pages.arrivals(gate), 60, "the task to reach its gate")
    assert reader.is_alive(), "the event stream ended while the task was still running"
    pages.open(gate)
    reader.join(60)
    assert not reader.is_alive(), "the event stream did not end with the task"
    states = [e["data"]["state"] for e in seen if e["event"] == "state"]
    assert states == ["queued", "running", "succeeded"] and seen[-1]["event"] == "end"


# -- artifacts ----------------------------------------------------------------------------------


def test_a_screenshot_is_served_to_its_owner_and_a_missing_one_is_404(finished):
    owner, task = finished
    (meta,) = task["result"]["artifacts"]
    assert meta["kind"] == "screenshot" and meta["name"] == "page"
    for name in ("page", meta["key"].rsplit("/", 1)[-1]):
        answer = owner.api("GET", f"/api/v1/tasks/{task['id']}/artifacts/{name}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.content.startswith(PNG_MAGIC) and len(answer.content) == meta["size_bytes"]
    missing = owner.api("GET", f"/api/v1/tasks/{task['id']}/artifacts/nothing.png")
    assert missing.status_code == 404 and "nothing.png" in missing.json()["error"]
    assert owner.api("GET", f"/api/v1/tasks/{task['id']}/artifacts/..%2F..%2Fsecret").status_code == 404


# -- cancel -------------------------------------------------------------------------------------


def test_a_cancelled_queued_task_never_runs(alice, pages, worker):
    gates = [f"busy-{uuid.uuid4().hex[:8]}" for _ in range(worker.concurrency)]
    busy = [submit(alice, gated_spec(pages, gate))["id"] for gate in gates]
    for task_id in busy:
        wait_status(alice, task_id, "running")
    held_gate = f"held-{uuid.uuid4().hex[:8]}"
    queued = submit(alice, gated_spec(pages, held_gate))
    assert queued["status"] == "queued" and queued["queue_position"] >= 1

    answer = alice.api("POST", f"/api/v1/tasks/{queued['id']}/cancel")
    assert answer.status_code == 202 and answer.json()["cancel"] == "removed from the queue", answer.text
    done = alice.wait_final(queued["id"], timeout=60)
    assert done["status"] == "cancelled" and done["error_kind"] == "cancelled"

    for gate in gates:
        pages.open(gate)
    for task_id in busy:
        assert alice.wait_final(task_id, timeout=60)["status"] == "succeeded"
    # the slots are free and the queue is worked in order: once a later task ran, the cancelled
    # one had every chance to start
    later = submit(alice, quick_spec(pages))
    assert alice.wait_final(later["id"], timeout=60)["status"] == "succeeded"
    assert pages.arrivals(held_gate) == 0
    states = [e["data"]["state"] for e in user_events(alice, queued["id"]) if e["event"] == "state"]
    assert states == ["queued", "cancelled"]
    assert alice.api("GET", f"/api/v1/tasks/{queued['id']}").json()["status"] == "cancelled"


def test_a_running_task_is_stopped_by_cancel_and_a_finished_one_cannot_be(alice, pages, finished):
    gate = f"stop-{uuid.uuid4().hex[:8]}"
    spec = gated_spec(pages, gate, extra_steps=[gate_step(f"{gate}-after")])
    task = submit(alice, spec)
    wait_status(alice, task["id"], "running")
    wait_until(lambda: pages.arrivals(gate), 60, "the task to reach its gate")

    answer = alice.api("POST", f"/api/v1/tasks/{task['id']}/cancel")
    assert answer.status_code == 202 and answer.json()["cancel"] == "stopping", answer.text
    done = alice.wait_final(task["id"], timeout=30)
    assert done["status"] == "cancelled" and done["error_kind"] == "cancelled"
    steps = {step["index"]: step["status"] for step in done["result"]["steps"]}
    assert steps[0] == "cancelled" and steps.get(1) in (None, "skipped"), steps
    assert pages.arrivals(f"{gate}-after") == 0

    again = alice.api("POST", f"/api/v1/tasks/{task['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]
    owner, succeeded = finished
    late = owner.api("POST", f"/api/v1/tasks/{succeeded['id']}/cancel")
    assert late.status_code == 409 and "succeeded" in late.json()["error"]
    assert owner.api("GET", f"/api/v1/tasks/{succeeded['id']}").json()["status"] == "succeeded"


# -- schemas, validation, OpenAPI, health --------------------------------------------------------


def test_the_spec_schema_is_a_json_schema_that_accepts_good_specs_only(main, pages):
    import jsonschema

    answer = requests.get(main.url + "/api/v1/spec/schema", timeout=30)
    assert answer.status_code == 200
    schema = answer.json()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    assert validator(schema).is_valid(shot_spec(pages))
    assert not validator(schema).is_valid(_spec(steps=[{"action": "clik", "selector": "a"}]))
    assert not validator(schema).is_valid(_spec(stepz=[]))


def test_validate_checks_a_spec_without_running_it(main, alice, pages, rclient):
    mark, before = last_event_id(rclient), task_count(main)
    good = alice.api("POST", "/api/v1/spec/validate", json=shot_spec(pages))
    assert good.status_code == 200 and good.json() == {"valid": True, "errors": []}
    bad = alice.api("POST", "/api/v1/spec/validate", json=_spec(steps=[
        {"action": "goto", "url": "http://127.0.0.1:9/"}, {"action": "click", "selectr": "a"}]))
    assert bad.status_code == 200 and bad.json()["valid"] is False
    assert {"loc": "steps[1] (click)", "message": "'selector' is required"} in bad.json()["errors"]
    assert any(e["loc"] == "steps[1] (click)" and "unknown field 'selectr'" in e["message"]
               for e in bad.json()["errors"])
    # a JSON string holding a spec is not a spec (POST /tasks refuses it too)
    text = alice.api("POST", "/api/v1/spec/validate", json=json.dumps(shot_spec(pages)))
    assert text.json()["valid"] is False and "JSON object" in text.json()["errors"][0]["message"]
    assert alice.api("POST", "/api/v1/spec/validate", data="{", headers={
        "Content-Type": "application/json"}).status_code == 400
    anonymous = requests.post(main.url + "/api/v1/spec/validate", json=shot_spec(pages), timeout=30)
    assert anonymous.status_code == 401
    assert task_count(main) == before and queued_since(rclient, mark) == []


def test_the_openapi_document_is_valid_and_lists_every_api_route(main):
    from openapi_spec_validator import validate

    from main_app import create_app
    from main_app.settings import Settings

    answer = requests.get(main.url + "/api/v1/openapi.json", timeout=30)
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    validate(document)

    app = create_app({"PILOTHOUSE": Settings(
        secret_key="x", database_url=database_url(main.database_url), redis_url="redis://127.0.0.1:1/0",
        queue="automation", worker_service_url="http://127.0.0.1:1", worker_api_token="",
        artifacts_dir=main.workdir / "unused-artifacts")})
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)  # <int:token_id> -> {token_id}
            missing += [f"{method} {path}" for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
                        if method.lower() not in document["paths"].get(path, {})]
    assert missing == [], f"routes missing from openapi.json: {missing}"


def test_health_checks_the_database_and_redis(main):
    answer = requests.get(main.url + "/health", timeout=30)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["service"] == "main"
    assert body["database"] == "ok" and body["redis"] == "ok"
