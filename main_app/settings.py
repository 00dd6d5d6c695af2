"""The main app's settings, read from the environment with typed helpers and safe defaults.

Every variable has a default for local use or a start-up error that names it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


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


def on_railway() -> bool:
    """Railway sets these in every deployment."""
    names = ("RAILWAY_ENVIRONMENT", "RAILWAY_ENVIRONMENT_NAME", "RAILWAY_PROJECT_ID")
    return any(env_str(name) for name in names)


def database_url(raw: str) -> str:
    """SQLAlchemy's URL for ``DATABASE_URL``: ``postgres://`` (Railway's form) becomes
    ``postgresql+psycopg://``; a relative SQLite path is taken from the repository root."""
    if raw.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if raw.startswith("sqlite:///") and not raw.startswith("sqlite:////"):
        return f"sqlite:///{(ROOT / raw.removeprefix('sqlite:///')).resolve()}"
    if "://" not in raw:
        raise SettingsError(f"DATABASE_URL={raw!r}: expected postgresql://... or sqlite:///path")
    return raw


def recorder_group(url: str) -> str:
    """The recorder's consumer group for the database at ``url``: the same for every replica of
    a deployment, another for another database (credentials play no part)."""
    parsed = make_url(url)
    where = f"{parsed.get_backend_name()}://{parsed.host or ''}:{parsed.port or ''}/{parsed.database or ''}"
    return "recorder:" + hashlib.sha256(where.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Settings:
    """Everything the main app reads from its environment (documented in .env.example)."""

    secret_key: str
    database_url: str
    redis_url: str
    queue: str
    worker_service_url: str
    worker_api_token: str
    artifacts_dir: Path
    signup_enabled: bool = True
    demo_site_url: str = ""
    public_origin: str = ""
    max_body_bytes: int = 256 * 1024
    login_rate_limit: str = "10 per minute"
    session_cookie_secure: bool = False
    trust_proxy: bool = False  # behind Railway's proxy: client address and scheme from X-Forwarded-*
    # the recorder's housekeeping: how often, and when a running task counts as orphaned
    housekeeping_s: float = 10.0
    vanished_quiet_s: float = 30.0
    vanished_confirm_s: float = 20.0
    reclaim_idle_ms: int = 30_000
    recorder_group: str = "recorder"

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment; errors name the variable."""
        secret = env_str("SECRET_KEY")
        production = on_railway() or env_bool("PRODUCTION")
        if not secret:
            if production:
                raise SettingsError("SECRET_KEY is not set: sessions and CSRF tokens need a secret")
            secret = "dev-only-insecure-secret-key"  # local development only (README)
        database = database_url(env_str("DATABASE_URL", "sqlite:///instance/pilothouse.db"))
        if production and not env_str("WORKER_API_TOKEN"):
            raise SettingsError("WORKER_API_TOKEN is not set: the worker API needs the shared secret")
        return cls(
            secret_key=secret,
            database_url=database,
            redis_url=env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
            queue=env_str("JOB_QUEUE_NAME", "automation"),
            worker_service_url=env_str("WORKER_SERVICE_URL", "http://127.0.0.1:8081").rstrip("/"),
            worker_api_token=env_str("WORKER_API_TOKEN"),
            artifacts_dir=artifacts_dir_from_url(env_str("ARTIFACTS_URL", "file://./artifacts")),
            signup_enabled=env_bool("SIGNUP_ENABLED", True),
            demo_site_url=env_str("DEMO_SITE_URL").rstrip("/"),
            public_origin=env_str("PUBLIC_ORIGIN").rstrip("/"),
            max_body_bytes=env_int("MAX_BODY_BYTES", 256 * 1024, minimum=1024),
            login_rate_limit=env_str("LOGIN_RATE_LIMIT", "10 per minute"),
            session_cookie_secure=env_bool("SESSION_COOKIE_SECURE", production),
            trust_proxy=env_bool("TRUST_PROXY", on_railway()),
            housekeeping_s=env_int("RECORDER_HOUSEKEEPING_S", 10, minimum=1),
            vanished_quiet_s=env_int("VANISHED_AFTER_S", 30, minimum=1),
            vanished_confirm_s=env_int("VANISHED_CONFIRM_S", 20, minimum=1),
            reclaim_idle_ms=env_int("RECORDER_RECLAIM_IDLE_MS", 30_000, minimum=100),
            recorder_group=env_str("RECORDER_GROUP") or recorder_group(database),
        )


def artifacts_dir_from_url(url: str) -> Path:
    """The local folder of ``ARTIFACTS_URL`` (``file:///abs``, ``file://./rel`` or a plain path)."""
    if url.startswith("file://"):
        path = Path(url.removeprefix("file://"))
    elif "://" in url:
        raise SettingsError(f"ARTIFACTS_URL={url!r}: only file:// (a local folder) is supported yet")
    else:
        path = Path(url)
    return (path if path.is_absolute() else ROOT / path).resolve()
