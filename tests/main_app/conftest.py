"""The main app as deployed, on a real stack: a private Redis, the worker service from
worker/supervisord.conf, and the main app under gunicorn, with its database on SQLite and
again on a PostgreSQL server the tests start (``main`` is parametrized: every test that uses
it runs on both). Users sign up through the real forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.main_app import MainAppServer, WebUser
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.worker_stack import WorkerStack
from tests.worker_service.helpers import PageServer

SERVERS: list[MainAppServer] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in SERVERS:
            report.sections.append((f"main app log ({server.database_url.split(':')[0]})", server.log_tail()))


@pytest.fixture(scope="package")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def pages() -> Iterator[PageServer]:
    server = PageServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def worker(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    """The worker service (2 slots) that runs the main app's tasks."""
    stack = WorkerStack(redis_server.url(0), tmp_path_factory.mktemp("worker"), token="main-app-tests")
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="package")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


def make_server(worker: WorkerStack, workdir, **kwargs) -> MainAppServer:
    return MainAppServer(workdir, redis_url=worker.redis_url, worker_url=worker.api_url,
                         worker_token=worker.token, artifacts_dir=worker.artifacts, **kwargs)


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def main(request: pytest.FixtureRequest, worker: WorkerStack,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainAppServer]:
    """The main app, on SQLite, then on PostgreSQL."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres").create_database(f"main_{uuid.uuid4().hex[:8]}")
    server = make_server(worker, tmp_path_factory.mktemp(f"main-{request.param}"),
                         database_url=database_url)
    SERVERS.append(server)
    server.start()
    server.create_admin("admin@pilothouse.test", "admin password 1")
    yield server
    server.stop()
    SERVERS.remove(server)


def new_user(main: MainAppServer, name: str) -> WebUser:
    return WebUser(main, f"{name}-{uuid.uuid4().hex[:6]}@pilothouse.test").signup()


@pytest.fixture
def alice(main: MainAppServer) -> WebUser:
    return new_user(main, "alice")


@pytest.fixture
def bob(main: MainAppServer) -> WebUser:
    return new_user(main, "bob")


@pytest.fixture
def admin(main: MainAppServer) -> WebUser:
    user = WebUser(main, "admin@pilothouse.test", "admin password 1")
    assert user.login().status_code == 200
    return user


def quick_spec(pages: PageServer, **extra) -> dict:
    """A task that opens a coloured page and reads its heading."""
    return {"version": 1, "name": "quick", "start_url": pages.url("/colour?c=4682b4&title=Quick"),
            "steps": [{"action": "extract", "name": "heading", "selector": "#heading"}], **extra}
