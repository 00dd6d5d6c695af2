"""The worker service as deployed: a private Redis, the whole supervisord stack, a page server.

One stack serves the whole session (starting one costs ~6 s); ``stack`` hands it out healthy,
so a test that broke something (killed a display, stopped Redis) only has to leave it able to
recover. Tests that stop the stack start their own. When a test fails, the tail of every
running stack's supervisord log is added to its report.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from tests.fixtures.redis_server import RedisServer
from tests.fixtures.worker_stack import WorkerStack
from tests.worker_service.helpers import PageServer

ACTIVE_STACKS: list[WorkerStack] = []  # running now
TEST_STACKS: list[WorkerStack] = []  # started by the current test (maybe stopped already)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for stack in dict.fromkeys(ACTIVE_STACKS + TEST_STACKS):
            report.sections.append((f"supervisord log of {stack.worker_id} (tail)", stack.log_tail(60)))


@pytest.fixture(autouse=True)
def _leave_no_task_behind(pages: PageServer) -> Iterator[None]:
    """After each test, whatever happened: open its gates and cancel what still runs, so a
    failed test does not hold the slots of the next ones."""
    TEST_STACKS.clear()
    yield
    pages.open_all()
    for stack in list(ACTIVE_STACKS):
        try:
            for session in stack.api("GET", "/api/sessions", timeout=5).json()["sessions"]:
                stack.api("POST", f"/api/sessions/{session['task_id']}/cancel", timeout=5)
        except Exception:  # noqa: BLE001 (best effort: the stack may be down on purpose)
            pass


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


def start_stack(redis_url: str, workdir, **kwargs) -> WorkerStack:
    """A started stack, registered for failure reports (``stop_stack`` unregisters it)."""
    stack = WorkerStack(redis_url, workdir, **kwargs)
    ACTIVE_STACKS.append(stack)
    TEST_STACKS.append(stack)
    try:
        return stack.start()
    except Exception:
        ACTIVE_STACKS.remove(stack)
        raise


def stop_stack(stack: WorkerStack) -> list[str]:
    """Stop it gracefully; return what the stop left running (then killed)."""
    try:
        return stack.stop()
    finally:
        if stack in ACTIVE_STACKS:
            ACTIVE_STACKS.remove(stack)


@pytest.fixture(scope="session")
def session_stack(redis_server: RedisServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    stack = start_stack(redis_server.url(0), tmp_path_factory.mktemp("stack"))
    yield stack
    leftovers = stop_stack(stack)
    assert not leftovers, f"supervisord's SIGTERM left processes running: {leftovers}"


@pytest.fixture
def stack(session_stack: WorkerStack, redis_server: RedisServer) -> WorkerStack:
    """The session's stack, healthy (a test before may have broken and left it recovering)."""
    if not redis_server.answers():
        redis_server.start()
    session_stack.wait_healthy(45)
    return session_stack


@pytest.fixture
def rclient(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def celery_client(redis_server: RedisServer) -> Iterator[Celery]:
    """A plain Celery client, configured as the main app's: nothing but the broker and backend."""
    app = Celery(broker=redis_server.url(0), backend=redis_server.url(0))
    yield app
    app.close()
