"""The Pilothouse main app: web UI, REST API, accounts, live-view gateway, task recorder.

``create_app()`` reads the environment (``main_app.settings``); ``config`` overrides it, as
the tests do. Served by gunicorn: ``gunicorn -c main_app/gunicorn_conf.py 'main_app:create_app()'``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import Flask

from main_app.settings import Settings

HERE = Path(__file__).resolve().parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``config``."""
    settings = (config or {}).get("PILOTHOUSE") or Settings.from_env()
    app = Flask(__name__, instance_path=str(HERE.parent / "instance"))
    app.config.update(
        PILOTHOUSE=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_KEY_PREFIX="pilothouse:ratelimit",
        RATELIMIT_HEADERS_ENABLED=True,
        STARTED_AT=time.time(),
    )
    app.config.update({k: v for k, v in (config or {}).items() if k != "PILOTHOUSE"})
    if settings.trust_proxy:  # one proxy in front (Railway's edge): its X-Forwarded-For/-Proto
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    from main_app import cli, errors
    from main_app.extensions import csrf, db, limiter, login_manager, migrate
    from main_app.services import broker, worker_client

    db.init_app(app)
    migrate.init_app(app, db, directory=str(HERE / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    broker.init_app(app, settings)
    app.extensions["pilothouse.worker"] = worker_client.WorkerClient(
        settings.worker_service_url, settings.worker_api_token)
    errors.init_app(app)
    cli.init_app(app)

    from main_app import admin, api, auth, live, ui

    for blueprint in (auth.bp, api.bp, ui.bp, live.bp, admin.bp):
        app.register_blueprint(blueprint)
    return app
