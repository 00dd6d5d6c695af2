"""Plain functions of the main app, tested without a broker, a server or a browser."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from main_app import settings
from main_app.api.openapi import openapi_document
from main_app.services import live
from main_app.services.recorder import apply_to_task
from main_app.services.templates_lib import load_templates
from worker.spec import parse_spec


def test_database_urls_people_paste_work():
    assert settings.database_url("postgres://u:p@db:5432/app") == "postgresql+psycopg://u:p@db:5432/app"
    assert settings.database_url("postgresql://db/app") == "postgresql+psycopg://db/app"
    assert settings.database_url("sqlite:///instance/x.db") == f"sqlite:///{settings.ROOT / 'instance/x.db'}"
    assert settings.database_url("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    with pytest.raises(settings.SettingsError, match="DATABASE_URL"):
        settings.database_url("just-a-name")


@pytest.mark.parametrize(("env", "message"), [
    ({"SIGNUP_ENABLED": "maybe"}, "SIGNUP_ENABLED='maybe'"),
    ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES='lots': expected a whole number"),
    ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES=10: must be at least 1024"),
    ({"ARTIFACTS_URL": "s3://bucket"}, "ARTIFACTS_URL='s3://bucket'"),
    ({"RAILWAY_ENVIRONMENT_NAME": "production"}, "SECRET_KEY is not set"),
    ({"RAILWAY_ENVIRONMENT_NAME": "production", "SECRET_KEY": "s"}, "WORKER_API_TOKEN is not set"),
])
def test_a_bad_setting_is_refused_naming_the_variable(monkeypatch, env, message):
    for name in ("SECRET_KEY", "WORKER_API_TOKEN", "RAILWAY_ENVIRONMENT", "RAILWAY_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=re.escape(message)):
        settings.Settings.from_env()


def test_the_local_defaults_need_nothing(monkeypatch):
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RAILWAY_ENVIRONMENT", "RAILWAY_ENVIRONMENT_NAME",
                 "RAILWAY_PROJECT_ID", "PRODUCTION"):
        monkeypatch.delenv(name, raising=False)
    local = settings.Settings.from_env()
    assert local.database_url.startswith("sqlite:///") and local.redis_url.startswith("redis://")
    assert local.signup_enabled and not local.session_cookie_secure and not local.trust_proxy


class Row(SimpleNamespace):
    @property
    def final(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled", "timed_out")


def new_row(**fields) -> Row:
    return Row(**{"status": "queued", "started_at": None, "finished_at": None, "attempts": 0,
                  "worker_id": None, "result": None, "error": None, "error_kind": None,
                  "last_event_at": None, **fields})


def test_events_move_a_task_through_its_life_and_an_ended_task_never_changes():
    row = new_row()
    apply_to_task(row, {"type": "state", "state": "running", "attempt": 1, "worker_id": "w1"}, 10.0)
    assert (row.status, row.started_at, row.attempts, row.worker_id) == ("running", 10.0, 1, "w1")
    apply_to_task(row, {"type": "step_finished", "index": 0}, 11.0)
    assert row.status == "running" and row.last_event_at == 11.0
    apply_to_task(row, {"type": "state", "state": "retrying", "attempt": 2}, 12.0)
    assert row.status == "retrying"
    apply_to_task(row, {"type": "state", "state": "running", "attempt": 2, "worker_id": "w2"}, 13.0)
    assert (row.status, row.started_at, row.attempts, row.worker_id) == ("running", 10.0, 2, "w2")
    result = {"status": "failed", "error": "steps[0] (click): timed out", "error_kind": "step_failed"}
    apply_to_task(row, {"type": "state", "state": "failed", "result": result}, 14.0)
    assert (row.status, row.finished_at, row.error_kind) == ("failed", 14.0, "step_failed")
    # a late duplicate final state (e.g. cancelled as it ended) changes nothing
    apply_to_task(row, {"type": "state", "state": "cancelled", "result": {"status": "cancelled"}}, 15.0)
    assert (row.status, row.finished_at, row.result) == ("failed", 14.0, result)


def test_the_templates_are_the_examples_pointed_at_the_demo_site():
    templates = load_templates("http://127.0.0.1:8090")
    assert {t["id"] for t in templates} >= {"hello", "contact_form", "products", "slow_page"}
    for template in templates:
        spec = parse_spec(template["spec"])  # every template is a valid spec as shown
        assert spec.base_url == "http://127.0.0.1:8090/"
        assert list(template["spec"])[:3] == ["version", "name", "base_url"]  # reads well in the editor


def test_the_websocket_handshake_follows_rfc_6455():
    # the example of RFC 6455, section 1.3
    assert live.accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    answer = live.handshake_response("dGhlIHNhbXBsZSBub25jZQ==", "binary").decode()
    assert answer.startswith("HTTP/1.1 101 ") and "Sec-WebSocket-Protocol: binary\r\n" in answer
    assert answer.endswith("\r\n\r\n")
    frame = live.close_frame(1000, "bye")
    assert frame[0] == 0x88 and frame[1] == 5 and frame[2:4] == b"\x03\xe8" and frame[4:] == b"bye"


def test_every_reference_in_the_openapi_document_resolves():
    document = openapi_document()
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in document["components"]["schemas"], ref
    assert "#/$defs/" not in text


def test_the_recorder_group_follows_the_database_not_its_password():
    a = settings.recorder_group("postgresql+psycopg://app:one@db.internal:5432/pilothouse")
    assert a == settings.recorder_group("postgresql+psycopg://app:two@db.internal:5432/pilothouse")
    assert a != settings.recorder_group("postgresql+psycopg://app:one@db.internal:5432/staging")
    assert a.startswith("recorder:") and "one" not in a
    assert settings.recorder_group("sqlite:////tmp/a.db") != settings.recorder_group("sqlite:////tmp/b.db")


def test_states_that_reach_the_recorder_late_do_not_win():
    """Two recorders may commit a task's events out of order: the row keeps the latest state."""
    row = new_row()
    apply_to_task(row, {"type": "state", "state": "running", "attempt": 1, "worker_id": "w1"}, 2.0)
    apply_to_task(row, {"type": "state", "state": "queued"}, 1.0)  # the main app's, recorded second
    assert (row.status, row.started_at) == ("running", 2.0)
    # a lost worker: the reaper says retrying and queued for attempt 2, then a worker runs it
    apply_to_task(row, {"type": "state", "state": "running", "attempt": 2, "worker_id": "w2"}, 5.0)
    apply_to_task(row, {"type": "state", "state": "queued", "attempt": 2}, 4.0)
    apply_to_task(row, {"type": "state", "state": "retrying", "attempt": 2}, 3.0)
    apply_to_task(row, {"type": "state", "state": "running", "attempt": 1, "worker_id": "w1"}, 2.0)
    assert (row.status, row.attempts, row.worker_id, row.started_at) == ("running", 2, "w2", 2.0)
    # in order they apply as they come
    row = new_row()
    for state, attempt in (("running", 1), ("retrying", 2), ("queued", 2)):
        apply_to_task(row, {"type": "state", "state": state, "attempt": attempt}, 1.0)
        assert row.status == state
