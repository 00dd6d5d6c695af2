"""The worker's settings, read from the environment with typed helpers and safe defaults."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BROWSERS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")


class SettingsError(RuntimeError):
    """A variable is set to something unusable; the message names it."""


def env_str(name: str, default: str = "") -> str:
    """The variable's value stripped, or ``default`` when unset or empty."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is an error."""
    raw = env_str(name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: use 1/true/yes/on or 0/false/no/off")


def env_list(name: str) -> list[str]:
    """A comma- or space-separated list."""
    return [item for item in env_str(name).replace(",", " ").split() if item]


def find_browser() -> str:
    """``BROWSER_EXECUTABLE``, else the first Chromium found; error naming the variable if none."""
    configured = env_str("BROWSER_EXECUTABLE")
    if configured:
        path = shutil.which(configured) or configured
        if not os.access(path, os.X_OK):
            raise SettingsError(f"BROWSER_EXECUTABLE={configured!r} is not an executable file")
        return path
    for candidate in DEFAULT_BROWSERS:
        if os.access(candidate, os.X_OK):
            return candidate
    raise SettingsError(
        "no Chromium found: install Debian's 'chromium' package or set BROWSER_EXECUTABLE"
    )


@dataclass(frozen=True)
class EngineSettings:
    """Everything the engine needs from its environment."""

    browser_executable: str
    artifacts_dir: Path
    allow_private_networks: bool = False
    url_allowlist: tuple[str, ...] = ()
    display: str | None = None
    extra_browser_args: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls) -> EngineSettings:
        """Read ``BROWSER_EXECUTABLE``, ``ARTIFACTS_URL``, ``ALLOW_PRIVATE_NETWORKS``,
        ``URL_ALLOWLIST`` and ``DISPLAY``."""
        return cls(
            browser_executable=find_browser(),
            artifacts_dir=artifacts_dir_from_url(env_str("ARTIFACTS_URL", "file://./artifacts")),
            allow_private_networks=env_bool("ALLOW_PRIVATE_NETWORKS"),
            url_allowlist=tuple(env_list("URL_ALLOWLIST")),
            display=env_str("DISPLAY") or None,
            extra_browser_args=tuple(env_list("BROWSER_EXTRA_ARGS")),
        )


def artifacts_dir_from_url(url: str) -> Path:
    """The local folder of ``ARTIFACTS_URL`` (``file:///abs``, ``file://./rel`` or a plain path)."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://")).resolve()
    if "://" in url:
        raise SettingsError(f"ARTIFACTS_URL={url!r}: only file:// (a local folder) is supported yet")
    return Path(url).resolve()
