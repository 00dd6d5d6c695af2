"""Every error is JSON with a message a person can act on."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


def error(status: int, message: str, **extra: object):
    """A JSON error response."""
    return jsonify({"error": message, **extra}), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error(500, f"internal error: {type(exc).__name__}")
