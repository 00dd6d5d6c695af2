"""The worker's settings, read from the environment with typed helpers and safe defaults."""

from __future__ import annotations

import os
import shutil
import socket
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


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    """An integer; an error names the variable when it is not one (or below ``minimum``)."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name}={value}: must be at least {minimum}")
    return value


def display_number(value: str, name: str = "DISPLAY") -> int:
    """``:99`` (or ``:99.0``) -> 99."""
    try:
        return int(value.strip().lstrip(":").split(".")[0])
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a display like :99") from None


@dataclass(frozen=True)
class WorkerSettings:
    """The worker service's settings (see docs/worker-service.md)."""

    redis_url: str
    queue: str
    concurrency: int
    display_base: int
    vnc_port_base: int
    vnc_control_port_base: int
    novnc_port: int
    api_port: int
    api_token: str
    worker_id: str
    advertise_host: str
    draining_seconds: int
    max_tasks_per_child: int
    max_memory_per_child_mb: int

    @classmethod
    def from_env(cls) -> WorkerSettings:
        """Read the environment; errors name the variable."""
        return cls(
            redis_url=env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
            queue=env_str("JOB_QUEUE_NAME", "automation"),
            concurrency=env_int("JOB_CONCURRENCY", 2, minimum=1),
            display_base=display_number(env_str("DISPLAY", ":99")),
            vnc_port_base=env_int("VNC_PORT", 5900, minimum=1),
            vnc_control_port_base=env_int("VNC_CONTROL_PORT", env_int("VNC_PORT", 5900) + 100, minimum=1),
            novnc_port=env_int("NOVNC_PORT", 6080, minimum=1),
            api_port=env_int("PORT", 0) or env_int("WORKER_API_PORT", 8081, minimum=1),
            api_token=env_str("WORKER_API_TOKEN"),
            worker_id=env_str("WORKER_ID") or socket.gethostname(),
            advertise_host=env_str("WORKER_ADVERTISE_HOST") or env_str("RAILWAY_PRIVATE_DOMAIN", "127.0.0.1"),
            draining_seconds=env_int("RAILWAY_DEPLOYMENT_DRAINING_SECONDS", 60, minimum=0),
            max_tasks_per_child=env_int("WORKER_MAX_TASKS_PER_CHILD", 200, minimum=1),
            max_memory_per_child_mb=env_int("WORKER_MAX_MEMORY_PER_CHILD_MB", 1024, minimum=64),
        )

    def display(self, slot: int) -> str:
        """The X display of slot ``slot``."""
        return f":{self.display_base + slot}"

    def vnc_port(self, slot: int) -> int:
        """The loopback, view-only VNC port of slot ``slot``."""
        return self.vnc_port_base + slot

    def vnc_control_port(self, slot: int) -> int:
        """The loopback VNC port of slot ``slot`` that takes input (only a control token reaches it)."""
        return self.vnc_control_port_base + slot
