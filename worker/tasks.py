"""Celery tasks: thin adapters over ``worker.service``. ``automation.run`` is the contract
with the main app, which sends it by name with a ``RunRequest``'s fields."""

from __future__ import annotations

from typing import Any

from worker.celery_app import SETTINGS, app, runtime
from worker.service.execution import MAX_ATTEMPTS, RetryLater, execute
from worker.spec import TASK_NAME, RunRequest


@app.task(name=TASK_NAME, bind=True, max_retries=MAX_ATTEMPTS)
def run_automation(self, task_id: str, spec: dict[str, Any], owner: str = "",
                   queued_at: float | None = None) -> dict[str, Any]:
    """Run one task spec on this process's slot and return its result."""
    request = RunRequest(task_id=task_id, spec=spec, owner=owner, queued_at=queued_at)
    slot = runtime()
    try:
        return execute(request, slot, slot.client, SETTINGS)
    except RetryLater as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from None
