"""Steps that produce files: screenshot and pdf."""

from __future__ import annotations

import asyncio

from playwright.async_api import Error as PlaywrightError

from worker.spec.steps import Pdf, Screenshot
from worker.steps.context import StepContext
from worker.steps.registry import step_kind

SCREENSHOT_ATTEMPTS = 3


async def _capture(step: Screenshot, ctx: StepContext) -> bytes:
    if step.selector:
        return await ctx.page.locator(step.selector).first.screenshot(timeout=ctx.timeout_ms)
    return await ctx.page.screenshot(full_page=step.full_page, timeout=ctx.timeout_ms)


@step_kind("screenshot")
async def screenshot(step: Screenshot, ctx: StepContext) -> str:
    """A PNG of the viewport, the full page or one element; the value is its artifact key.

    Headed Chromium on Xvfb sometimes answers "Unable to capture screenshot": bring the page
    to the front, wait for a paint and try again before failing the step.
    """
    for attempt in range(SCREENSHOT_ATTEMPTS):
        try:
            data = await _capture(step, ctx)
            break
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == SCREENSHOT_ATTEMPTS - 1:
                raise
            await ctx.page.bring_to_front()
            await ctx.page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
            await asyncio.sleep(0.05 * (attempt + 1))
    return ctx.save_artifact(step.name, "screenshot", data, "image/png").key


@step_kind("pdf")
async def pdf(step: Pdf, ctx: StepContext) -> str:
    """The page printed to PDF (print media); the value is its artifact key."""
    data = await ctx.page.pdf(
        format=step.format, landscape=step.landscape, print_background=step.print_background
    )
    return ctx.save_artifact(step.name, "pdf", data, "application/pdf").key
