"""Where task files go. ``ArtifactStore`` is the interface; ``LocalArtifactStore`` keeps them in
a folder (one sub-folder per task). An S3-compatible store can implement the same three methods."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ArtifactStore(Protocol):
    def put(self, task_id: str, filename: str, data: bytes, content_type: str) -> str:
        """Store ``data``; return its key (unique within the task)."""

    def read(self, key: str) -> bytes:
        """The bytes stored under ``key``."""

    def path(self, key: str) -> Path | None:
        """A local path for ``key`` when the store has one (the CLI prints it)."""


def is_safe_task_id(task_id: str) -> bool:
    """True when ``task_id`` can name a folder (UUIDs and similar)."""
    return bool(SAFE_PART.match(task_id))


def _safe(part: str, what: str) -> str:
    if not SAFE_PART.match(part):
        raise ValueError(f"unsafe {what} for an artifact: {part!r}")
    return part


class LocalArtifactStore:
    """Artifacts as files under ``root/<task_id>/``."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    def put(self, task_id: str, filename: str, data: bytes, content_type: str) -> str:
        folder = self.root / _safe(task_id, "task id")
        folder.mkdir(parents=True, exist_ok=True)
        stem, dot, ext = _safe(filename, "file name").rpartition(".")
        candidate, n = filename, 1
        while (folder / candidate).exists():  # two steps may use the same name
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}" if dot else f"{filename}-{n}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / candidate)
        return f"{task_id}/{candidate}"

    def path(self, key: str) -> Path:
        task_id, _, filename = key.partition("/")
        return self.root / _safe(task_id, "task id") / _safe(filename, "file name")

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()
