"""Steps that act on the page as a user would: click, fill, type, press, select, check,
hover, scroll."""

from __future__ import annotations

from worker.spec.steps import Check, Click, Fill, Hover, Press, Scroll, Select, Type
from worker.steps.context import StepContext
from worker.steps.registry import step_kind


@step_kind("click")
async def click(step: Click, ctx: StepContext) -> None:
    await ctx.page.locator(step.selector).first.click(
        button=step.button, click_count=step.click_count, timeout=ctx.timeout_ms
    )


@step_kind("fill")
async def fill(step: Fill, ctx: StepContext) -> None:
    await ctx.page.locator(step.selector).first.fill(step.value, timeout=ctx.timeout_ms)


@step_kind("type")
async def type_text(step: Type, ctx: StepContext) -> None:
    await ctx.page.locator(step.selector).first.press_sequentially(
        step.text, delay=step.delay_ms, timeout=ctx.timeout_ms
    )


@step_kind("press")
async def press(step: Press, ctx: StepContext) -> None:
    if step.selector:
        await ctx.page.locator(step.selector).first.press(step.key, timeout=ctx.timeout_ms)
    else:
        await ctx.page.keyboard.press(step.key)


@step_kind("select")
async def select(step: Select, ctx: StepContext) -> list[str]:
    """Choose options by value or label; the value is what ended up selected."""
    locator = ctx.page.locator(step.selector).first
    if step.value is not None:
        return await locator.select_option(value=step.value, timeout=ctx.timeout_ms)
    return await locator.select_option(label=step.label, timeout=ctx.timeout_ms)


@step_kind("check")
async def check(step: Check, ctx: StepContext) -> None:
    await ctx.page.locator(step.selector).first.set_checked(step.checked, timeout=ctx.timeout_ms)


@step_kind("hover")
async def hover(step: Hover, ctx: StepContext) -> None:
    await ctx.page.locator(step.selector).first.hover(timeout=ctx.timeout_ms)


@step_kind("scroll")
async def scroll(step: Scroll, ctx: StepContext) -> None:
    if step.selector:
        await ctx.page.locator(step.selector).first.scroll_into_view_if_needed(timeout=ctx.timeout_ms)
    elif step.to:
        top = "0" if step.to == "top" else "document.documentElement.scrollHeight"
        await ctx.page.evaluate(f"window.scrollTo(0, {top})")
    else:
        await ctx.page.evaluate("([x, y]) => window.scrollBy(x, y)", [step.x, step.y])
