"""Fixtures for real services: the fixture web server, Xvfb displays and warm slots."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.web import FixtureSite  # noqa: E402
from tests.fixtures.xvfb import Xvfb  # noqa: E402
from worker.engine import LocalArtifactStore, Slot  # noqa: E402
from worker.settings import EngineSettings  # noqa: E402


@pytest.fixture(scope="session")
def site() -> Iterator[FixtureSite]:
    """The tests' web server, reached as ``localhost`` (allowed) or ``127.0.0.1`` (not)."""
    server = FixtureSite().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def engine_settings(tmp_path_factory: pytest.TempPathFactory) -> EngineSettings:
    """Headless, URL policy on, with only the name ``localhost`` allowed."""
    return dataclasses.replace(
        EngineSettings.from_env(),
        artifacts_dir=tmp_path_factory.mktemp("artifacts"),
        allow_private_networks=False,
        url_allowlist=("localhost",),
        display=None,
    )


@pytest.fixture(scope="module")
def slot(engine_settings: EngineSettings) -> Iterator[Slot]:
    """A warm slot shared by a module's tests (tests that break the browser make their own)."""
    with Slot(engine_settings) as warm:
        yield warm


@pytest.fixture
def fresh_slot(engine_settings: EngineSettings) -> Iterator[Slot]:
    with Slot(engine_settings) as warm:
        yield warm


@pytest.fixture
def store(slot: Slot) -> LocalArtifactStore:
    return slot.store


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Xvfb]:
    """A real X display for headed Chromium."""
    if not shutil.which("Xvfb"):
        pytest.fail("Xvfb is not installed: run scripts/bootstrap.sh")
    display = Xvfb().start()
    yield display
    display.stop()


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <args>`` from the repository root."""
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
