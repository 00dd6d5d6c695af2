"""Timeouts, cancellation, isolation between tasks, crash recovery and headed mode."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import psutil
import pytest
from PIL import ImageGrab

from tests.fixtures.xvfb import wait_until
from worker.engine import Slot
from worker.engine.browser import browser_processes

pytestmark = pytest.mark.timeout(120)
NEVER = {"action": "wait_for", "selector": "#never-appears", "timeout_s": 60}


def task(start: str, *steps: dict, **options) -> dict:
    return {"version": 1, "start_url": start, "steps": list(steps), **options}


def test_step_timeout_fails_the_task_naming_the_step(slot, site):
    t = time.monotonic()
    result = slot.run(task(site.url("/"), {**NEVER, "timeout_s": 0.5}))
    assert time.monotonic() - t < 10
    assert result.status == "failed"
    assert result.error.startswith("steps[0] (wait_for): timed out after 0.5 s waiting for locator(")
    assert "#never-appears" in result.error
    assert result.steps[1].status == "timed_out"


def test_task_timeout_stops_a_long_wait(slot, site):
    result = slot.run(task(site.url("/"), NEVER, {"action": "click", "selector": "h1"}, timeout_s=1))
    assert result.status == "timed_out"
    assert result.error_kind == "timeout"
    assert "timeout of 1 s" in result.error
    assert [s.status for s in result.steps] == ["succeeded", "timed_out", "skipped"]
    assert result.duration_ms < 5000


@pytest.mark.parametrize("during", [NEVER, {"action": "sleep", "seconds": 60, "timeout_s": 120}])
def test_cancel_stops_a_task_mid_wait(slot, site, during):
    started = threading.Event()
    cancel = threading.Event()

    def on_event(event: dict) -> None:
        if event["type"] == "step_started" and event["index"] == 0:
            started.set()

    threading.Thread(target=lambda: started.wait(30) and cancel.set(), daemon=True).start()
    t = time.monotonic()
    result = slot.run(task(site.url("/"), during, {"action": "click", "selector": "h1"}),
                      cancel=cancel.is_set, on_event=on_event)
    assert result.status == "cancelled"
    assert result.error_kind == "cancelled"
    assert [s.status for s in result.steps] == ["succeeded", "cancelled", "skipped"]
    assert time.monotonic() - t < 10
    after = slot.run(task(site.url("/"), {"action": "extract", "name": "h", "selector": "h1"}))
    assert after.extracted == {"h": "Fixture home"}, "the slot is free again after a cancel"


def test_nothing_passes_from_one_task_to_the_next(slot, site):
    first = slot.run(task(
        site.url("/cookie"),
        {"action": "evaluate", "script": "localStorage.setItem('k', 'from-first'); document.cookie='js=1'"},
        {"action": "goto", "url": site.url("/storage.html")},
        {"action": "extract", "name": "local", "selector": "#local"},
        {"action": "extract", "name": "cookies", "selector": "#cookies"},
    ))
    assert first.extracted == {"local": "from-first", "cookies": "visited=yes; js=1"}
    second = slot.run(task(
        site.url("/storage.html"),
        {"action": "extract", "name": "local", "selector": "#local"},
        {"action": "extract", "name": "cookies", "selector": "#cookies"},
        {"action": "goto", "url": site.url("/cookie")},
        {"action": "extract", "name": "sent", "selector": "#cookie"},
    ))
    assert second.extracted == {"local": "empty", "cookies": "none", "sent": "[]"}


def _kill_browser_when_waiting(slot: Slot, result_holder: list, site) -> None:
    def on_event(event: dict) -> None:
        if event["type"] == "step_started" and event["index"] == 0:
            os.kill(slot.browser_pid, signal.SIGKILL)

    result_holder.append(slot.run(task(site.url("/"), NEVER), on_event=on_event))


def test_a_killed_browser_fails_its_task_and_the_next_task_gets_a_new_one(fresh_slot, site):
    old_pid = fresh_slot.browser_pid
    old_profile = fresh_slot._profile
    assert browser_processes(old_profile), "the browser's processes are found by their profile"
    results: list = []
    t = time.monotonic()
    _kill_browser_when_waiting(fresh_slot, results, site)
    crashed = results[0]
    assert time.monotonic() - t < 20
    assert crashed.status == "failed"
    assert crashed.error_kind == "browser_crashed" and crashed.retryable
    assert "browser crashed" in crashed.error
    after = fresh_slot.run(task(site.url("/"), {"action": "extract", "name": "h", "selector": "h1"}))
    assert after.status == "succeeded", after.error
    assert fresh_slot.restarts == 1
    assert fresh_slot.browser_pid not in (None, old_pid)
    wait_until(lambda: not browser_processes(old_profile), 10, "the dead browser's processes to be reaped")
    assert not os.path.exists(old_profile)


def test_close_leaves_no_browser_process_behind(engine_settings, site):
    slot = Slot(engine_settings).start()
    profile, pid = slot._profile, slot.browser_pid
    assert psutil.pid_exists(pid)
    slot.run(task(site.url("/")))
    slot.close()
    wait_until(lambda: not browser_processes(profile), 10, "browser processes to exit")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_headed_on_a_real_display(engine_settings, site, xvfb):
    settings = dataclasses.replace(engine_settings, display=xvfb.display)
    seen_on_display = []

    def look_at_the_display(event: dict) -> None:
        if event["type"] == "step_started" and event["index"] == 1:
            screen = ImageGrab.grab(xdisplay=xvfb.display)
            seen_on_display.append(screen.getpixel((screen.width // 2, screen.height // 2)))

    with Slot(settings) as headed:
        cmd = psutil.Process(headed.browser_pid).cmdline()
        assert not any(arg.startswith("--headless") for arg in cmd), "the browser must draw on the display"
        assert psutil.Process(headed.browser_pid).environ().get("DISPLAY") == xvfb.display
        result = headed.run(task(site.url("/colour.html"),
                                 {"action": "screenshot", "name": "colour"},
                                 {"action": "extract", "name": "h", "selector": "h1"}),
                            on_event=look_at_the_display)
    assert result.status == "succeeded", result.error
    assert result.extracted == {"h": "Colour"}
    red, green, blue = seen_on_display[0][:3]
    assert red > 180 and green < 90 and blue < 70, f"the X display shows {seen_on_display[0]}, not the page"
    png = headed.store.read(result.artifacts[0].key)
    assert png[:4] == b"\x89PNG"


def test_a_paused_task_holds_its_next_step_until_resumed(slot, site):
    """Take control: while ``paused`` is true the next step waits; it runs once released."""
    held, events = threading.Event(), []
    held.set()

    def on_event(event: dict) -> None:
        events.append(event)
        if event["type"] == "paused":  # the human hands back once the task is holding
            held.clear()

    result = slot.run(task(site.url("/"), {"action": "extract", "name": "h", "selector": "h1"}),
                      paused=held.is_set, on_event=on_event)
    assert result.status == "succeeded" and result.extracted == {"h": "Fixture home"}
    kinds = [(e["type"], e.get("index")) for e in events]
    # the start_url navigation waited too: nothing ran before the hand-back
    assert kinds[:2] == [("paused", None), ("resumed", None)]
    assert ("step_started", 0) in kinds


def test_a_paused_task_can_be_cancelled_and_still_times_out(slot, site):
    cancel = threading.Event()

    def on_event(event: dict) -> None:
        if event["type"] == "paused":
            cancel.set()

    spec = task(site.url("/"), {"action": "click", "selector": "h1"})
    result = slot.run(spec, paused=lambda: True, cancel=cancel.is_set, on_event=on_event)
    assert result.status == "cancelled"
    assert [s.status for s in result.steps] == ["skipped", "skipped"]

    result = slot.run({**spec, "timeout_s": 1}, paused=lambda: True)
    assert result.status == "timed_out" and "timeout of 1 s" in result.error
