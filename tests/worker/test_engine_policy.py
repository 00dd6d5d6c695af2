"""The URL policy in a real browser: goto, redirects, clicked links and sub-requests."""

from __future__ import annotations

import dataclasses

import pytest

from worker.engine import Slot

pytestmark = pytest.mark.timeout(120)


def task(start: str, *steps: dict) -> dict:
    return {"version": 1, "start_url": start, "steps": list(steps)}


def test_goto_to_a_private_address_fails_naming_url_and_rule(slot, site):
    result = slot.run(task(site.url("/"), {"action": "goto", "url": site.private_url("/secret")}))
    assert result.status == "failed"
    assert result.error_kind == "url_blocked"
    assert f"steps[0] (goto): blocked by the URL policy: {site.private_url('/secret')}" in result.error
    assert "loopback address" in result.error
    assert "ALLOW_PRIVATE_NETWORKS" in result.error
    assert "/secret" not in site.server.hits[-1:], "the private server must never see the request"


def test_redirect_to_a_private_address_is_blocked(slot, site):
    hits_before = site.server.hits.count("/secret")
    redirect = site.url(f"/redirect?to={site.private_url('/secret')}")
    result = slot.run(task(redirect))
    assert result.status == "failed"
    assert result.error_kind == "url_blocked"
    assert result.error.startswith(f"start_url: blocked by the URL policy: {site.private_url('/secret')}")
    assert site.server.hits.count("/secret") == hits_before


def test_clicking_a_link_to_a_private_address_fails_that_step(slot, site):
    hits_before = site.server.hits.count("/secret")
    for link in ("#to-private", "#to-redirect"):
        result = slot.run(task(site.url("/"), {"action": "click", "selector": link},
                               {"action": "wait_for", "load_state": "load"}))
        assert result.status == "failed", link
        assert result.error_kind == "url_blocked"
        assert "blocked by the URL policy" in result.error and "127.0.0.1" in result.error
        assert result.steps[1].status == "failed" or result.steps[2].status == "failed"
    assert site.server.hits.count("/secret") == hits_before


def test_sub_request_to_a_private_address_is_refused_and_reported(slot, site):
    hits_before = site.server.hits.count("/secret")
    result = slot.run(task(site.url("/fetch_private.html"),
                           {"action": "assert", "selector": "#result", "text": "refused", "timeout_s": 5}))
    assert result.status == "succeeded", result.error
    assert site.server.hits.count("/secret") == hits_before
    assert [(b.url, b.navigation) for b in result.blocked_requests] == [(site.private_url("/secret"), False)]


def test_https_and_metadata_addresses_are_blocked_before_connecting(slot):
    result = slot.run(task("https://169.254.169.254/latest/meta-data/"))
    assert result.error_kind == "url_blocked"
    assert "cloud metadata address" in result.error


def test_schemes_other_than_http_are_refused_by_validation(slot):
    from worker.spec import SpecError

    for url in ("file:///etc/passwd", "chrome://version", "javascript:alert(1)"):
        with pytest.raises(SpecError, match="is not allowed"):
            slot.run(task(url))


@pytest.mark.parametrize("how", ["allow_private", "allowlist"])
def test_the_policy_can_be_lifted(engine_settings, site, how):
    settings = (dataclasses.replace(engine_settings, allow_private_networks=True) if how == "allow_private"
                else dataclasses.replace(engine_settings, url_allowlist=("localhost", "127.0.0.0/8")))
    steps = [
        {"action": "assert", "selector": "#result", "text": "leaked", "timeout_s": 5},
        {"action": "goto", "url": site.private_url("/secret")},
        {"action": "goto", "url": site.url(f"/redirect?to={site.private_url()}")},
    ]
    with Slot(settings) as open_slot:
        result = open_slot.run(task(site.url("/fetch_private.html"), *steps))
    assert result.status == "succeeded", result.error
    assert result.final_url == site.private_url("/secret")
    assert result.blocked_requests == []
