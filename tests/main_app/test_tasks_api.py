"""REST API v1 over real HTTP: a task from submission to its recorded result."""

from __future__ import annotations

from tests.main_app.conftest import quick_spec


def test_a_task_runs_and_its_result_is_recorded(alice, pages):
    answer = alice.api("POST", "/api/v1/tasks", json=quick_spec(pages))
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert task["status"] == "queued" and task["queue_position"] >= 1
    assert answer.headers["Location"] == f"/api/v1/tasks/{task['id']}"

    done = alice.wait_final(task["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["extracted"] == {"heading": "Quick"}
    assert done["started_at"] <= done["finished_at"] and done["attempts"] == 1
