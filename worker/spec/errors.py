"""Turn pydantic's validation errors into messages that name the step and the field."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import ValidationError


class SpecError(ValueError):
    """A task spec is invalid; ``errors`` lists each problem as ``{"loc", "message"}``."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        parts = (f"{e['loc']}: {e['message']}" if e["loc"] else e["message"] for e in errors)
        super().__init__("; ".join(parts))


def _where(loc: tuple[Any, ...], data: Any) -> tuple[str, Any, tuple[Any, ...]]:
    """Split a pydantic location into a readable place, the model there and the field path."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        index, rest = loc[1], loc[2:]
        steps = data.get("steps") if isinstance(data, dict) else None
        step = steps[index] if isinstance(steps, list) and index < len(steps) else None
        action = step.get("action") if isinstance(step, dict) else None
        if rest and rest[0] == action:  # the discriminated union puts the tag in the path
            rest = rest[1:]
        place = f"steps[{index}] ({action})" if isinstance(action, str) else f"steps[{index}]"
        return place, step, rest
    return "", data, loc


def _field_names(field: str, action: Any) -> list[str]:
    """The fields allowed where ``field`` was found: a step's, the viewport's or the task's."""
    from worker.spec.steps import STEP_MODELS
    from worker.spec.task import TaskSpec, Viewport

    for model in STEP_MODELS:
        if model.model_fields["action"].annotation.__args__[0] == action:
            return list(model.model_fields)
    return list(Viewport.model_fields if field.startswith("viewport.") else TaskSpec.model_fields)


def _message(err: dict[str, Any], field: str, step: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "extra_forbidden":
        action = step.get("action") if isinstance(step, dict) else None
        names = _field_names(field, action)
        close = difflib.get_close_matches(field.split(".")[-1], names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown field '{field}'{hint}"
    if kind == "union_tag_invalid":
        from worker.spec.steps import ACTIONS

        close = difflib.get_close_matches(str(ctx.get("tag")), ACTIONS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown action '{ctx.get('tag')}'{hint}; valid actions: {', '.join(ACTIONS)}"
    if kind == "union_tag_not_found":
        return "each step needs an 'action'"
    if kind == "literal_error" and field == "version":
        return "unsupported spec version; use 1"
    if kind == "string_pattern_mismatch" and "A-Za-z0-9_.-" in str(ctx.get("pattern")):
        return "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
    text = err["msg"].removeprefix("Value error, ")
    return re.sub(r"^(Input|String|List|Value) should (be|have)", r"must \2", text)


def format_validation_error(exc: ValidationError, data: Any) -> list[dict[str, str]]:
    """One ``{"loc", "message"}`` per problem, e.g. ``steps[2] (click)``: ``'selector' is required``."""
    out = []
    for err in exc.errors(include_url=False):
        place, step, rest = _where(tuple(err["loc"]), data)
        field = ".".join(str(p) for p in rest)
        message = _message(err, field, step)
        if place and field and not message.startswith((f"'{field}'", "unknown field")):
            message = f"'{field}' {message}" if message.startswith("must") else f"'{field}': {message}"
        out.append({"loc": place or field, "message": message})
    return out
