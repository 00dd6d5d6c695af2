"""Steps that read from the page: extract (text, attribute, HTML; first or all matches) and
evaluate (JavaScript)."""

from __future__ import annotations

from typing import Any

from worker.spec.steps import Evaluate, Extract
from worker.steps.context import StepContext
from worker.steps.registry import step_kind

MAX_VALUE_CHARS = 1_000_000


async def _read(locator: Any, step: Extract, timeout: float) -> Any:
    if step.attribute is not None:
        return await locator.get_attribute(step.attribute, timeout=timeout)
    if step.html:
        return await locator.inner_html(timeout=timeout)
    return (await locator.inner_text(timeout=timeout)).strip()


@step_kind("extract")
async def extract(step: Extract, ctx: StepContext) -> Any:
    """Store the value under ``name``: the first match waits for it to exist, ``all`` does not."""
    locator = ctx.page.locator(step.selector)
    if step.all:
        value = [await _read(item, step, ctx.timeout_ms) for item in await locator.all()]
    else:
        value = await _read(locator.first, step, ctx.timeout_ms)
    ctx.extracted[step.name] = value
    return value


@step_kind("evaluate")
async def evaluate(step: Evaluate, ctx: StepContext) -> Any:
    """Run the script in the page; a JSON-able result is kept (under ``name`` when given)."""
    value = await ctx.page.evaluate(step.script, step.arg)
    if len(repr(value)) > MAX_VALUE_CHARS:
        raise ValueError(f"the script returned more than {MAX_VALUE_CHARS} characters")
    if step.name:
        ctx.extracted[step.name] = value
    return value
