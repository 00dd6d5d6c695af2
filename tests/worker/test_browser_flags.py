"""Chromium keeps only the last --disable-features: ours must include Playwright's own list."""

from __future__ import annotations

import asyncio

import psutil
from playwright.async_api import async_playwright

from worker.engine.browser import OUR_DISABLED_FEATURES, PLAYWRIGHT_DISABLED_FEATURES


def _features(cmdline: list[str]) -> set[str]:
    values = [arg.split("=", 1)[1] for arg in cmdline if arg.startswith("--disable-features=")]
    return set(values[-1].split(",")) if values else set()


def _browser_cmdline(pid: int) -> list[str]:
    return psutil.Process(pid).cmdline()


def test_playwright_defaults_are_repeated_in_our_flag(engine_settings):
    async def playwright_default_features() -> set[str]:
        async with async_playwright() as pw:
            before = {p.pid for p in psutil.Process().children(recursive=True)}
            browser = await pw.chromium.launch(executable_path=engine_settings.browser_executable,
                                               args=["--no-sandbox"])
            try:
                for proc in psutil.Process().children(recursive=True):
                    cmd = proc.cmdline()
                    if proc.pid not in before and "--remote-debugging-pipe" in cmd:
                        return _features(cmd)
            finally:
                await browser.close()
        return set()

    defaults = asyncio.run(playwright_default_features())
    assert defaults, "could not read Playwright's default Chromium flags"
    missing = defaults - set(PLAYWRIGHT_DISABLED_FEATURES)
    assert not missing, f"Playwright now also disables {missing}: add them to PLAYWRIGHT_DISABLED_FEATURES"


def test_the_slot_browser_runs_with_both_lists(slot):
    effective = _features(_browser_cmdline(slot.browser_pid))
    assert set(PLAYWRIGHT_DISABLED_FEATURES) | set(OUR_DISABLED_FEATURES) <= effective
