"""Live view through the real noVNC client (Debian's noVNC in a separate headless Chromium):
a task's token shows that task's display, and nothing else; other tokens are refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures.xvfb import wait_until
from tests.worker_service.helpers import (
    colour_spec,
    events,
    final_events,
    gate_step,
    new_task_id,
    send,
    wait_final,
    wait_session,
    websocket_open,
)
from worker.spec.channels import vnc_token_key

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/lib/chromium/chromium"
# Points of the remote screen (1280x720) inside the task page, below the browser's toolbar.
POINTS = [(200, 300), (640, 450), (1100, 650), (60, 700)]
READ_PIXELS = """(points) => {
    const canvas = document.querySelector('#noVNC_container canvas') || document.querySelector('canvas');
    if (!canvas || !canvas.width) return null;
    const ctx = canvas.getContext('2d');
    return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
}"""


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))


def close_to(pixel, colour, tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


class Viewer:
    """One noVNC page; ``closed`` says whether its websocket was closed (as far as the events
    Playwright delivered so far tell: ``disconnected()`` asks the page first)."""

    def __init__(self, page: Page, url: str):
        self.page, self.sockets, self.closed = page, 0, False
        page.on("websocket", self._on_socket)
        page.goto(url)

    def _on_socket(self, ws) -> None:
        self.sockets += 1
        ws.on("close", lambda _ws: setattr(self, "closed", True))

    def pixels(self) -> list[list[int]] | None:
        return self.page.evaluate(READ_PIXELS, POINTS)

    def shows(self, colour: str) -> bool:
        pixels = self.pixels()
        return bool(pixels) and all(close_to(p, rgb(colour)) for p in pixels)

    def status(self) -> tuple[str, str]:
        return self.page.evaluate("() => { const s = document.getElementById('noVNC_status');"
                                  " return [s.textContent, s.className]; }")

    def disconnected(self) -> bool:
        """Whether the websocket was closed; the round trip lets Playwright deliver its events."""
        self.page.evaluate("0")
        return self.closed

    def refused(self) -> bool:
        """noVNC says it could not connect and its websocket is closed."""
        text, classes = self.status()
        return self.closed and "noVNC_status_error" in classes and "Failed to connect" in text


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def open_viewer(browser: Browser, stack):
    """``open_viewer(token)``: noVNC's vnc.html connecting with ``token``, as the live-view page does."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})

    def opener(token: str) -> Viewer:
        url = f"{stack.novnc_url}/vnc.html?autoconnect=1&path=websockify%3Ftoken%3D{token}"
        return Viewer(context.new_page(), url)

    yield opener
    context.close()


def _start_holding(celery_client, rclient, pages, colour: str, **kwargs) -> tuple[str, dict[str, str]]:
    """Run a task that shows ``colour`` and holds it; return its id and live session."""
    task_id = send(celery_client, colour_spec(pages, colour, **kwargs)).id
    session = wait_session(rclient, task_id)
    wait_until(lambda: any(e["type"] == "step_finished" and e["index"] is None
                           for e in events(rclient, task_id)), 20, "the colour page to load")
    return task_id, session


def _viewers_of(stack, task_id: str) -> int | None:
    sessions = stack.api("GET", "/api/sessions").json()["sessions"]
    return next((s["viewers"] for s in sessions if s["task_id"] == task_id), None)


def _cancel(stack, rclient, *task_ids: str) -> None:
    for task_id in task_ids:
        stack.api("POST", f"/api/sessions/{task_id}/cancel")
    for task_id in task_ids:
        wait_final(rclient, task_id, timeout=10)


def test_novnc_shows_the_running_task_and_counts_its_viewer(stack, rclient, celery_client, pages,
                                                            open_viewer):
    colour = "1e90ff"
    task_id, session = _start_holding(celery_client, rclient, pages, colour)
    try:
        viewer = open_viewer(session["token"])
        wait_until(lambda: viewer.shows(colour), 15, f"noVNC to show #{colour}")
        assert "Connected" in viewer.status()[0]

        wait_until(lambda: _viewers_of(stack, task_id) == 1, 5, "one viewer in /api/sessions")
        sessions = stack.api("GET", "/api/sessions").json()["sessions"]
        listed = next(s for s in sessions if s["task_id"] == task_id)
        assert "token" not in listed and listed["display"] == session["display"]
        assert "pilothouse_viewers 1.0" in stack.api("GET", "/metrics").text

        viewer.page.close()
        wait_until(lambda: _viewers_of(stack, task_id) == 0, 10, "no viewer once the page is closed")
    finally:
        _cancel(stack, rclient, task_id)
    assert websocket_open(stack.novnc_port, session["token"]) == b"", "the token must die with the task"


def test_wrong_missing_and_expired_tokens_are_refused(stack, rclient, celery_client, pages, open_viewer):
    task_id, session = _start_holding(celery_client, rclient, pages, "32cd32")
    try:
        assert b"RFB 003" in websocket_open(stack.novnc_port, session["token"])  # the real one works
        wrong = f"wrong-{new_task_id()}"
        assert websocket_open(stack.novnc_port, wrong) == b""
        assert websocket_open(stack.novnc_port, None) == b""
        assert websocket_open(stack.novnc_port, "") == b""

        viewer = open_viewer(wrong)
        wait_until(viewer.refused, 10, "noVNC to report that it could not connect")
        assert viewer.pixels() is None  # nothing was drawn
        stack.wait_for_log(f"Token '{wrong}' not found", 5)

        rclient.pexpire(vnc_token_key(session["token"]), 1)  # the token's time to live runs out
        wait_until(lambda: not rclient.exists(vnc_token_key(session["token"])), 5, "the token to expire")
        assert websocket_open(stack.novnc_port, session["token"]) == b""
        expired = open_viewer(session["token"])
        wait_until(expired.refused, 10, "noVNC to refuse the expired token")
        assert expired.pixels() is None
    finally:
        _cancel(stack, rclient, task_id)


def test_each_slot_token_shows_its_own_task_only(stack, rclient, celery_client, pages, open_viewer):
    colours = ("ff8c00", "9400d3")
    (a, session_a), (b, session_b) = (_start_holding(celery_client, rclient, pages, c) for c in colours)
    try:
        assert {session_a["slot"], session_b["slot"]} == {"0", "1"}
        viewer_a, viewer_b = open_viewer(session_a["token"]), open_viewer(session_b["token"])

        def both_right() -> bool:
            assert not viewer_a.shows(colours[1]), "slot A's viewer shows task B"
            assert not viewer_b.shows(colours[0]), "slot B's viewer shows task A"
            return viewer_a.shows(colours[0]) and viewer_b.shows(colours[1])

        wait_until(both_right, 15, "each viewer to show its own task's colour")
        wait_until(lambda: (_viewers_of(stack, a), _viewers_of(stack, b)) == (1, 1), 5, "one viewer each")
    finally:
        _cancel(stack, rclient, a, b)


def test_a_viewer_is_disconnected_when_its_task_ends(stack, rclient, celery_client, pages, open_viewer):
    first, session = _start_holding(celery_client, rclient, pages, "ff1493")
    viewer = open_viewer(session["token"])
    wait_until(lambda: viewer.shows("ff1493"), 15, "noVNC to show the first task")
    _cancel(stack, rclient, first)

    others = [_start_holding(celery_client, rclient, pages, "00ced1")[0] for _ in range(2)]  # both slots
    try:
        seen = wait_until(lambda: (viewer.closed and "closed") or (viewer.shows("00ced1") and "next task"),
                          15, "the viewer to be disconnected (or to show the next task)")
        assert seen == "closed", "a viewer of an ended task watches the next task on its slot"
    finally:
        _cancel(stack, rclient, *others)


def _click_and_type(viewer: Viewer) -> None:
    box = viewer.page.locator("#noVNC_container canvas").bounding_box()
    viewer.page.mouse.click(box["x"] + 640, box["y"] + 450)
    viewer.page.keyboard.press("a")


def test_viewers_are_view_only_until_the_owner_takes_control(stack, rclient, celery_client, pages,
                                                              open_viewer):
    beacon, gate, last_gate = new_task_id(), new_task_id(), new_task_id()
    pages.gate(gate), pages.gate(last_gate)
    spec = colour_spec(pages, "ffd700", beacon=beacon)
    spec["steps"] = [gate_step(gate), {"action": "extract", "name": "heading", "selector": "#heading"},
                     gate_step(last_gate)]
    task_id = send(celery_client, spec).id
    session = wait_session(rclient, task_id)
    try:
        wait_until(lambda: pages.arrivals(gate), 20, "the task to reach its gate")
        watcher = open_viewer(session["token"])
        wait_until(lambda: watcher.shows("ffd700"), 15, "noVNC to show the task")
        _click_and_type(watcher)
        with pytest.raises(TimeoutError):  # the page calls its beacon on a click or a key press
            wait_until(lambda: pages.arrivals(beacon), 3, "the task page to get a viewer's input")

        taken = stack.api("POST", f"/api/sessions/{task_id}/control", json={"by": "alice"})
        assert taken.status_code == 200, taken.text
        control_token = taken.json()["control_token"]
        assert control_token != session["token"]
        refused = stack.api("POST", f"/api/sessions/{task_id}/control", json={"by": "mallory"})
        assert refused.status_code == 409 and "alice has control" in refused.json()["error"]

        driver = open_viewer(control_token)
        wait_until(lambda: driver.shows("ffd700"), 15, "the control viewer to show the task")
        _click_and_type(driver)
        wait_until(lambda: pages.arrivals(beacon), 10, "the owner's click or key to reach the page")

        pages.open(gate)  # the step in flight ends; the next one must wait for the human
        wait_until(lambda: any(e["type"] == "paused" for e in events(rclient, task_id)), 10,
                   "the task to pause before its next step")
        assert not any(e["type"] == "step_started" and e["index"] == 1 for e in events(rclient, task_id))

        released = stack.api("DELETE", f"/api/sessions/{task_id}/control")
        assert released.json() == {"task_id": task_id, "released": True, "by": "alice"}
        wait_until(lambda: pages.arrivals(last_gate), 10, "the task to go on once control is handed back")
        wait_until(driver.disconnected, 10, "the control viewer to be dropped when control ends")
        assert not final_events(events(rclient, task_id)) and not watcher.disconnected()
        pages.open(last_gate)
        evs = wait_final(rclient, task_id, timeout=20)
        assert final_events(evs)[0]["state"] == "succeeded"
        assert [(e["state"], e["by"]) for e in evs if e["type"] == "control"] == [
            ("taken", "alice"), ("released", "alice")]
        kinds = [e["type"] for e in evs]
        assert kinds.index("paused") < kinds.index("resumed") < max(
            i for i, e in enumerate(evs) if e["type"] == "step_started" and e["index"] == 1)
        wait_until(watcher.disconnected, 10, "the view-only viewer to be dropped when the task ends")
    finally:
        pages.open(gate), pages.open(last_gate)
        stack.api("DELETE", f"/api/sessions/{task_id}/control")
        wait_final(rclient, task_id, timeout=20)
