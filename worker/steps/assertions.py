"""assert: fail the task unless the page shows what the user expects.

Uses Playwright's retrying assertions, so a check made just after a click waits (up to the
step timeout) for the page to settle instead of failing on a stale value.
"""

from __future__ import annotations

import re

from playwright.async_api import expect

from worker.spec.steps import Assert
from worker.steps.context import StepContext
from worker.steps.registry import step_kind


class AssertionFailed(Exception):
    """The page does not match; the message says what was expected and what was found."""


def _pattern(expected: str, exact: bool) -> re.Pattern[str]:
    return re.compile(("^%s$" if exact else "%s") % re.escape(expected))


def _summary(exc: AssertionError) -> str:
    """Playwright's message without its call log."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    kept = [line.strip() for line in lines if not line.strip().startswith(("Call log", "-"))]
    return " ".join(kept[:3]) or "assertion failed"


@step_kind("assert")
async def assert_page(step: Assert, ctx: StepContext) -> None:
    """Every check given must hold."""
    page, timeout = ctx.page, ctx.timeout_ms
    try:
        if step.url is not None:
            await expect(page).to_have_url(_pattern(step.url, step.exact), timeout=timeout)
        if step.title is not None:
            await expect(page).to_have_title(_pattern(step.title, step.exact), timeout=timeout)
        if step.selector is None:
            return
        locator = page.locator(step.selector).first
        if step.visible is True:
            await expect(locator).to_be_visible(timeout=timeout)
        elif step.visible is False:
            await expect(locator).to_be_hidden(timeout=timeout)
        if step.text is not None and step.exact:
            await expect(locator).to_have_text(step.text, timeout=timeout)
        elif step.text is not None:
            await expect(locator).to_contain_text(step.text, timeout=timeout)
    except AssertionError as exc:
        raise AssertionFailed(_summary(exc)) from None
