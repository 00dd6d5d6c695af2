"""A slot: one warm Chromium that runs one task at a time, each in a fresh browser context.

The slot owns a thread with an asyncio loop where Playwright lives; ``run()`` may be called
from any one thread at a time and blocks until the result is ready. After each task the used
context is closed and the next one is prepared in the background, so a task starts on a
ready page. A browser that crashed or disconnected is reaped and relaunched on the next task.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from worker.engine import browser as chromium
from worker.engine.artifacts import ArtifactStore, LocalArtifactStore, is_safe_task_id
from worker.engine.policy_proxy import PolicyProxy
from worker.engine.run_state import RunState
from worker.engine.runner import EventSink, TaskRun
from worker.engine.url_policy import UrlPolicy
from worker.settings import EngineSettings
from worker.spec import Artifact, TaskResult, TaskSpec, parse_spec

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 10
RUN_GRACE_S = 60
ContextKey = tuple[str | None, str | None, str | None]
DEFAULT_KEY: ContextKey = (None, None, None)
Prepared = tuple[BrowserContext, Page, ContextKey]


def context_key(spec: TaskSpec) -> ContextKey:
    """The context options that cannot change after creation (the viewport can)."""
    return (spec.user_agent, spec.locale, spec.timezone)


class Slot:
    """One long-lived browser; see the module docstring."""

    def __init__(self, settings: EngineSettings, *, store: ArtifactStore | None = None,
                 window: tuple[int, int] = (1280, 720)):
        self.settings = settings
        self.window = window
        self.policy = UrlPolicy.from_allowlist(settings.url_allowlist, settings.allow_private_networks)
        self.store = store or LocalArtifactStore(settings.artifacts_dir)
        self.restarts = 0  # relaunches after a crash or disconnect
        self.browser_pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._profile: str | None = None
        self._proxy: PolicyProxy | None = None
        self._spare: asyncio.Future | None = None
        self._state: RunState | None = None
        self._lock = threading.Lock()  # one task (or re-warm) at a time
        self._loop_lock = threading.Lock()

    # -- the public, thread-facing side ------------------------------------------------------

    def start(self) -> Slot:
        """Launch the browser and prepare the first context (``run()`` does it when needed)."""
        self._call(self._warm())
        return self

    def run(self, spec: TaskSpec | dict[str, Any], *, task_id: str | None = None,
            cancel: Callable[[], bool] | None = None, on_event: EventSink | None = None,
            paused: Callable[[], bool] | None = None) -> TaskResult:
        """Run one task and return its result; ``cancel`` is polled while it runs, ``paused``
        between steps (a human has control: the next step waits)."""
        spec = spec if isinstance(spec, TaskSpec) else parse_spec(spec)
        task_id = task_id or str(uuid.uuid4())
        if not is_safe_task_id(task_id):
            raise ValueError(f"task id {task_id!r}: use letters, digits, '_', '.' or '-' (max 128)")
        with self._lock:
            work = self._run(spec, task_id, cancel, on_event, paused)
            return self._call(work, spec.timeout_s + RUN_GRACE_S)

    def warm_if_idle(self, timeout: float = 30) -> bool:
        """Relaunch a dead browser and prepare a context, unless a task runs (then the task
        does it). For a heartbeat: a browser that died with its display comes back by itself."""
        if self.healthy() or not self._lock.acquire(blocking=False):
            return self.healthy()
        try:
            self._call(self._warm(), timeout)
        finally:
            self._lock.release()
        return self.healthy()

    def healthy(self) -> bool:
        """True when the browser is up and connected."""
        return bool(self._browser and self._browser.is_connected())

    def close(self) -> None:
        """Close the browser, reap its processes and stop the slot's thread."""
        if self._loop is None:
            return
        try:
            self._call(self._shutdown(), CLOSE_TIMEOUT_S * 3)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CLOSE_TIMEOUT_S)
            self._loop = self._thread = None

    def __enter__(self) -> Slot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="slot", daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- the loop side -------------------------------------------------------------------------

    async def _warm(self) -> None:
        await self._ensure_browser()
        if self._spare is None:
            self._spare = asyncio.ensure_future(self._new_context(DEFAULT_KEY, None))

    async def _run(self, spec: TaskSpec, task_id: str, cancel: Any, on_event: Any, paused: Any) -> TaskResult:
        await self._ensure_browser()
        context, page = await self._take_context(spec)
        mark = len(self._proxy.blocks) if self._proxy else 0
        self._state = state = RunState(proxy=self._proxy, block_mark=mark)
        state.watch(page)
        try:
            if spec.trace:
                await context.tracing.start(screenshots=True, snapshots=True, sources=False)
            run = TaskRun(task_id=task_id, spec=spec, page=page, context=context, browser=self._browser,
                          store=self.store, policy=self.policy, state=state, cancel=cancel, on_event=on_event,
                          paused=paused)
            result = await run.execute()
            if spec.trace and not state.crashed:
                trace = await self._save_trace(context, run)
                if trace:
                    result.artifacts.append(trace)
            return result
        finally:
            self._state = None
            self._spare = asyncio.ensure_future(self._recycle(context))

    async def _save_trace(self, context: BrowserContext, run: TaskRun) -> Artifact | None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "trace.zip"
            try:
                await asyncio.wait_for(context.tracing.stop(path=str(path)), CLOSE_TIMEOUT_S)
            except Exception:
                log.exception("could not save the trace")
                return None
            run.ctx.step_index = None
            return run.save_artifact("trace", "trace", path.read_bytes(), "application/zip")

    async def _ensure_browser(self) -> None:
        if self._browser is not None and self._browser.is_connected():
            return
        if self._browser is not None:
            self.restarts += 1
            log.warning("browser %s is gone; reaping it and launching a new one", self.browser_pid)
            await self._discard_browser()
        if self._proxy is None and not self.policy.open:
            self._proxy = PolicyProxy(self.policy)
            self._proxy.start()
        for attempt in (1, 2):
            try:
                if self._pw is None:
                    self._pw = await async_playwright().start()
                proxy_url = self._proxy.url if self._proxy else None
                self._browser, self._profile, self.browser_pid = await chromium.launch(
                    self._pw, self.settings, proxy_url, self.window)
                break
            except Exception:
                if attempt == 2:
                    raise
                log.exception("browser launch failed; restarting Playwright and trying again")
                await self._stop_playwright()
        self._browser.on("disconnected", self._on_disconnected)

    def _on_disconnected(self, _browser: Browser) -> None:
        if self._state is not None:
            self._state.mark_crashed("the browser process exited")

    async def _new_context(self, key: ContextKey, spec: TaskSpec | None) -> Prepared:
        user_agent, locale, timezone = key
        viewport = spec.viewport if spec else None
        context = await self._browser.new_context(
            viewport={"width": viewport.width, "height": viewport.height} if viewport
            else {"width": self.window[0], "height": self.window[1]},
            user_agent=user_agent, locale=locale, timezone_id=timezone, accept_downloads=False,
        )
        page = await context.new_page()
        # The first locator call in a renderer compiles Playwright's injected script (≈ 10 ms):
        # do it now, while idle, on the unused about:blank page (docs/benchmarks.md).
        await page.locator("html").count()
        return context, page, key

    async def _take_context(self, spec: TaskSpec) -> tuple[BrowserContext, Page]:
        """The prepared context when it fits the spec, else a new one."""
        spare, self._spare = self._spare, None
        prepared = None
        if spare is not None:
            try:
                prepared = await spare
            except Exception:
                log.warning("the prepared context failed; making a new one", exc_info=True)
        if prepared and prepared[2] == context_key(spec) and self._browser.is_connected():
            context, page, _ = prepared
            size = page.viewport_size or {}
            wanted = {"width": spec.viewport.width, "height": spec.viewport.height}
            if size != wanted:
                await page.set_viewport_size(wanted)
            return context, page
        if prepared:
            await _close_quietly(prepared[0])
        context, page, _ = await self._new_context(context_key(spec), spec)
        return context, page

    async def _recycle(self, used: BrowserContext) -> Prepared | None:
        """Close the used context and prepare the next (runs while the slot is idle)."""
        await _close_quietly(used)
        if self._browser is None or not self._browser.is_connected():
            return None
        return await self._new_context(DEFAULT_KEY, None)

    async def _discard_browser(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.cancel()
        browser, self._browser = self._browser, None
        if browser is not None:
            try:
                await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT_S)
            except Exception:
                log.debug("browser.close() failed", exc_info=True)
        killed = await asyncio.get_running_loop().run_in_executor(None, chromium.reap, self._profile)
        if killed:
            log.info("reaped %d leftover browser processes", killed)
        self._profile = self.browser_pid = None

    async def _stop_playwright(self) -> None:
        pw, self._pw = self._pw, None
        if pw is not None:
            try:
                await asyncio.wait_for(pw.stop(), CLOSE_TIMEOUT_S)
            except Exception:
                log.debug("playwright.stop() failed", exc_info=True)

    async def _shutdown(self) -> None:
        await self._discard_browser()
        await self._stop_playwright()
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None


async def _close_quietly(context: BrowserContext) -> None:
    try:
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
    except Exception:
        log.debug("context.close() failed", exc_info=True)
