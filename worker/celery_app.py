"""The worker's Celery app: the only entry point (``celery -A worker.celery_app worker``).

Configured from the environment (docs/worker-service.md). Each pool process owns one slot,
made after the fork and closed when the process exits.
"""

from __future__ import annotations

import logging

import redis
from billiard.process import current_process
from celery import Celery, signals

from worker.settings import EngineSettings, WorkerSettings
from worker.spec.channels import TIME_LIMIT_MARGIN_S, VISIBILITY_TIMEOUT_S
from worker.spec.task import MAX_TASK_TIMEOUT_S

log = logging.getLogger("worker")
SOFT_SHUTDOWN_MARGIN_S = 5


def make_app(settings: WorkerSettings) -> Celery:
    """A Celery app for ``settings`` (no connection is made until it is used)."""
    app = Celery("pilothouse-worker", broker=settings.redis_url, backend=settings.redis_url,
                 include=["worker.tasks"])
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=settings.queue,
        worker_concurrency=settings.concurrency,
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=int(MAX_TASK_TIMEOUT_S) + TIME_LIMIT_MARGIN_S,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        result_expires=7 * 24 * 3600,
        result_extended=True,
        worker_max_tasks_per_child=settings.max_tasks_per_child,
        worker_max_memory_per_child=settings.max_memory_per_child_mb * 1024,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        # SIGTERM (a redeploy) is remapped to a soft shutdown by the start script: running tasks
        # get the draining time to finish, then whatever still runs goes back to the queue.
        worker_soft_shutdown_timeout=max(settings.draining_seconds - SOFT_SHUTDOWN_MARGIN_S, 1),
    )
    return app


SETTINGS = WorkerSettings.from_env()
app = make_app(SETTINGS)
_runtime = None


def runtime():
    """This pool process's slot (made on first use if the process-init hook did not run)."""
    global _runtime
    if _runtime is None:
        _start_slot()
    return _runtime


def redis_client() -> redis.Redis:
    return runtime().client


@signals.worker_process_init.connect
def _start_slot(**_: object) -> None:
    global _runtime
    from worker.service.runtime import SlotRuntime

    index = getattr(current_process(), "index", 0) or 0
    client = redis.Redis.from_url(SETTINGS.redis_url, health_check_interval=30, socket_keepalive=True)
    _runtime = SlotRuntime(SETTINGS, EngineSettings.from_env(), index, client).start()
    log.info("slot %d ready on display %s", index, _runtime.display)


@signals.worker_process_shutdown.connect
def _stop_slot(**_: object) -> None:
    if _runtime is not None:
        _runtime.close()


@signals.worker_ready.connect
def _announce(**_: object) -> None:
    log.warning("Started processing jobs from queue: %s", SETTINGS.queue)
