"""Accounts on a main app of their own (so its rate limits touch no other test): sign-up
turned off, login rate limited per address and per account, CSRF on every form, passwords
stored hashed, a CLI that creates the first admin once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fixtures.main_app import MainAppServer, WebUser

pytestmark = pytest.mark.slow
PASSWORD = "a long password 1"


@pytest.fixture(scope="module")
def closed(redis_server, tmp_path_factory) -> Iterator[MainAppServer]:
    """Sign-up off, 5 sign-in attempts a minute, its own Redis database (rate-limit counters)."""
    workdir = tmp_path_factory.mktemp("accounts")
    server = MainAppServer(workdir, redis_url=redis_server.url(7), worker_url="http://127.0.0.1:9",
                           worker_token="unused", artifacts_dir=workdir / "artifacts",
                           extra_env={"SIGNUP_ENABLED": "0", "LOGIN_RATE_LIMIT": "5 per minute"})
    server.start()
    server.create_admin("first@pilothouse.test", PASSWORD)
    yield server
    server.stop()
    redis_server.client(7).flushdb()


def test_signup_can_be_turned_off(closed):
    page = requests.get(closed.url + "/signup", timeout=10)
    assert page.status_code == 403 and "Sign-up is turned off" in page.text
    assert "Create an account" not in requests.get(closed.url + "/login", timeout=10).text


def test_forms_without_their_csrf_token_are_refused(closed):
    web = requests.Session()
    web.get(closed.url + "/login", timeout=10)
    refused = web.post(closed.url + "/login", data={"email": "first@pilothouse.test", "password": PASSWORD},
                       timeout=10)
    assert refused.status_code == 400 and "security token" in refused.text
    user = WebUser(closed, "first@pilothouse.test", PASSWORD)
    assert user.login().url.endswith("/tasks")
    # a signed-in browser calling the API must send the page's token too
    no_token = user.web.post(closed.url + "/api/v1/tokens", json={"name": "x"}, timeout=10)
    assert no_token.status_code == 400 and "security token" in no_token.json()["error"]


def test_wrong_passwords_are_rate_limited_and_the_right_one_waits_too(closed):
    user = WebUser(closed, "first@pilothouse.test", "not the password")
    answers = [user.login().status_code for _ in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429
    user.password = PASSWORD
    blocked = user.login()
    assert blocked.status_code == 429 and "too many sign-in attempts" in blocked.text


def test_passwords_are_stored_hashed_and_the_admin_is_created_once(closed):
    (stored,) = closed.query("SELECT password_hash FROM users WHERE email = :e", e="first@pilothouse.test")
    assert PASSWORD not in stored[0] and stored[0].startswith(("scrypt:", "pbkdf2:"))
    again = closed.flask("create-admin", "second@pilothouse.test", "--if-none")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    duplicate = closed.flask("create-admin", "first@pilothouse.test", "--password", PASSWORD)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    weak = closed.flask("create-admin", "third@pilothouse.test", "--password", "short")
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr
