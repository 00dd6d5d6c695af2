"""What a task returns: per-step records, extracted values, artifacts and page facts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TaskStatus = Literal["succeeded", "failed", "cancelled", "timed_out"]
StepStatus = Literal["succeeded", "failed", "cancelled", "timed_out", "skipped"]
# Why a task failed; "browser_crashed" is the one kind worth retrying on another browser.
ErrorKind = Literal[
    "step_failed", "url_blocked", "timeout", "cancelled", "browser_crashed", "worker_lost", "internal"
]


class Artifact(BaseModel):
    """A file a task produced, stored under ``key`` in the artifact store."""

    name: str
    kind: Literal["screenshot", "pdf", "trace"]
    key: str = Field(description="Location in the artifact store, e.g. '<task_id>/shot.png'.")
    content_type: str
    size_bytes: int
    step_index: int | None = None


class ConsoleMessage(BaseModel):
    """A console error or an uncaught page exception."""

    kind: Literal["console", "pageerror"]
    text: str
    url: str | None = None


class BlockedRequest(BaseModel):
    """A request the URL policy refused."""

    url: str
    rule: str
    navigation: bool = False


class StepResult(BaseModel):
    index: int | None = Field(description="Position in 'steps'; null for the start_url navigation.")
    action: str
    status: StepStatus
    duration_ms: float = 0.0
    error: str | None = None
    value: Any = Field(default=None, description="What an extract or evaluate step returned.")


class TaskResult(BaseModel):
    task_id: str
    status: TaskStatus
    error: str | None = None
    error_kind: ErrorKind | None = None
    steps: list[StepResult] = Field(default_factory=list)
    extracted: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[Artifact] = Field(default_factory=list)
    final_url: str | None = None
    title: str | None = None
    console_errors: list[ConsoleMessage] = Field(default_factory=list)
    blocked_requests: list[BlockedRequest] = Field(default_factory=list)
    started_at: float = Field(description="Unix time.")
    finished_at: float = Field(description="Unix time.")
    duration_ms: float

    @property
    def retryable(self) -> bool:
        """True when the browser, not the task, failed: another attempt may succeed."""
        return self.error_kind == "browser_crashed"
