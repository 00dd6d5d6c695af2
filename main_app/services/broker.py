"""The main app's Redis and Celery clients (made once per app, used by the services).

The Celery app here has no tasks: it sends ``automation.run`` by name, the contract with the
worker, and never imports the worker's task code.
"""

from __future__ import annotations

import redis
from celery import Celery
from flask import Flask, current_app

from main_app.settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Attach a Redis client and a Celery client to ``app`` (no connection is made yet)."""
    celery = Celery("pilothouse-main", broker=settings.redis_url, backend=settings.redis_url)
    celery.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json",
                       broker_connection_retry_on_startup=True, broker_connection_timeout=5,
                       broker_transport_options={"socket_timeout": 5, "socket_connect_timeout": 5})
    app.extensions["pilothouse.redis"] = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
        health_check_interval=30)
    app.extensions["pilothouse.celery"] = celery


def redis_client(app: Flask | None = None) -> redis.Redis:
    """The app's Redis client (decoded strings)."""
    return (app or current_app).extensions["pilothouse.redis"]


def celery_client(app: Flask | None = None) -> Celery:
    """The app's Celery client, for ``send_task`` and ``control.revoke``."""
    return (app or current_app).extensions["pilothouse.celery"]
