"""A task's artifacts (screenshots, PDFs, traces) in the main app's artifact store.

On one machine the worker writes them straight into it (``ARTIFACTS_URL`` is the same folder).
When the services do not share a store (two Railway services), the recorder copies each
finished task's artifacts from the worker API into this one, so they outlive the worker's
container; the artifact route tries again if that copy failed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from flask import current_app

from main_app.models import Task
from main_app.services.worker_client import WorkerUnavailable

log = logging.getLogger(__name__)


def listed(task: Task) -> list[dict[str, Any]]:
    """The artifacts of a task's result, each with its file name and download path."""
    out = []
    for meta in (task.result or {}).get("artifacts") or []:
        filename = Path(meta.get("key", "")).name
        out.append({**meta, "filename": filename,
                    "url": f"/api/v1/tasks/{task.id}/artifacts/{filename}"})
    return out


def find(task: Task, name: str) -> tuple[dict[str, Any], Path | None] | None:
    """(metadata, local path or None) of the artifact called ``name`` (file name, or the
    step's name without extension); None when the task has no such artifact."""
    for meta in listed(task):
        if name in (meta["filename"], meta.get("name")):
            return meta, _local_path(task.id, meta.get("key", ""))
    return None


def _target(task_id: str, key: str) -> Path | None:
    """Where ``key`` lives in the local store; None unless inside the task's own folder."""
    root = current_app.config["PILOTHOUSE"].artifacts_dir
    path = (root / key).resolve()
    return path if path.parent == (root / task_id).resolve() else None


def _local_path(task_id: str, key: str) -> Path | None:
    path = _target(task_id, key)
    return path if path is not None and path.is_file() else None


def collect(task_id: str, result: dict[str, Any]) -> int:
    """Copy the artifacts of ``result`` this store lacks from the worker API; return how many
    were copied. A failure is logged, never raised: the result stands without the file."""
    copied = 0
    for meta in result.get("artifacts") or []:
        path = _target(task_id, meta.get("key", ""))
        if path is None or path.is_file():
            continue
        try:
            data = current_app.extensions["pilothouse.worker"].artifact(task_id, path.name)
        except WorkerUnavailable as exc:
            log.warning("task %s: could not copy %s from the worker: %s", task_id, path.name, exc)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
        copied += 1
    return copied
