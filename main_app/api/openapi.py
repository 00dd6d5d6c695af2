"""The OpenAPI 3.1 document of REST API v1, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

import json
from typing import Any

from main_app.models import TASK_STATES
from worker.spec import json_schema

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {400: "malformed request", 401: "not signed in / bad token", 403: "not allowed",
               404: "no such task (or not yours)", 409: "conflicts with the task's state",
               413: "body too large", 415: "not JSON", 422: "invalid task spec (names step and field)",
               503: "a service it needs is unreachable"}
    return {str(c): {"description": meaning[c], "content": {"application/json": {"schema": ERROR}}}
            for c in codes}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


def openapi_document() -> dict[str, Any]:
    """The document (the task spec's schema is embedded as a component)."""
    # the spec's own "$defs" become components: rewrite its references to point there
    spec_schema = json.loads(json.dumps(json_schema()).replace('"#/$defs/', '"#/components/schemas/'))
    defs = spec_schema.pop("$defs", {})
    spec_schema.pop("$schema", None)
    task = {"$ref": "#/components/schemas/Task"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pilothouse API", "version": "1",
                 "description": "Run browser tasks, follow them live, fetch their results. "
                                "Authenticate with 'Authorization: Bearer <API token>'."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/tasks": {
                "post": {"summary": "Queue a task", "operationId": "createTask",
                         "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                         "schema": {"type": "string", "maxLength": 200}}],
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": {"$ref": "#/components/schemas/TaskSpec"}}}},
                         "responses": {"201": _json(task, "queued"),
                                       "200": _json(task, "the task this Idempotency-Key made before"),
                                       **_errors(400, 401, 409, 413, 415, 422, 503)}},
                "get": {"summary": "My tasks, newest first", "operationId": "listTasks",
                        "parameters": [
                            {"name": "status", "in": "query", "schema": {"type": "string"},
                             "description": "comma-separated: " + ", ".join(TASK_STATES)},
                            {"name": "all", "in": "query", "schema": {"enum": ["1"]},
                             "description": "admins only: everyone's tasks"},
                            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                            {"name": "per_page", "in": "query",
                             "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
                        "responses": {"200": _json({"type": "object", "properties": {
                            "tasks": {"type": "array", "items": task}, "page": {"type": "integer"},
                            "per_page": {"type": "integer"}, "total": {"type": "integer"},
                            "pages": {"type": "integer"}}}, "a page of tasks"), **_errors(400, 401)}},
            },
            "/api/v1/tasks/{task_id}": {"get": {
                "summary": "One task, with its result once it ended", "operationId": "getTask",
                "parameters": [TASK_ID], "responses": {"200": _json(task, "the task"), **_errors(401, 404)}}},
            "/api/v1/tasks/{task_id}/cancel": {"post": {
                "summary": "Cancel (queued: never runs; running: stopped)", "operationId": "cancelTask",
                "parameters": [TASK_ID], "responses": {"202": {"description": "cancel requested"},
                                                       **_errors(401, 404, 409)}}},
            "/api/v1/tasks/{task_id}/control": {
                "post": {"summary": "Take control of the running task's browser (owner only)",
                         "operationId": "takeControl", "parameters": [TASK_ID],
                         "responses": {"200": {"description": "you have control"},
                                       **_errors(401, 403, 404, 409, 503)}},
                "delete": {"summary": "Hand control back", "operationId": "releaseControl",
                           "parameters": [TASK_ID],
                           "responses": {"200": {"description": "released"}, **_errors(401, 403, 404, 503)}}},
            "/api/v1/tasks/{task_id}/events": {"get": {
                "summary": "Server-sent events: the run from its start, then live, until it ends",
                "operationId": "taskEvents", "parameters": [TASK_ID],
                "responses": {"200": {"description": "text/event-stream",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              **_errors(401, 404)}}},
            "/api/v1/tasks/{task_id}/artifacts/{name}": {"get": {
                "summary": "A screenshot, PDF or trace of the task", "operationId": "getArtifact",
                "parameters": [TASK_ID, {"name": "name", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the file"}, **_errors(401, 404)}}},
            "/api/v1/me": {"get": {"summary": "Who I am (the token's or the session's user)",
                                   "operationId": "me",
                                   "responses": {"200": _json({"type": "object", "properties": {
                                       "id": {"type": "integer"}, "email": {"type": "string"},
                                       "role": {"enum": ["user", "admin"]}}}, "the caller"),
                                       **_errors(401)}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "operationId": "openapi",
                                             "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/v1/spec/schema": {"get": {"summary": "The task spec's JSON Schema", "security": [],
                                            "operationId": "specSchema",
                                            "responses": {"200": {"description": "JSON Schema"}}}},
            "/api/v1/spec/validate": {"post": {
                "summary": "Check a spec without running it", "operationId": "validateSpec",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
                "responses": {"200": {"description": "valid, or the errors"}, **_errors(400, 401, 415)}}},
            "/api/v1/tokens": {
                "get": {"summary": "My API tokens", "operationId": "listTokens",
                        "responses": {"200": {"description": "tokens (never the secrets)"}, **_errors(401)}},
                "post": {"summary": "Create an API token (shown once)", "operationId": "createToken",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "properties": {"name": {"type": "string"}},
                             "required": ["name"]}}}},
                         "responses": {"201": {"description": "the token, once"}, **_errors(400, 401)}}},
            "/api/v1/tokens/{token_id}": {"delete": {
                "summary": "Revoke a token", "operationId": "revokeToken",
                "parameters": [{"name": "token_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "revoked"}, **_errors(401, 404)}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **defs,
                "TaskSpec": spec_schema,
                "Error": {"type": "object", "required": ["error", "status"], "properties": {
                    "error": {"type": "string"}, "status": {"type": "integer"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "loc": {"type": "string"}, "message": {"type": "string"}}}}}},
                "Task": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "name": {"type": ["string", "null"]},
                    "status": {"enum": list(TASK_STATES)}, "owner": {"type": "string"},
                    "created_at": {"type": "number"}, "started_at": {"type": ["number", "null"]},
                    "finished_at": {"type": ["number", "null"]}, "attempts": {"type": "integer"},
                    "queue_position": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]}, "error_kind": {"type": ["string", "null"]},
                    "spec": {"type": "object"}, "result": {"type": ["object", "null"]},
                    "links": {"type": "object"}}},
            },
        },
    }
