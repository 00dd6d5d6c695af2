"""The worker API on the running stack: authentication, health, bad input, direct runs, cancel,
metrics."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.xvfb import wait_until
from tests.worker_service.helpers import (
    colour_spec,
    events,
    final_events,
    gated_spec,
    new_task_id,
    states,
    wait_final,
    wait_state,
)
from worker.spec.channels import events_stream, result_key, slot_key

pytestmark = pytest.mark.slow

PROTECTED = [("GET", "/api/sessions"), ("GET", "/metrics"), ("POST", "/api/automation"),
             ("POST", "/api/sessions/some-task/cancel"), ("POST", "/api/sessions/some-task/control"),
             ("DELETE", "/api/sessions/some-task/control"), ("GET", "/api/artifacts/some-task/shot.png")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_everything_but_health_needs_the_bearer_token(stack, method, path):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": stack.token},
                    {"Authorization": f"Basic {stack.token}"}):
        response = stack.api(method, path, token=None, headers=headers, json={})
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "token" in response.json()["error"]


def test_health_needs_no_token_and_lists_the_parts(stack):
    response = stack.api("GET", "/health", token=None)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["worker_id"] == stack.worker_id and body["redis"] == "ok"
    assert "failing" not in body
    assert [(s["index"], s["display"], s["display_state"], s["browser"]) for s in body["slots"]] == [
        (i, stack.display(i), "ok", "up") for i in range(stack.concurrency)]


def _queue_length(rclient) -> int:
    return rclient.llen("automation")


VALID = {"version": 1, "start_url": "http://127.0.0.1:1/"}


@pytest.mark.parametrize(("body", "headers", "status", "says"), [
    ("spec=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type: application/json"),
    (json.dumps({"spec": VALID}), {"Content-Type": "text/plain"}, 415, "JSON"),
    ('{"spec": {"version": 1,', {"Content-Type": "application/json"}, 400, "not a JSON object"),
    ("[1, 2]", {"Content-Type": "application/json"}, 400, "not a JSON object"),
    (json.dumps({"spec": VALID, "priority": 5}), None, 400, "priority"),
    (json.dumps({"owner": "bob"}), None, 400, "'spec' is required"),
    (json.dumps({"spec": VALID, "task_id": "../etc"}), None, 400, "task_id"),
], ids=["form", "text-plain", "malformed", "array", "unknown-field", "no-spec", "bad-task-id"])
def test_bad_requests_are_refused_and_change_nothing(stack, rclient, body, headers, status, says):
    before = _queue_length(rclient)
    response = stack.api("POST", "/api/automation", data=body,
                         headers=headers or {"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert _queue_length(rclient) == before


@pytest.mark.parametrize(("step", "where", "says"), [
    ({"action": "click"}, "steps[1] (click)", "'selector' is required"),
    ({"action": "click", "selector": "a", "selecter": "b"}, "steps[1] (click)", "unknown field 'selecter'"),
    ({"action": "clik", "selector": "a"}, "steps[1] (clik)", "unknown action 'clik' (did you mean 'click'?)"),
    ({"action": "goto", "url": "file:///etc/passwd"}, "steps[1] (goto)", "scheme 'file:'"),
], ids=["missing", "unknown-field", "unknown-action", "file-url"])
def test_an_invalid_spec_gets_422_naming_the_step_and_the_field(stack, rclient, step, where, says):
    task_id = new_task_id()
    spec = {"version": 1, "steps": [{"action": "goto", "url": "http://127.0.0.1:1/"}, step]}
    before = _queue_length(rclient)
    response = stack.api("POST", "/api/automation", json={"spec": spec, "task_id": task_id})
    assert response.status_code == 422, response.text
    body = response.json()
    assert where in body["error"] and says in body["error"]
    assert any(e["loc"] == where and says in e["message"] for e in body["errors"]), body["errors"]
    assert not rclient.exists(events_stream(task_id)) and _queue_length(rclient) == before


def test_a_body_over_one_megabyte_gets_413(stack, rclient):
    task_id = new_task_id()
    spec = {"version": 1, "start_url": "http://127.0.0.1:1/", "name": "x",
            "steps": [{"action": "evaluate", "script": "1", "description": "y" * 400}] * 3000}
    body = json.dumps({"spec": spec, "task_id": task_id})
    assert len(body) > 1024 * 1024
    response = stack.api("POST", "/api/automation", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert "error" in response.json()
    assert not rclient.exists(events_stream(task_id))


def test_wait_must_be_seconds(stack):
    for wait in ("soon", "-1", "121"):
        response = stack.api("POST", f"/api/automation?wait={wait}", json={"spec": VALID})
        assert response.status_code == 400 and "wait=" in response.json()["error"], response.text


def test_a_direct_run_with_wait_returns_the_result(stack, rclient, pages):
    task_id = new_task_id()
    spec = {"version": 1, "start_url": pages.url("/colour?c=228b22&title=Direct"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"}]}
    response = stack.api("POST", "/api/automation?wait=30",
                         json={"spec": spec, "owner": "bob", "task_id": task_id})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["task_id"], result["status"]) == (task_id, "succeeded")
    assert result["extracted"] == {"heading": "Direct"}
    assert states(events(rclient, task_id)) == ["queued", "running", "succeeded"]

    without_wait = stack.api("POST", "/api/automation", json={"spec": spec})
    assert without_wait.status_code == 202 and without_wait.json()["status"] == "queued"
    assert wait_final(rclient, without_wait.json()["task_id"])[-1]["state"] == "succeeded"


def test_cancel_stops_a_running_task_and_frees_its_slot(stack, rclient, pages):
    response = stack.api("POST", "/api/automation", json={"spec": colour_spec(pages, "ff4500", hold_s=60)})
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    running = wait_state(rclient, task_id, "running")
    slot = running["slot"]
    wait_until(lambda: any(e["type"] == "step_started" and e["index"] == 0 for e in events(rclient, task_id)),
               15, "the holding step to start")

    asked = time.monotonic()
    cancel = stack.api("POST", f"/api/sessions/{task_id}/cancel")
    assert cancel.status_code == 202 and cancel.json() == {"task_id": task_id, "cancel": "requested"}
    evs = wait_final(rclient, task_id, timeout=5)
    took = time.monotonic() - asked
    assert took < 2, f"cancel took {took:.2f} s"
    (final,) = final_events(evs)
    assert final["state"] == "cancelled" and final["result"]["error_kind"] == "cancelled"
    assert final["result"]["steps"][-1]["status"] == "cancelled"
    wait_until(lambda: rclient.hget(slot_key(stack.worker_id, slot), "task_id") == "", 5,
               "the slot to be free")

    # Both slots run again: two held tasks are running at once.
    gates = [new_task_id(), new_task_id()]
    ids = [stack.api("POST", "/api/automation", json={"spec": gated_spec(pages, g)}).json()["task_id"]
           for g in gates]
    wait_until(lambda: all(pages.arrivals(g) for g in gates), 30, "both tasks to run at once")
    assert sorted(wait_state(rclient, i, "running")["slot"] for i in ids) == [0, 1]
    for gate in gates:
        pages.open(gate)
    assert [wait_final(rclient, i)[-1]["state"] for i in ids] == ["succeeded", "succeeded"]

    again = stack.api("POST", f"/api/sessions/{task_id}/cancel")
    assert again.status_code == 409 and "already finished" in again.json()["error"]
    finished = stack.api("POST", f"/api/sessions/{ids[0]}/cancel")
    assert finished.status_code == 409
    assert rclient.exists(result_key(ids[0]))
    assert final_events(events(rclient, ids[0]))[0]["state"] == "succeeded"  # unchanged


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_tasks_and_expose_slots(stack, pages):
    before = _samples(stack.api("GET", "/metrics").text)
    spec = {"version": 1, "start_url": pages.url("/colour?c=000080&title=Metrics")}
    assert stack.api("POST", "/api/automation?wait=30", json={"spec": spec}).json()["status"] == "succeeded"

    response = stack.api("GET", "/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    after = _samples(response.text)
    succeeded = ("pilothouse_tasks_total", (("outcome", "succeeded"),))
    assert after[succeeded] == before.get(succeeded, 0) + 1
    assert after[("pilothouse_slots", ())] == stack.concurrency
    assert after[("pilothouse_slots_busy", ())] == 0
    assert after[("pilothouse_viewers", ())] == 0
    count = ("pilothouse_task_duration_seconds_count", ())
    assert after[count] == before.get(count, 0) + 1
    assert after[("pilothouse_step_duration_seconds_count", (("action", "goto"),))] >= 1
    assert ("pilothouse_queue_wait_seconds_count", ()) in after


def test_control_of_a_task_that_is_not_running_or_asked_for_badly_is_refused(stack, rclient, pages):
    assert stack.api("POST", "/api/sessions/no-such-task/control", json={"by": "alice"}).status_code == 404
    gate = new_task_id()
    response = stack.api("POST", "/api/automation", json={"spec": gated_spec(pages, gate), "owner": "alice"})
    task_id = response.json()["task_id"]
    try:
        wait_state(rclient, task_id, "running")
        for body in ({}, {"by": ""}, {"by": 5}, {"by": "x" * 201}):
            refused = stack.api("POST", f"/api/sessions/{task_id}/control", json=body)
            assert refused.status_code == 400 and "'by' is required" in refused.json()["error"], body
        assert stack.api("DELETE", f"/api/sessions/{task_id}/control").json()["released"] is False
        assert not any(e["type"] == "control" for e in events(rclient, task_id))
    finally:
        pages.open(gate)
    wait_final(rclient, task_id)


def test_a_tasks_artifacts_are_served_to_the_main_app(stack, pages):
    spec = {"version": 1, "start_url": pages.url("/colour?c=8b0000&title=Shot"),
            "steps": [{"action": "screenshot", "name": "shot"}]}
    result = stack.api("POST", "/api/automation?wait=60", json={"spec": spec}).json()
    (shot,) = result["artifacts"]
    task_id, filename = shot["key"].split("/")
    served = stack.api("GET", f"/api/artifacts/{task_id}/{filename}")
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/png"
    assert served.content.startswith(b"\x89PNG") and len(served.content) == shot["size_bytes"]
    for path in (f"/api/artifacts/{task_id}/nope.png", f"/api/artifacts/{task_id}/..%2F..%2Fetc%2Fpasswd",
                 f"/api/artifacts/..%2F{task_id}/{filename}", f"/api/artifacts/{task_id}/.hidden"):
        assert stack.api("GET", path).status_code == 404, path
