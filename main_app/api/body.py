"""Reading a JSON request body, with errors that say what is wrong (and nothing written)."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, request


def json_body() -> Any:
    """The parsed body; 415 for another content type, 400 for malformed JSON, 413 when too big."""
    if request.mimetype != "application/json":
        abort(415, f"send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})")
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    if not raw.strip():
        abort(400, "the request body is empty: send a JSON document")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        abort(400, "the body is not UTF-8 text")
    except json.JSONDecodeError as exc:
        abort(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
