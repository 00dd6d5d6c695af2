"""Errors: JSON with a message a person can act on for the API, a page for people."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "the request is malformed",
    401: "sign in first (or send Authorization: Bearer <API token>)",
    403: "you may not do that",
    404: "not found",
    405: "this method is not allowed here",
    413: "the request body is too large",
    415: "send JSON (Content-Type: application/json)",
    429: "too many requests; wait a moment and try again",
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/live/")) or request.accept_mimetypes.best == "application/json"


def json_error(status: int, message: str, **extra: object):
    """A JSON error response."""
    return jsonify({"error": message, "status": status, **extra}), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        message = f"the form's security token is missing or expired ({exc.description}); reload the page"
        if wants_json():
            return json_error(400, message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        # abort(status, "what is wrong") says it best; werkzeug's stock description (e.g. a
        # bare abort(401), or a URL no route matches) gives way to our shorter message
        stock = exc.description == type(exc).description
        message = exc.description if exc.description and not stock else MESSAGES.get(status, exc.name)
        if status == 413:
            message = f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        if wants_json():
            response, status = json_error(status, message)
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="pilothouse"'
            return response, status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, f"internal error ({type(exc).__name__}); it has been logged")
        return render_template("error.html", status=500, message="something went wrong on our side"), 500
