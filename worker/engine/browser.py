"""Launching Chromium for a slot, and reaping what a dead one leaves behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading

import psutil
from playwright.async_api import Browser, Playwright

from worker.settings import EngineSettings

# Chromium keeps only the last --disable-features it is given, so ours must repeat the list
# Playwright passes (tests/worker/test_browser_flags.py fails when a Playwright upgrade changes it).
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect", "OptimizationHints",
    "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch", "TcpPortRandomizationWin",
    "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
)
# Extra renderers Chromium 156 starts for every context: about half the CPU of a short task.
OUR_DISABLED_FEATURES = (
    "WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "WebUIOmniboxFullPopup", "SpareRendererForSitePerProcess",
)
# Flags that work on these machines and in a container with a 64 MB /dev/shm.
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + OUR_DISABLED_FEATURES),
)
PROFILE_FLAG = "--user-data-dir="
_launch_lock = threading.Lock()  # so a new profile folder can be told apart from a sibling slot's


def launch_args(settings: EngineSettings, window: tuple[int, int]) -> list[str]:
    """Chromium's command-line flags for this slot."""
    args = list(BASE_ARGS)
    if settings.display:
        args += ["--window-position=0,0", f"--window-size={window[0]},{window[1]}"]
    return args + list(settings.extra_browser_args)


def _profiles() -> dict[str, int]:
    """Profile folder -> PID of each Chromium browser process under this process."""
    found = {}
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                cmd = proc.cmdline()
                if any(a.startswith("--type=") for a in cmd):
                    continue
                for arg in cmd:
                    if arg.startswith(PROFILE_FLAG):
                        found[arg[len(PROFILE_FLAG):]] = proc.pid
    return found


async def launch(playwright: Playwright, settings: EngineSettings, proxy_url: str | None,
                 window: tuple[int, int]) -> tuple[Browser, str | None, int | None]:
    """Launch Chromium; return it with its profile folder and browser PID (for reaping)."""
    env = dict(os.environ)
    if settings.display:
        env["DISPLAY"] = settings.display
    proxy = {"server": proxy_url, "bypass": "<-loopback>"} if proxy_url else None
    with _launch_lock:
        before = _profiles()
        browser = await playwright.chromium.launch(
            executable_path=settings.browser_executable,
            headless=not settings.display,
            args=launch_args(settings, window),
            env=env,
            proxy=proxy,
            handle_sigterm=False,
            handle_sigint=False,
            handle_sighup=False,
        )
        new = {k: v for k, v in _profiles().items() if k not in before}
    profile, pid = next(iter(new.items()), (None, None))
    return browser, profile, pid


def reap(profile: str | None) -> int:
    """Kill every process still using ``profile`` (a crashed browser's renderers, zygotes,
    GPU and utility processes) and delete the folder; return how many were killed."""
    if not profile:
        return 0
    victims = browser_processes(profile)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(victims, timeout=5)
    shutil.rmtree(profile, ignore_errors=True)
    return len(victims)


def browser_processes(profile: str | None) -> list[psutil.Process]:
    """Every live process of the browser that uses ``profile``."""
    if not profile:
        return []
    flag = PROFILE_FLAG + profile
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if flag in (proc.info["cmdline"] or ()):
                out.append(proc)
    return out
