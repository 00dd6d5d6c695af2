"""gunicorn settings of the main app: ``gunicorn -c main_app/gunicorn_conf.py 'main_app:create_app()'``.

Threaded workers, so that live-view websockets and event streams (each holds a thread while
open) do not starve ordinary requests; each worker process runs the recorder.
"""

from __future__ import annotations

import os

bind = f"[::]:{os.environ.get('PORT', '5000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Apps are made in each worker after the fork (no preload): the recorder's thread and the
# Redis and database connections belong to the process that uses them.
preload_app = False


def post_worker_init(worker) -> None:
    """Start this worker process's recorder (the app was made in this process)."""
    from main_app.services.recorder import Recorder

    app = worker.wsgi
    if os.environ.get("RECORDER_ENABLED", "1") != "0":
        app.extensions["pilothouse.recorder"] = Recorder(app).start()
