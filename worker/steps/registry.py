"""Step kinds register here by action name; the engine looks them up the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from worker.steps.context import StepContext

StepFn = Callable[[Any, StepContext], Awaitable[Any]]
F = TypeVar("F", bound=StepFn)
_KINDS: dict[str, StepFn] = {}


def step_kind(action: str) -> Callable[[F], F]:
    """Register the decorated coroutine as the implementation of ``action``."""

    def register(fn: F) -> F:
        if action in _KINDS:
            raise RuntimeError(f"step kind {action!r} registered twice")
        _KINDS[action] = fn
        return fn

    return register


def implementation(action: str) -> StepFn:
    """The coroutine that runs ``action``; KeyError names an unknown action."""
    return _KINDS[action]


def registered_actions() -> frozenset[str]:
    """Every action with an implementation."""
    return frozenset(_KINDS)
