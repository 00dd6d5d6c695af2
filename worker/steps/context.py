"""What a step plug-in gets to work with: the page, its time budget and a place for outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from playwright.async_api import BrowserContext, Page

from worker.spec import Artifact, TaskSpec

SaveArtifact = Callable[[str, Literal["screenshot", "pdf", "trace"], bytes, str], Artifact]


@dataclass
class StepContext:
    """Shared by the steps of one task run."""

    page: Page
    context: BrowserContext
    spec: TaskSpec
    save_artifact: SaveArtifact
    check_url: Callable[[str], None]
    extracted: dict[str, Any] = field(default_factory=dict)
    timeout_ms: float = 30_000
    step_index: int | None = None
