"""Runs a task's steps in order on a prepared page, and turns what happened into a TaskResult.

Each step gets its own timeout, capped by what is left of the task's. A supervisor polls the
cancel callable and the task deadline, and cancels the step in flight (also mid-wait).
Between steps, the run waits while the ``paused`` callable says a human has the browser (take
control): the step in flight goes on, the next one waits; the task's timeout keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from worker.engine.artifacts import ArtifactStore
from worker.engine.run_state import TUNNEL_REFUSED, RunState
from worker.engine.url_policy import UrlBlocked, UrlPolicy
from worker.spec import Artifact, StepResult, TaskResult, TaskSpec
from worker.spec.steps import Goto, StepBase
from worker.steps import StepContext, implementation

log = logging.getLogger(__name__)
DEFAULT_STEP_TIMEOUT_S = 30.0
GRACE_S = 1.0  # Playwright's own timeout fires first and says what it was waiting for
POLL_S = 0.05
EventSink = Callable[[dict[str, Any]], None]
CONTENT_TYPES = {"screenshot": ("png", "image/png"), "pdf": ("pdf", "application/pdf"),
                 "trace": ("zip", "application/zip")}


@dataclass
class Outcome:
    status: str = "succeeded"
    error: str | None = None
    error_kind: str | None = None


def _emit(on_event: EventSink | None, event: dict[str, Any]) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:  # a broken listener must not break the task
        log.exception("event listener failed on %s", event.get("type"))


def _plan(spec: TaskSpec) -> list[tuple[int | None, StepBase]]:
    """The steps to run; the navigation to ``start_url`` comes first, with index None."""
    plan: list[tuple[int | None, StepBase]] = []
    if spec.start_url:
        plan.append((None, Goto(action="goto", url=spec.start_url)))
    return plan + list(enumerate(spec.steps))


def _describe(exc: BaseException, timeout_s: float) -> tuple[str, str]:
    """(status, message) for a step that raised; Playwright's call log gives what it waited for."""
    text, _, call_log = str(exc).partition("\nCall log:")
    waiting = next((line.strip(" -") for line in call_log.splitlines() if "waiting for" in line), "")
    if isinstance(exc, (PlaywrightTimeout, TimeoutError)):
        detail = waiting or (text.splitlines()[0] if text else "")
        return "timed_out", f"timed out after {timeout_s:g} s" + (f" {detail}" if detail else "")
    message = text.strip().removeprefix("Error: ") or type(exc).__name__
    return "failed", message + (f" ({waiting})" if waiting and waiting not in message else "")


class TaskRun:
    """One execution of a spec on a page; ``execute()`` returns the result."""

    def __init__(self, *, task_id: str, spec: TaskSpec, page: Page, context: BrowserContext,
                 browser: Browser, store: ArtifactStore, policy: UrlPolicy, state: RunState,
                 cancel: Callable[[], bool] | None = None, on_event: EventSink | None = None,
                 paused: Callable[[], bool] | None = None):
        self.task_id, self.spec, self.browser = task_id, spec, browser
        self.store, self.policy, self.state = store, policy, state
        self.cancel, self.on_event, self.paused = cancel, on_event, paused
        self.artifacts: list[Artifact] = []
        self.results: list[StepResult] = []
        self.outcome = Outcome()
        self.ctx = StepContext(page=page, context=context, spec=spec,
                               save_artifact=self.save_artifact, check_url=policy.check_scheme)

    def save_artifact(self, name: str, kind: str, data: bytes, content_type: str) -> Artifact:
        ext, _ = CONTENT_TYPES[kind]
        key = self.store.put(self.task_id, f"{name}.{ext}", data, content_type)
        artifact = Artifact(name=name, kind=kind, key=key, content_type=content_type,
                            size_bytes=len(data), step_index=self.ctx.step_index)
        self.artifacts.append(artifact)
        return artifact

    async def execute(self) -> TaskResult:
        """Run every step (or until one fails, the task is cancelled or its time runs out)."""
        started, t0 = time.time(), time.monotonic()
        deadline = t0 + self.spec.timeout_s
        plan = _plan(self.spec)
        work = asyncio.ensure_future(self._run_steps(plan, deadline))
        await self._supervise(work, deadline)
        self._finish_outcome(plan)
        final_url, title = await self._page_facts()
        return TaskResult(
            task_id=self.task_id, status=self.outcome.status, error=self.outcome.error,
            error_kind=self.outcome.error_kind, steps=self.results, extracted=self.ctx.extracted,
            artifacts=self.artifacts, final_url=final_url, title=title,
            console_errors=self.state.console, blocked_requests=self.state.blocked_requests(),
            started_at=started, finished_at=time.time(),
            duration_ms=round((time.monotonic() - t0) * 1000, 1),
        )

    async def _supervise(self, work: asyncio.Future, deadline: float) -> None:
        """Wait for the steps; cancel them when asked to, at the deadline, or on a crash."""
        while not work.done():
            await asyncio.wait({work}, timeout=POLL_S)
            if work.done():
                break
            reason = None
            if self.cancel is not None and self.cancel():
                reason = "cancelled"
            elif time.monotonic() >= deadline:
                reason = "timed_out"
            elif self.state.crashed:
                reason = "crashed"
            if reason:
                self.state.stop_reason = reason
                work.cancel()
                await asyncio.wait({work})
        if not work.cancelled() and work.exception():
            raise work.exception()

    async def _run_steps(self, plan: list[tuple[int | None, StepBase]], deadline: float) -> None:
        for index, step in plan:
            await self._wait_while_paused(index, deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.state.stop_reason = "timed_out"
                return
            wanted = step.timeout_s or DEFAULT_STEP_TIMEOUT_S
            result = await self._run_step(index, step, min(wanted, remaining))
            if result.status == "timed_out" and remaining < wanted:  # the task's time, not the step's
                self.state.stop_reason = "timed_out"
            if result.status != "succeeded" and not self._continued(result):
                return

    async def _wait_while_paused(self, index: int | None, deadline: float) -> None:
        """The pause point: hold the next step while a human has control (cancel still works)."""
        if self.paused is None or not self.paused():
            return
        _emit(self.on_event, {"type": "paused", "index": index})
        t = time.perf_counter()
        while self.paused() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        _emit(self.on_event, {"type": "resumed", "index": index,
                              "paused_ms": round((time.perf_counter() - t) * 1000, 1)})

    async def _run_step(self, index: int | None, step: StepBase, timeout_s: float) -> StepResult:
        self.ctx.step_index, self.ctx.timeout_ms = index, timeout_s * 1000
        _emit(self.on_event, {"type": "step_started", "index": index, "action": step.action})
        nav_mark, t = len(self.state.blocked_navigations), time.perf_counter()
        value, status, error = None, "succeeded", None
        try:
            value = await asyncio.wait_for(implementation(step.action)(step, self.ctx), timeout_s + GRACE_S)
            self._raise_if_blocked(nav_mark, None)
        except asyncio.CancelledError:
            status = "cancelled" if self.state.stop_reason == "cancelled" else "timed_out"
            error = {"cancelled": "cancelled", "timed_out": "the task's time ran out"}.get(
                self.state.stop_reason or "", self.state.crashed)
            if self.state.stop_reason == "crashed":
                status = "failed"
        except UrlBlocked as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a step failing is data for the result, not a crash
            status, error = _describe(exc, timeout_s)
            try:
                self._raise_if_blocked(nav_mark, exc)
            except UrlBlocked as blocked:
                status, error = "failed", str(blocked)
        result = StepResult(index=index, action=step.action, status=status, error=error, value=value,
                            duration_ms=round((time.perf_counter() - t) * 1000, 1))
        self.results.append(result)
        _emit(self.on_event, {"type": "step_finished", **result.model_dump(mode="json")})
        return result

    def _raise_if_blocked(self, nav_mark: int, exc: Exception | None) -> None:
        """Fail the step when a main-frame navigation during it was refused by the URL policy."""
        blocked = self.state.blocked_navigations[nav_mark:]
        if not blocked and exc is not None and TUNNEL_REFUSED in str(exc):
            found = self.state.proxy_block_for(self._goto_target() or self.ctx.page.url)
            blocked = [found] if found else []
        if blocked:
            raise UrlBlocked(blocked[0].url, blocked[0].rule)

    def _goto_target(self) -> str | None:
        """The URL the current step navigates to, if it is a goto."""
        index = self.ctx.step_index
        step = Goto(action="goto", url=self.spec.start_url) if index is None else self.spec.steps[index]
        return self.spec.resolve(step.url) if isinstance(step, Goto) else None

    def _finish_outcome(self, plan: list[tuple[int | None, StepBase]]) -> None:
        """The task's status from its steps, and 'skipped' records for the steps never run."""
        run = {r.index for r in self.results}
        for index, step in plan:
            if index not in run:
                self.results.append(StepResult(index=index, action=step.action, status="skipped"))
        failed = next((r for r in self.results if r.status not in ("succeeded", "skipped")
                       and not self._continued(r)), None)
        if self.state.crashed:
            self.outcome = Outcome("failed", f"browser crashed: {self.state.crashed}", "browser_crashed")
        elif self.state.stop_reason in ("cancelled", "timed_out"):
            message = "cancelled" if self.state.stop_reason == "cancelled" else (
                f"the task did not finish within its timeout of {self.spec.timeout_s:g} s")
            kind = "cancelled" if self.state.stop_reason == "cancelled" else "timeout"
            self.outcome = Outcome(self.state.stop_reason, message, kind)
        elif failed is not None:
            where = "start_url" if failed.index is None else f"steps[{failed.index}] ({failed.action})"
            kind = "url_blocked" if "blocked by the URL policy" in (failed.error or "") else "step_failed"
            self.outcome = Outcome("failed", f"{where}: {failed.error}", kind)

    def _continued(self, result: StepResult) -> bool:
        """A step that failed on its own (not cancelled, crashed or out of task time) and may."""
        if result.index is None or result.status not in ("failed", "timed_out") or self.state.stop_reason:
            return False
        return self.spec.steps[result.index].continue_on_error

    async def _page_facts(self) -> tuple[str | None, str | None]:
        page = self.ctx.page
        if self.state.crashed or page.is_closed():
            return None, None
        try:
            return page.url, await asyncio.wait_for(page.title(), 2)
        except (TimeoutError, PlaywrightError):
            return page.url, None
