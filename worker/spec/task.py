"""The task: options and an ordered list of steps (spec version 1)."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from worker.spec.errors import SpecError, format_validation_error
from worker.spec.steps import Goto, Step, check_url, is_relative

SPEC_VERSION = 1
MAX_STEPS = 500
MAX_TASK_TIMEOUT_S = 3600.0


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    width: int = Field(default=1280, ge=200, le=3840)
    height: int = Field(default=720, ge=200, le=2160)


class TaskSpec(BaseModel):
    """A browser task: where to start, how the browser looks, and the steps to run."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Pilothouse task spec")

    version: Literal[1] = Field(description="Spec version; always 1 for now.")
    name: str | None = Field(default=None, max_length=200)
    start_url: str | None = Field(default=None, max_length=8000, description="Opened first.")
    base_url: str | None = Field(
        default=None, max_length=8000, description="Relative URLs in the task resolve against it."
    )
    viewport: Viewport = Field(default_factory=Viewport)
    user_agent: str | None = Field(default=None, min_length=1, max_length=1000)
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timezone: str | None = Field(default=None, max_length=64, description="IANA name.")
    timeout_s: float = Field(default=120, gt=0, le=MAX_TASK_TIMEOUT_S, description="Whole task.")
    live_view: bool = Field(default=True, description="Stream the browser to viewers.")
    trace: bool = Field(default=False, description="Record a Playwright trace artifact.")
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1 in Python, not in JSON
            raise ValueError("must be the number 1")
        return value

    @field_validator("start_url", "base_url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("base_url")
    @classmethod
    def _absolute_base(cls, value: str | None) -> str | None:
        if value is not None and is_relative(value):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _relative_urls_need_base(self) -> TaskSpec:
        if self.start_url is None and not self.steps:
            raise ValueError("a task needs a 'start_url' or at least one step")
        if self.base_url is None:
            if self.start_url is not None and is_relative(self.start_url):
                raise ValueError(f"'start_url' {self.start_url!r} is relative: add 'base_url'")
            for i, step in enumerate(self.steps):
                if isinstance(step, Goto) and is_relative(step.url):
                    raise ValueError(
                        f"steps[{i}] (goto): url {step.url!r} is relative: add 'base_url'"
                    )
        return self

    def resolve(self, url: str) -> str:
        """An absolute URL for ``url``, resolved against ``base_url`` when relative."""
        return urljoin(self.base_url, url) if self.base_url and is_relative(url) else url


def parse_spec(data: str | bytes | dict[str, Any]) -> TaskSpec:
    """Validate a spec given as JSON text or a dict; raise ``SpecError`` naming what is wrong."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError([{"loc": "", "message": f"not valid JSON: {exc}"}]) from None
    if not isinstance(data, dict):
        raise SpecError([{"loc": "", "message": "a task spec must be a JSON object"}])
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, data)) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the task spec, as published by the API."""
    schema = TaskSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
