"""Faults on the running stack: a pool process killed mid-task, a display killed, Redis
restarted, supervisord stopped during tasks. Every task ends exactly once; the stack heals."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.fixtures.xvfb import wait_until
from tests.worker_service.conftest import start_stack, stop_stack
from tests.worker_service.helpers import (
    events,
    final_events,
    gated_spec,
    new_task_id,
    send,
    states,
    wait_final,
    wait_state,
)
from worker.api.health import display_answers
from worker.service.runtime import HEARTBEAT_S
from worker.spec.channels import attempts_key, run_lock_key, slot_key

pytestmark = pytest.mark.slow


def _slot_of(rclient, stack, task_id: str) -> tuple[int, dict[str, str]]:
    for index in range(stack.concurrency):
        state = rclient.hgetall(slot_key(stack.worker_id, index))
        if state.get("task_id") == task_id:
            return index, state
    return -1, {}


def test_a_pool_process_killed_mid_task_is_redelivered_and_completes_once(stack, rclient, celery_client,
                                                                           pages):
    gate = new_task_id()
    async_result = send(celery_client, gated_spec(pages, gate))
    task_id = async_result.id
    wait_until(lambda: pages.arrivals(gate), 30, "the task to reach its gate")
    index, state = wait_until(lambda: (found := _slot_of(rclient, stack, task_id))[0] >= 0 and found, 10,
                              "the slot running the task")
    pool_pid, browser_pid = int(state["pid"]), int(state["browser_pid"])
    assert psutil.Process(pool_pid).cmdline()[1].endswith("celery")

    os.kill(pool_pid, signal.SIGKILL)
    pages.open(gate)  # the next attempt passes the gate at once

    result = async_result.get(timeout=60)
    evs = wait_final(rclient, task_id)
    assert result["status"] == "succeeded", result
    assert len(final_events(evs)) == 1 and final_events(evs)[0]["result"] == result
    assert states(evs)[:2] == ["running", "retrying"] and states(evs)[-2:] == ["running", "succeeded"]
    running = [e for e in evs if e["type"] == "state" and e["state"] == "running"]
    assert [e["attempt"] for e in running] == [1, 2]
    assert int(rclient.get(attempts_key(task_id))) == 2
    assert not rclient.exists(run_lock_key(task_id))
    # The killed process's browser does not outlive it.
    wait_until(lambda: not psutil.pid_exists(browser_pid)
               or psutil.Process(browser_pid).status() == psutil.STATUS_ZOMBIE, 15,
               f"the killed slot's Chromium {browser_pid} to exit")
    stack.wait_healthy(30)


def _kill_display(stack, slot: int) -> tuple[str, dict]:
    """SIGKILL the slot's Xvfb; return its display and the 503 /health that names it.

    supervisord restarts Xvfb within milliseconds, too fast to be sure to see the 503: it is
    held (SIGSTOP) while the display is down, and let go (SIGCONT) to restart it."""
    display, pid = stack.display(slot), stack.xvfb_pid(slot)
    assert pid and psutil.Process(pid).name() == "Xvfb"

    def names_display():
        status, body = stack.health()
        return status == 503 and display in " ".join(body["failing"]) and body

    os.kill(stack.proc.pid, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)
        body = wait_until(names_display, 10, f"/health 503 naming {display}")
    finally:
        os.kill(stack.proc.pid, signal.SIGCONT)
    wait_until(lambda: stack.xvfb_pid(slot) not in (None, pid) and display_answers(display), 20,
               f"supervisord to restart the Xvfb of {display}")
    return display, body


def _run_on_every_slot(stack, celery_client, pages) -> list[dict]:
    """Run one task on each slot at once (each held until all run); return their results."""
    gates = [new_task_id() for _ in range(stack.concurrency)]
    results = [send(celery_client, gated_spec(pages, g)) for g in gates]
    wait_until(lambda: all(pages.arrivals(g) for g in gates), 30, "every slot to run a task")
    for gate in gates:
        pages.open(gate)
    return [r.get(timeout=30) for r in results]


def test_a_killed_display_is_restarted_and_its_slot_works_again(stack, rclient, celery_client, pages):
    display, body = _kill_display(stack, 0)
    slot = next(s for s in body["slots"] if s["display"] == display)
    assert slot["display_state"] == "down" and body["status"] == "unavailable"

    results = _run_on_every_slot(stack, celery_client, pages)
    assert [r["status"] for r in results] == ["succeeded"] * stack.concurrency, results
    displays = {wait_state(rclient, r["task_id"], "running")["display"] for r in results}
    assert display in displays
    stack.wait_healthy(10)


def test_health_recovers_after_a_display_restart_without_waiting_for_a_task(stack, rclient):
    restarts = int(rclient.hget(slot_key(stack.worker_id, 0), "browser_restarts"))
    _kill_display(stack, 0)
    back = time.time()

    def recovered():
        state = rclient.hgetall(slot_key(stack.worker_id, 0))
        fresh = state and float(state["updated_at"]) > back and state["browser"] == "up"
        return fresh and int(state["browser_restarts"]) > restarts and stack.health()[0] == 200

    # the idle slot's heartbeat relaunches the browser that died with the display
    wait_until(recovered, 2 * HEARTBEAT_S + 5, "/health 200 with the idle slot's browser relaunched")


def test_the_worker_reconnects_after_redis_restarts(stack, redis_server, celery_client, pages):
    redis_server.stop()
    body = wait_until(lambda: (h := stack.health())[0] == 503 and h[1], 10, "/health 503")
    assert "redis" in body["failing"] and body["redis"].startswith("unreachable"), body

    redis_server.start()  # same port, empty
    spec = {"version": 1, "start_url": pages.url("/colour?c=7fff00&title=Again"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"}]}
    # The main app sends at once, while the worker may still be reconnecting: the task waits.
    early = send(celery_client, spec)
    assert early.get(timeout=30)["status"] == "succeeded"
    stack.wait_healthy(30)
    response = stack.api("POST", "/api/automation?wait=30", json={"spec": spec})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded" and response.json()["extracted"] == {"heading": "Again"}


def test_sigterm_lets_running_tasks_finish_or_hands_them_back(redis_server, pages, tmp_path):
    """Two tasks run when supervisord gets SIGTERM (a redeploy): one finishes while the worker
    drains, the other outlasts the draining time and goes back to the queue; a new worker
    completes it. Each ends exactly once; the stopped stack leaves no process behind."""
    from celery import Celery

    db = 1  # a queue of its own: the session's stack must not take these tasks
    client = redis_server.client(db)
    celery = Celery(broker=redis_server.url(db), backend=redis_server.url(db))
    first = start_stack(redis_server.url(db), tmp_path / "first", draining_seconds=8)
    second = None
    try:
        quick_gate, slow_gate = new_task_id(), new_task_id()
        quick = send(celery, gated_spec(pages, quick_gate))
        slow = send(celery, gated_spec(pages, slow_gate))
        wait_until(lambda: pages.arrivals(quick_gate) and pages.arrivals(slow_gate), 30, "both tasks to run")

        mark = len(first.log_text())
        first.proc.send_signal(signal.SIGTERM)
        first.wait_for_log("Initiating Soft Shutdown", 15, after=mark)
        pages.open(quick_gate)  # finishes within the draining time
        assert quick.get(timeout=10)["status"] == "succeeded"

        leftovers = stop_stack(first)
        assert not leftovers, f"supervisord's SIGTERM left processes running: {leftovers}"
        assert not final_events(events(client, slow.id)), "the slow task must not have ended"

        pages.open(slow_gate)
        second = start_stack(redis_server.url(db), tmp_path / "second")
        result = slow.get(timeout=60)
        assert result["status"] == "succeeded", result
        slow_events = wait_final(client, slow.id)
        assert len(final_events(slow_events)) == 1
        assert "retrying" in states(slow_events)
        assert int(client.get(attempts_key(slow.id))) == 2
        running = [e for e in slow_events if e["type"] == "state" and e["state"] == "running"]
        assert [e["worker_id"] for e in running] == [first.worker_id, second.worker_id]

        quick_events = events(client, quick.id)
        assert states(quick_events) == ["running", "succeeded"]
        assert client.get(attempts_key(quick.id)) == "1"
    finally:
        for stack in (first, second):
            if stack is not None:
                stop_stack(stack)
        celery.close()
        client.flushdb()
        client.close()
