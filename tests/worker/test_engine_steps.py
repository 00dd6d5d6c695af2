"""Every step kind against the fixture pages, on a real headless Chromium."""

from __future__ import annotations

import json

import pytest

from worker.engine import Slot

pytestmark = pytest.mark.timeout(120)


def run(slot: Slot, site, *steps: dict, start: str = "/form.html", **options):
    return slot.run({"version": 1, "start_url": site.url(start), "steps": list(steps), **options})


def test_form_steps_change_the_page(slot, site):
    result = run(
        slot, site,
        {"action": "fill", "selector": "#name", "value": "Ada"},
        {"action": "type", "selector": "#typed", "text": "abc", "delay_ms": 5},
        {"action": "select", "selector": "#colour", "label": "Blue"},
        {"action": "select", "selector": "#many", "value": ["a", "c"]},
        {"action": "check", "selector": "#agree"},
        {"action": "check", "selector": "#preset", "checked": False},
        {"action": "click", "selector": "#go"},
        {"action": "extract", "name": "out", "selector": "#out"},
        {"action": "evaluate", "name": "keys", "script": "window.keys"},
    )
    assert result.status == "succeeded", result.error
    assert result.extracted == {"out": "Ada|abc|b|a,c|true|false", "keys": 3}
    assert [s.value for s in result.steps if s.action == "select"] == [["b"], ["a", "c"]]


def test_click_options_hover_press_and_scroll(slot, site):
    result = run(
        slot, site,
        {"action": "click", "selector": "#counter", "click_count": 2},
        {"action": "click", "selector": "#counter", "button": "right"},
        {"action": "hover", "selector": "#hover-target"},
        {"action": "fill", "selector": "#enter", "value": "hi"},
        {"action": "press", "selector": "#enter", "key": "Enter"},
        {"action": "extract", "name": "clicks", "selector": "#clicks"},
        {"action": "extract", "name": "right", "selector": "#counter", "attribute": "data-right"},
        {"action": "extract", "name": "hovered", "selector": "#hovered"},
        {"action": "extract", "name": "out", "selector": "#out"},
        {"action": "goto", "url": site.url("/")},
        {"action": "scroll", "to": "bottom"},
        {"action": "evaluate", "name": "at_bottom", "script": "window.scrollY > 1000"},
        {"action": "scroll", "to": "top"},
        {"action": "scroll", "y": 500},
        {"action": "evaluate", "name": "y", "script": "window.scrollY"},
        {"action": "scroll", "selector": "#bottom"},
        {"action": "press", "key": "Home"},
    )
    assert result.status == "succeeded", result.error
    assert result.extracted == {"clicks": "2", "right": "1", "hovered": "yes", "out": "enter:hi",
                                "at_bottom": True, "y": 500}


def test_extract_variants(slot, site):
    result = run(
        slot, site,
        {"action": "extract", "name": "links", "selector": "a", "all": True},
        {"action": "extract", "name": "hrefs", "selector": "a", "attribute": "href", "all": True},
        {"action": "extract", "name": "html", "selector": "#intro", "html": True},
        {"action": "extract", "name": "none", "selector": ".missing", "all": True},
        {"action": "evaluate", "name": "sum", "script": "([a, b]) => a + b", "arg": [2, 3]},
        start="/",
    )
    assert result.status == "succeeded", result.error
    assert result.extracted["links"] == ["Form", "Private link", "Redirecting link"]
    assert result.extracted["hrefs"][0] == "/form.html"
    assert result.extracted["html"] == "Pages for the tests."
    assert result.extracted["none"] == []
    assert result.extracted["sum"] == 5


def test_waits_for_late_content_and_url(slot, site):
    result = run(
        slot, site,
        {"action": "wait_for", "selector": "#late", "state": "visible", "timeout_s": 5},
        {"action": "wait_for", "selector": "#soon-gone", "state": "detached"},
        {"action": "wait_for", "url": "**/late.html#done"},
        {"action": "wait_for", "load_state": "load"},
        {"action": "sleep", "seconds": 0.05},
        {"action": "extract", "name": "late", "selector": "#late"},
        start="/late.html",
    )
    assert result.status == "succeeded", result.error
    assert result.extracted["late"] == "arrived"


def test_assertions_pass_and_fail_with_a_reason(slot, site):
    ok = run(
        slot, site,
        {"action": "assert", "url": "/late.html"},
        {"action": "assert", "title": "Late", "exact": True},
        {"action": "assert", "selector": "#late", "text": "arriv", "timeout_s": 5},
        {"action": "assert", "selector": "#late", "text": "arrived", "exact": True},
        {"action": "assert", "selector": "#nothing", "visible": False},
        start="/late.html",
    )
    assert ok.status == "succeeded", ok.error
    bad = run(slot, site, {"action": "assert", "selector": "h1", "text": "Nope", "timeout_s": 0.5}, start="/")
    assert bad.status == "failed"
    assert bad.error_kind == "step_failed"
    assert bad.error.startswith("steps[0] (assert): ")
    assert "Nope" in bad.error and "Fixture home" in bad.error


def test_screenshot_and_pdf_are_stored(slot, site):
    result = run(
        slot, site,
        {"action": "screenshot", "name": "page", "full_page": True},
        {"action": "screenshot", "name": "heading", "selector": "h1"},
        {"action": "screenshot", "name": "page"},
        {"action": "pdf", "name": "doc", "format": "Letter", "landscape": True},
        start="/",
    )
    assert result.status == "succeeded", result.error
    kinds = [(a.name, a.kind, a.step_index) for a in result.artifacts]
    assert kinds == [("page", "screenshot", 0), ("heading", "screenshot", 1), ("page", "screenshot", 2),
                     ("doc", "pdf", 3)]
    keys = [a.key for a in result.artifacts]
    assert len(set(keys)) == 4, "a repeated name must not overwrite the earlier file"
    for artifact in result.artifacts:
        data = slot.store.read(artifact.key)
        assert len(data) == artifact.size_bytes > 1000
        assert data[:4] == (b"\x89PNG" if artifact.kind == "screenshot" else b"%PDF")
    assert result.steps[1].value == result.artifacts[0].key  # steps[0] is the start_url goto


def test_trace_is_recorded_when_asked(slot, site):
    result = run(slot, site, {"action": "click", "selector": "#go"}, trace=True)
    assert result.status == "succeeded", result.error
    trace = [a for a in result.artifacts if a.kind == "trace"]
    assert len(trace) == 1
    assert slot.store.read(trace[0].key)[:2] == b"PK"


def test_console_errors_page_facts_and_continue_on_error(slot, site):
    result = run(
        slot, site,
        {"action": "click", "selector": "#missing", "timeout_s": 0.3, "continue_on_error": True},
        {"action": "wait_for", "selector": "h1"},
        {"action": "evaluate", "script": "new Promise(r => setTimeout(r, 50))"},
        start="/throws.html",
    )
    assert result.status == "succeeded", result.error
    assert [s.status for s in result.steps] == ["succeeded", "timed_out", "succeeded", "succeeded"]
    texts = {(c.kind, c.text) for c in result.console_errors}
    assert ("console", "fixture console error") in texts
    assert any(kind == "pageerror" and "fixture uncaught" in text for kind, text in texts)
    assert result.final_url == site.url("/throws.html")
    assert result.title == "Throws"


def test_first_failure_stops_the_task_and_later_steps_are_skipped(slot, site):
    result = run(
        slot, site,
        {"action": "evaluate", "script": "() => { throw new Error('boom') }"},
        {"action": "click", "selector": "#go"},
    )
    assert result.status == "failed"
    assert "boom" in result.error and "steps[0] (evaluate)" in result.error
    assert [s.status for s in result.steps] == ["succeeded", "failed", "skipped"]
    assert result.steps[0].index is None and result.steps[2].index == 1


def test_viewport_user_agent_and_locale_apply(slot, site):
    result = run(
        slot, site,
        {"action": "evaluate", "name": "env",
         "script": "[innerWidth, innerHeight, navigator.userAgent, navigator.language]"},
        viewport={"width": 800, "height": 600}, user_agent="PilothouseTest/1", locale="de-DE",
    )
    assert result.status == "succeeded", result.error
    assert result.extracted["env"] == [800, 600, "PilothouseTest/1", "de-DE"]


def test_events_report_each_step_as_it_happens(slot, site):
    events: list[dict] = []
    result = slot.run({"version": 1, "start_url": site.url("/"),
                       "steps": [{"action": "extract", "name": "h", "selector": "h1"}]},
                      on_event=events.append)
    assert result.status == "succeeded"
    assert [(e["type"], e["index"]) for e in events] == [
        ("step_started", None), ("step_finished", None), ("step_started", 0), ("step_finished", 0)]
    assert events[-1]["value"] == "Fixture home"
    json.dumps(events)  # events are JSON, ready for a Redis stream


def test_a_missing_resource_is_a_console_error_but_the_tab_icon_is_not(slot, site):
    result = run(slot, site, {"action": "wait_for", "selector": "img", "state": "attached"},
                 start="/broken.html")
    assert result.status == "succeeded", result.error
    urls = [c.url or "" for c in result.console_errors]
    assert any(url.endswith("/missing-picture.png") for url in urls), result.console_errors
    assert not any(url.endswith("/favicon.ico") for url in urls)
