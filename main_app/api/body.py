"""Reading a JSON request body, with errors that say what is wrong (and nothing written)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, current_app, request

MAX_DEPTH = 64  # arrays and objects in arrays and objects...: enough for any spec, safe to walk


def _no_constant(name: str) -> Any:
    # json.loads takes NaN and Infinity, which are not JSON (PostgreSQL's JSON refuses them)
    raise ValueError(f"{name} is not a JSON value")


def json_body() -> Any:
    """The parsed body; 415 for another content type, 400 for malformed JSON, 413 when too big."""
    if request.mimetype != "application/json":
        abort(415, f"send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})")
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH (when the client says its length)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    # a streamed (chunked) body is cut at the limit without a word: look past the cut
    if (request.content_length is None and limit is not None and len(raw) >= limit
            and request.environ["wsgi.input"].read(1)):
        abort(413)
    if not raw.strip():
        abort(400, "the request body is empty: send a JSON document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        abort(400, f"the body is not UTF-8 text (bad byte at offset {exc.start})")
    too_deep = f"the body's JSON nests arrays and objects deeper than {MAX_DEPTH} levels"
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        abort(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:
        abort(400, f"the body is not valid JSON: {exc}")
    except RecursionError:  # deeper than Python can even parse
        abort(400, too_deep)
    if _depth(body) > MAX_DEPTH:  # the database's and Celery's JSON encoders recurse: keep it shallow
        abort(400, too_deep)
    return body


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (without recursion)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                todo.extend((child, level + 1) for child in children)
    return deepest
