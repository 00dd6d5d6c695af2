"""goto: open a URL in the page."""

from __future__ import annotations

from typing import Any

from worker.spec.steps import Goto
from worker.steps.context import StepContext
from worker.steps.registry import step_kind


@step_kind("goto")
async def goto(step: Goto, ctx: StepContext) -> dict[str, Any]:
    """Navigate; the value is the final URL and the HTTP status."""
    url = ctx.spec.resolve(step.url)
    ctx.check_url(url)
    response = await ctx.page.goto(url, wait_until=step.wait_until, timeout=ctx.timeout_ms)
    return {"url": ctx.page.url, "status": response.status if response else None}
