"""The main app's side of the contract, against the whole worker service: a task sent by name
from a plain Celery client runs, streams every state and step, stores its result and
artifacts, and leaves no live session or VNC token behind."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fixtures.xvfb import wait_until
from tests.worker_service.helpers import (
    events,
    final_events,
    gate_step,
    new_task_id,
    send,
    states,
    wait_final,
)
from worker.spec.channels import (
    attempts_key,
    result_key,
    run_lock_key,
    session_key,
    slot_key,
    vnc_token_key,
    worker_sessions_key,
)

pytestmark = pytest.mark.slow


def test_task_sent_by_name_runs_streams_and_cleans_up(stack, rclient, celery_client, pages):
    task_id, gate = new_task_id(), new_task_id()
    spec = {"version": 1, "name": "contract", "timeout_s": 60,
            "start_url": pages.url("/colour?c=ffd700&title=Contract"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"},
                      gate_step(gate),
                      {"action": "screenshot", "name": "shot"},
                      {"action": "assert", "title": "Contract"}]}
    async_result = send(celery_client, spec, task_id=task_id, owner="alice")
    assert async_result.id == task_id

    # While it runs (held at the gate): a session record and a VNC token for its slot.
    wait_until(lambda: pages.arrivals(gate), 30, "the task to reach its gate")
    session = rclient.hgetall(session_key(task_id))
    slot = int(session["slot"])
    assert session["owner"] == "alice" and session["worker_id"] == stack.worker_id
    assert session["display"] == stack.display(slot)
    assert int(session["novnc_port"]) == stack.novnc_port
    assert rclient.get(vnc_token_key(session["token"])) == f"127.0.0.1:{stack.vnc_base + slot}"
    assert task_id in rclient.smembers(worker_sessions_key(stack.worker_id))
    assert rclient.hget(slot_key(stack.worker_id, slot), "task_id") == task_id
    pages.open(gate)

    result = async_result.get(timeout=30)
    evs = wait_final(rclient, task_id)

    assert states(evs) == ["running", "succeeded"]
    running = evs[0]
    assert (running["attempt"], running["worker_id"], running["slot"]) == (1, stack.worker_id, slot)
    steps = [(e["type"], e["index"], e["action"]) for e in evs if e["type"].startswith("step_")]
    expected = [(None, "goto"), (0, "extract"), (1, "evaluate"), (2, "screenshot"), (3, "assert")]
    assert steps == [(kind, i, a) for i, a in expected for kind in ("step_started", "step_finished")]
    assert all(e["status"] == "succeeded" for e in evs if e["type"] == "step_finished")
    timestamps = [e["ts"] for e in evs]
    assert timestamps == sorted(timestamps)

    assert result["status"] == "succeeded", result
    assert final_events(evs)[0]["result"] == result
    assert async_result.state == "SUCCESS"
    assert result["extracted"] == {"heading": "Contract", f"gate_{gate}"[:64]: "open"}
    assert result["title"] == "Contract" and result["final_url"].startswith(pages.url("/colour"))

    (shot,) = result["artifacts"]
    assert (shot["name"], shot["kind"], shot["key"], shot["step_index"]) == ("shot", "screenshot",
                                                                             f"{task_id}/shot.png", 2)
    data = (stack.artifacts / shot["key"]).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) == shot["size_bytes"]
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (1280, 720)
    assert image.getpixel((640, 500)) == (0xFF, 0xD7, 0x00)

    # The session, its token and the run lock are gone; the result is kept for redeliveries.
    assert not rclient.exists(session_key(task_id), vnc_token_key(session["token"]), run_lock_key(task_id))
    assert task_id not in rclient.smembers(worker_sessions_key(stack.worker_id))
    assert rclient.hget(slot_key(stack.worker_id, slot), "task_id") == ""
    assert rclient.get(attempts_key(task_id)) == "1"
    assert rclient.exists(result_key(task_id))


def test_a_message_delivered_again_after_the_task_finished_returns_the_stored_result(
        stack, rclient, celery_client, pages):
    task_id = new_task_id()
    spec = {"version": 1, "start_url": pages.url("/colour?c=8a2be2&title=Once"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"}]}
    first = send(celery_client, spec, task_id=task_id).get(timeout=30)
    assert first["status"] == "succeeded"
    count = len(events(rclient, task_id))

    again = send(celery_client, spec, task_id=task_id).get(timeout=30)  # e.g. a lost ack

    assert again == first
    evs = events(rclient, task_id)
    assert len(evs) == count and len(final_events(evs)) == 1
    assert rclient.get(attempts_key(task_id)) == "1"


def test_a_task_the_browser_cannot_start_still_ends_exactly_once(stack, rclient, celery_client, pages):
    """The engine fails before the first step (here Chromium refuses the timezone while making
    the task's context): the task must still end with one final state and a stored result,
    never with an exception in place of the result and a stream stuck at 'running'."""
    spec = {"version": 1, "timezone": "Nowhere/Atlantis", "start_url": pages.url("/colour?c=7fff00")}
    async_result = send(celery_client, spec)
    evs = wait_final(rclient, async_result.id, timeout=20)
    (final,) = final_events(evs)
    assert final["state"] == "failed" and "Nowhere/Atlantis" in final["result"]["error"], final
    assert async_result.get(timeout=10, propagate=False) == final["result"]
    assert rclient.exists(result_key(async_result.id)) and not rclient.exists(session_key(async_result.id))

    response = stack.api("POST", "/api/automation?wait=20", json={"spec": spec})
    assert response.status_code in (200, 422), response.text  # 422 once the spec checks time zones
    assert response.json()["status" if response.status_code == 200 else "error"]
