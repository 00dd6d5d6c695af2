"""The web UI end to end, as a person uses it: a real Chromium (Playwright) against the main app
under gunicorn, the real worker service and Redis.

Sign up, out and in; run a template from the editor (after it flagged a broken spec in place);
watch a task live in the task page's noVNC canvas; follow its timeline to the screenshots;
cancel a task; take control of a held task, click into its page, hand back.

Each test keeps screenshots of what the user saw in ``test-output/ui/`` (repository root).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fixtures.main_app import ROOT, MainAppServer
from tests.fixtures.xvfb import wait_until
from tests.main_app.conftest import SERVERS, make_server
from tests.worker_service.helpers import PageServer, colour_spec, gate_step
from worker.demo_site import serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = "/usr/lib/chromium/chromium"
OUT = ROOT / "test-output" / "ui"
PASSWORD = "correct horse battery"
TASK_URL = re.compile(r"/tasks/[0-9a-f-]{36}$")
WAIT_MS = 60_000  # generous: two cores, other tests running meanwhile
# Points of the worker's 1280x720 display (framebuffer pixels of the noVNC canvas) inside the
# task's page, below the browser's toolbar.
POINTS = [(200, 300), (640, 450), (1100, 650), (60, 700)]
READ_PIXELS = """(points) => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas || !canvas.width) return null;
    const ctx = canvas.getContext('2d');
    return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
}"""


def rgb(hex_colour: str) -> tuple[int, ...]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))


def shows(page: Page, colour: str, tolerance: int = 8) -> bool:
    """The task page's live-view canvas shows ``colour`` at every point of ``POINTS``."""
    pixels = page.evaluate(READ_PIXELS, POINTS)
    want = rgb(colour)
    return bool(pixels) and all(abs(a - b) <= tolerance for p in pixels for a, b in zip(p, want, strict=True))


def snap(page: Page, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- the stack --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_site() -> Iterator:
    site = serve("127.0.0.1", 0)
    yield site
    site.stop()


@pytest.fixture(scope="module")
def main(worker, demo_site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainAppServer]:
    """The main app on SQLite only (overrides the package's SQLite + PostgreSQL ``main``), with
    its templates pointed at the demo site served by this module."""
    server = make_server(worker, tmp_path_factory.mktemp("main-ui"),
                         extra_env={"DEMO_SITE_URL": demo_site.url})
    SERVERS.append(server)
    server.start()
    yield server
    server.stop()
    SERVERS.remove(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def new_context(browser: Browser, main: MainAppServer) -> BrowserContext:
    context = browser.new_context(base_url=main.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    return context


def sign_up(page: Page, email: str) -> None:
    page.goto("/signup")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/tasks/new$"))


@pytest.fixture(scope="module")
def user(browser: Browser, main: MainAppServer) -> Iterator[tuple[BrowserContext, str]]:
    """A signed-in browser (its own account) shared by the task tests."""
    context = new_context(browser, main)
    email = f"ui-{uuid.uuid4().hex[:6]}@pilothouse.test"
    sign_up(context.new_page(), email)
    yield context, email
    context.close()


@pytest.fixture
def page(user) -> Iterator[Page]:
    """A tab of the signed-in browser; the test fails if a script of the UI throws."""
    context, _ = user
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close(run_before_unload=True)  # does not wait: a tab caught reloading cannot hang teardown
    assert not errors, f"the UI's scripts threw: {errors}"


@pytest.fixture(autouse=True)
def _open_gates(pages: PageServer) -> Iterator[None]:
    yield
    pages.open_all()  # a failed test leaves no task held


def run_from_editor(page: Page, spec: dict) -> str:
    """Type ``spec`` into the new-task editor, see it pass the check, run it; the task's id."""
    page.goto("/tasks/new")
    page.locator("#spec").fill(json.dumps(spec, indent=2))
    expect(page.locator("#validation")).to_have_text("✓ Valid task spec")
    page.get_by_role("button", name="Run task").click()
    expect(page).to_have_url(TASK_URL)
    return page.url.rsplit("/", 1)[1]


def status_is(page: Page, state: str) -> None:
    expect(page.locator("#status .badge")).to_have_text(state.replace("_", " "))


def wait_live(page: Page, colour: str, mode: str = "view only") -> None:
    """The live view says it is connected (``mode``) and its canvas shows ``colour``."""
    expect(page.locator("#live-status")).to_contain_text(mode)
    wait_until(lambda: shows(page, colour), 60, f"the live view to show #{colour}", interval=0.2)


def click_screen(page: Page) -> None:
    """A click and a key press in the middle of the live view."""
    box = page.locator("#screen canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6)
    page.keyboard.press("a")


# -- 1. accounts ------------------------------------------------------------------------------

def test_sign_up_sign_out_and_sign_in(browser, main):
    context = new_context(browser, main)
    page = context.new_page()
    try:
        email = f"newcomer-{uuid.uuid4().hex[:6]}@pilothouse.test"
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login$"))
        page.get_by_role("link", name="Create an account").click()
        expect(page).to_have_url(re.compile(r"/signup$"))
        snap(page, "1a-signup-form")
        sign_up(page, email)
        expect(page.locator(".flash.ok")).to_contain_text("Welcome to Pilothouse")
        expect(page.locator(".topbar .who")).to_contain_text(email)
        snap(page, "1b-signed-up")

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.locator(".flash.ok")).to_have_text("Signed out.")
        page.goto("/tasks")
        expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out for real

        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".flash.error")).to_have_text("Wrong email or password.")
        snap(page, "1c-wrong-password")

        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/tasks$"))
        expect(page.locator(".topbar .who")).to_contain_text(email)
        expect(page.get_by_role("heading", name="No tasks yet")).to_be_visible()
        snap(page, "1d-signed-in")
    finally:
        context.close()


# -- 2. a template, a broken spec flagged in place, then the run ------------------------------

def test_a_template_runs_after_the_editor_flags_a_broken_spec(page, demo_site):
    page.goto("/tasks/new")
    page.get_by_role("link", name="hello: read the heading and take a screenshot").click()
    editor = page.locator("#spec")
    expect(editor).to_have_value(re.compile(re.escape(f'"base_url": "{demo_site.url}/"')))
    validation = page.locator("#validation")
    expect(validation).to_have_text("✓ Valid task spec")

    spec = json.loads(editor.input_value())
    broken = json.loads(json.dumps(spec))
    assert list(spec)[:2] == ["version", "name"], "the template reads in its own order"
    broken["steps"][1]["colour"] = "red"  # not a field of an extract step
    text = json.dumps(broken, indent=2)
    editor.fill(text)
    expect(validation).to_have_class(re.compile(r"\bbad\b"))
    expect(validation).to_contain_text("steps[1] (extract) unknown field 'colour'")
    where = next(n for n, row in enumerate(text.splitlines(), 1) if '"colour"' in row)
    line = page.locator("#validation a[data-line]")
    expect(line).to_have_text(f"line {where}")  # the line of the unknown field itself
    expect(page.locator("#gutter .bad")).to_have_count(1)
    expect(page.locator("#gutter .bad")).to_have_text(str(where))
    snap(page, "2a-editor-flags-unknown-field")

    line.click()  # selects the field's line in the editor
    assert page.evaluate("document.activeElement.id") == "spec"
    selected = page.evaluate("(a => a.value.slice(a.selectionStart, a.selectionEnd))(document.activeElement)")
    assert '"colour": "red"' in selected

    editor.fill(text.replace('"colour": "red"', '"colour": "red",', 1))  # a trailing comma
    expect(validation).to_contain_text("not valid JSON")
    expect(line).to_have_text(f"line {where + 1}")  # where the parser found '}'
    editor.fill(json.dumps(spec, indent=2))
    expect(validation).to_have_text("✓ Valid task spec")
    expect(page.locator("#gutter .bad")).to_have_count(0)
    page.get_by_role("button", name="Run task").click()
    expect(page).to_have_url(TASK_URL)
    status_is(page, "succeeded")
    expect(page.locator(".results")).to_contain_text("Pilothouse demo shop")  # the extracted heading
    expect(page.locator("#steps .step.succeeded")).to_have_count(len(spec["steps"]) + 1)
    snap(page, "2b-template-task-succeeded")


# -- 3 and 4. the live view, then the timeline and the screenshots ----------------------------

BADGE_WATCH = """window.__badges = [];
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("status");
  if (!status) return;
  const seen = () => window.__badges.push(status.textContent.trim());
  seen();
  new MutationObserver(seen).observe(status, { childList: true, subtree: true, characterData: true });
});"""


def test_live_view_then_timeline_and_gallery(page, pages, main):
    gate, colour = f"live-{uuid.uuid4().hex[:8]}", "ff8c00"
    page.add_init_script(BADGE_WATCH)  # every status the badge shows, page by page
    pages.gate(gate)
    spec = {"version": 1, "name": "watch me", "timeout_s": 120,
            "start_url": pages.url(f"/colour?c={colour}&title=Watched"),
            "steps": [gate_step(gate), {"action": "extract", "name": "heading", "selector": "#heading"},
                      {"action": "screenshot", "name": "orange"}]}
    run_from_editor(page, spec)
    status_is(page, "running")
    wait_live(page, colour)
    steps = page.locator("#steps .step")
    expect(steps.nth(0)).to_have_class(re.compile(r"\bsucceeded\b"))  # the start page opened
    expect(steps.nth(0).locator(".took")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(steps.nth(1)).to_have_class(re.compile(r"\brunning\b"))  # held at the gate
    expect(steps.nth(3)).to_have_class(re.compile(r"\bpending\b"))
    expect(page.locator("#log")).to_contain_text("running on")
    snap(page, "3-live-view")

    pages.open(gate)
    status_is(page, "succeeded")
    expect(page.locator(".results")).to_be_visible()  # the page reloaded with the results
    expect(page.locator("#steps .step.succeeded")).to_have_count(4)
    for took in page.locator("#steps .step .took").all():
        expect(took).to_have_text(re.compile(r"^\d+ ms$"))
    expect(page.locator("#log")).to_contain_text("succeeded")
    assert set(page.evaluate("window.__badges")) == {"succeeded"}, "the replay changed the ended page"
    shot = page.locator(".gallery .shot img").first
    expect(shot).to_be_visible()
    shot.scroll_into_view_if_needed()
    wait_until(lambda: shot.evaluate("img => img.complete && img.naturalWidth") > 0, 30,
               "the gallery's screenshot to load")
    snap(page, "4a-timeline-and-gallery")

    href = page.locator(".gallery a.shot").first.get_attribute("href")
    answer = page.request.get(href)
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert answer.body()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.context.expect_page() as opened:
        page.locator(".gallery a.shot").first.click()
    image = opened.value
    image.wait_for_load_state()
    assert image.evaluate("document.images[0].naturalWidth") > 0
    snap(image, "4b-screenshot-opened")
    image.close()


# -- 5. cancel ------------------------------------------------------------------------------

def test_long_tasks_are_cancelled_from_their_pages(user, page, pages):
    """Both slots busy with long tasks, a third waits in the queue with its page open; cancelling
    one running task from its page gives the slot to the queued one, whose page goes live."""
    context, _ = user
    first, second, third = "6a5acd", "cd5c5c", "3cb371"
    tabs = [page, context.new_page(), context.new_page()]
    for tab, colour in zip(tabs[:2], (first, second), strict=True):
        run_from_editor(tab, colour_spec(pages, colour, hold_s=90, title=f"Long {colour}"))
        status_is(tab, "running")
    waiting = tabs[2]
    run_from_editor(waiting, colour_spec(pages, third, hold_s=90, title="Queued"))
    status_is(waiting, "queued")
    expect(waiting.locator("#position")).to_have_text("#1 in the queue")
    expect(waiting.locator("#screen")).to_contain_text("Waiting for a worker")
    snap(waiting, "5a-queued")

    wait_live(page, first)
    page.get_by_role("button", name="Cancel").click()
    status_is(page, "cancelled")
    expect(page.locator("#task-error")).to_have_text("This task was cancelled.")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#live-status")).to_have_text("the task has ended")
    expect(page.locator("#steps .step.cancelled")).to_have_count(1)
    snap(page, "5b-cancelled")

    status_is(waiting, "running")  # the freed slot took it: its open page shows it live
    wait_live(waiting, third)
    expect(waiting.locator("#started")).to_be_visible()
    for tab in tabs[1:]:
        tab.get_by_role("button", name="Cancel").click()
    for tab in tabs[1:]:
        status_is(tab, "cancelled")
        # The server's page of the ended task: the tab has reloaded and stays. (Closing a tab while
        # it reloads can hang page.close(): Chromium drops the close, crbug.com/536385539.)
        expect(tab.locator("#task-error")).to_have_text("This task was cancelled.")
        tab.close()


# -- 6. take control, hand back ---------------------------------------------------------------

def test_take_control_click_into_the_page_and_hand_back(page, pages, user):
    _, email = user
    colour, beacon, gate = "20b2aa", f"b-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    pages.gate(gate)
    spec = colour_spec(pages, colour, title="Yours", beacon=beacon)
    spec["name"] = "a human in the loop"
    spec["steps"] = [gate_step(gate), {"action": "extract", "name": "heading", "selector": "#heading"}]
    run_from_editor(page, spec)
    wait_until(lambda: pages.arrivals(gate), 60, "the task to reach its gate")
    wait_live(page, colour)

    click_screen(page)  # view only: the task's page must not get it
    with pytest.raises(TimeoutError):
        wait_until(lambda: pages.arrivals(beacon), 3, "a view-only click to reach the task's page")

    page.get_by_role("button", name="Take control").click()
    wait_live(page, colour, mode="you have control")
    expect(page.get_by_role("button", name="Hand back")).to_be_visible()
    expect(page.get_by_role("button", name="Take control")).to_be_hidden()
    expect(page.locator("#control-note")).to_be_visible()
    expect(page.locator("#log")).to_contain_text(f"{email} took control")
    click_screen(page)
    wait_until(lambda: pages.arrivals(beacon), 30, "the owner's click to reach the task's page")
    snap(page, "6a-in-control")

    page.get_by_role("button", name="Hand back").click()
    expect(page.locator("#live-status")).to_contain_text("view only")
    expect(page.get_by_role("button", name="Take control")).to_be_visible()
    expect(page.locator("#control-note")).to_be_hidden()
    expect(page.locator("#log")).to_contain_text(f"{email} handed control back")
    snap(page, "6b-handed-back")

    pages.open(gate)
    status_is(page, "succeeded")
    log = page.locator("#log")
    expect(log).to_contain_text(f"{email} took control")
    expect(log).to_contain_text(f"{email} handed control back")
    expect(page.locator(".results")).to_contain_text("Yours")
    snap(page, "6c-completed")
