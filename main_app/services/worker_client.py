"""The one way the main app calls the worker API: timeouts, the shared secret, clear errors."""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT_S = (3.05, 10)  # connect, read


class WorkerUnavailable(RuntimeError):
    """The worker API did not answer, or answered with an error; the message says which."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class WorkerClient:
    """Calls ``WORKER_SERVICE_URL`` with ``Authorization: Bearer WORKER_API_TOKEN``."""

    def __init__(self, base_url: str, token: str, timeout: tuple[float, float] = TIMEOUT_S):
        self.base_url, self.token, self.timeout = base_url.rstrip("/"), token, timeout
        self.http = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            return self.http.request(method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout,
                                     **kwargs)
        except requests.RequestException as exc:
            raise WorkerUnavailable(f"the worker API at {self.base_url} did not answer: "
                                    f"{type(exc).__name__}") from None

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text[:200]}
        if response.status_code >= 400 and path != "/health":
            raise WorkerUnavailable(body.get("error") or f"HTTP {response.status_code}", response.status_code)
        return {**body, "http_status": response.status_code}

    def artifact(self, task_id: str, filename: str) -> bytes:
        """A file of a task from the worker's own artifact store."""
        response = self._request("GET", f"/api/artifacts/{task_id}/{filename}")
        if response.status_code != 200:
            raise WorkerUnavailable(f"the worker has no {filename} of task {task_id}", response.status_code)
        return response.content

    def health(self) -> dict[str, Any]:
        """``/health`` (200 or 503, with the failing parts)."""
        return self._call("GET", "/health")

    def sessions(self) -> dict[str, Any]:
        """Slots and running tasks of the worker that answered."""
        return self._call("GET", "/api/sessions")

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/sessions/{task_id}/cancel")

    def take_control(self, task_id: str, by: str) -> dict[str, Any]:
        """Give ``by`` the task's browser; the answer holds the control token."""
        return self._call("POST", f"/api/sessions/{task_id}/control", json={"by": by})

    def release_control(self, task_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/api/sessions/{task_id}/control")
