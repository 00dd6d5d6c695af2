"""Steps that wait: for an element, a URL or a load state (wait_for), or for time (sleep)."""

from __future__ import annotations

import asyncio

from worker.spec.steps import Sleep, WaitFor
from worker.steps.context import StepContext
from worker.steps.registry import step_kind


@step_kind("wait_for")
async def wait_for(step: WaitFor, ctx: StepContext) -> None:
    if step.selector is not None:
        await ctx.page.locator(step.selector).first.wait_for(state=step.state, timeout=ctx.timeout_ms)
    elif step.url is not None:
        await ctx.page.wait_for_url(ctx.spec.resolve(step.url), timeout=ctx.timeout_ms)
    else:
        await ctx.page.wait_for_load_state(step.load_state, timeout=ctx.timeout_ms)


@step_kind("sleep")
async def sleep(step: Sleep, ctx: StepContext) -> None:
    """A plain pause (cancellable); a sleep longer than the step's timeout times out."""
    await asyncio.wait_for(asyncio.sleep(step.seconds), ctx.timeout_ms / 1000)
