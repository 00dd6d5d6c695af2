"""API tokens over the API: list, create (shown once), revoke."""

from __future__ import annotations

from flask import abort, g, jsonify

from main_app.api import bp
from main_app.api.auth import api_login_required
from main_app.api.body import json_body
from main_app.services.accounts import AccountError, create_token, revoke_token


def describe(token) -> dict:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "created_at": token.created_at,
            "last_used_at": token.last_used_at, "revoked": token.revoked_at is not None}


@bp.get("/me")
@api_login_required
def me():
    return jsonify({"id": g.user.id, "email": g.user.email, "role": g.user.role})


@bp.get("/tokens")
@api_login_required
def list_tokens():
    return jsonify({"tokens": [describe(t) for t in g.user.tokens]})


@bp.post("/tokens")
@api_login_required
def new_token():
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"name"}:
        abort(400, "send {\"name\": \"...\"}")
    try:
        record, secret = create_token(g.user, body.get("name", ""))
    except AccountError as exc:
        abort(400, str(exc))
    return jsonify({**describe(record), "token": secret,
                    "note": "this is the only time the token is shown: store it now"}), 201


@bp.delete("/tokens/<int:token_id>")
@api_login_required
def delete_token(token_id: int):
    if not revoke_token(g.user, token_id):
        abort(404, f"you have no live token {token_id}")
    return jsonify({"id": token_id, "revoked": True})
