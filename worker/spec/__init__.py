"""The task spec: the contract between the main app and the worker.

Depends on the standard library and pydantic only, so the main app can import it.
"""

from worker.spec.channels import TASK_NAME, RunRequest
from worker.spec.errors import SpecError, format_validation_error
from worker.spec.result import Artifact, BlockedRequest, ConsoleMessage, StepResult, TaskResult
from worker.spec.steps import ACTIONS, Step
from worker.spec.task import SPEC_VERSION, TaskSpec, Viewport, json_schema, parse_spec

__all__ = [
    "ACTIONS",
    "SPEC_VERSION",
    "TASK_NAME",
    "Artifact",
    "BlockedRequest",
    "ConsoleMessage",
    "RunRequest",
    "SpecError",
    "Step",
    "StepResult",
    "TaskResult",
    "TaskSpec",
    "Viewport",
    "format_validation_error",
    "json_schema",
    "parse_spec",
]
