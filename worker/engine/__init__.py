"""The automation engine: slots of warm Chromium, the step runner, the URL policy, artifacts.

Plain code with no Celery in it: the worker's task and the local CLI both drive a ``Slot``.
"""

from worker.engine.artifacts import ArtifactStore, LocalArtifactStore
from worker.engine.slot import Slot
from worker.engine.url_policy import UrlBlocked, UrlPolicy

__all__ = ["ArtifactStore", "LocalArtifactStore", "Slot", "UrlBlocked", "UrlPolicy"]
