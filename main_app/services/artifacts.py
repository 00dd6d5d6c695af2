"""A task's artifacts (screenshots, PDFs, traces) in the artifact store the worker wrote to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app

from main_app.models import Task


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


def _local_path(task_id: str, key: str) -> Path | None:
    """The file behind ``key`` in the local store, only inside the task's own folder."""
    root = current_app.config["PILOTHOUSE"].artifacts_dir
    path = (root / key).resolve()
    if path.parent != (root / task_id).resolve() or not path.is_file():
        return None
    return path
