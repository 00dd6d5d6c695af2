"""The worker API: a small Flask app served by gunicorn (``worker.api:create_app()``).

Bearer ``WORKER_API_TOKEN`` on everything but ``/health``.
"""

from __future__ import annotations

import time

import redis
from celery import Celery
from flask import Flask

from worker.api import errors, routes
from worker.engine.artifacts import LocalArtifactStore
from worker.settings import SettingsError, WorkerSettings, artifacts_dir_from_url, env_str

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: WorkerSettings | None = None) -> Flask:
    """The API for ``settings`` (default: the environment); refuses to start without a token."""
    settings = settings or WorkerSettings.from_env()
    if not settings.api_token:
        raise SettingsError("WORKER_API_TOKEN is not set: the worker API needs a shared secret")
    app = Flask("worker.api")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.extensions["pilothouse"] = {
        "settings": settings,
        "redis": redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=5),
        "celery": Celery("pilothouse-api", broker=settings.redis_url, backend=settings.redis_url),
        "started": time.time(),
        "artifacts": LocalArtifactStore(artifacts_dir_from_url(env_str("ARTIFACTS_URL", "file://./artifacts"))),
    }
    app.extensions["pilothouse"]["celery"].conf.update(
        task_serializer="json", accept_content=["json"], result_serializer="json")
    errors.init_app(app)
    app.register_blueprint(routes.bp)
    return app
