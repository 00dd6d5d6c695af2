"""``python -m worker.run``: real Chromium in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
MAGIC = {"screenshot": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "trace": b"PK\x03\x04"}
POLICY_VARS = ("ALLOW_PRIVATE_NETWORKS", "URL_ALLOWLIST", "DISPLAY", "ARTIFACTS_URL")


def _env(**extra: str) -> dict[str, str]:
    """The test's environment without the URL policy settings (so the CLI's defaults apply)."""
    env = {k: v for k, v in os.environ.items() if k not in POLICY_VARS}
    return {**env, **extra}


def _start(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "worker.run", *args], cwd=ROOT, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                            text=True)


def _run(*args: str, stdin: str = "", **env: str) -> tuple[int, str, str]:
    proc = _start(*args, **env)
    out, err = proc.communicate(stdin, timeout=120)
    return proc.returncode, out, err


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory) -> dict[str, tuple[int, str, str, Path]]:
    """Every example run at once (each its own Chromium), keyed by file name."""
    started = {}
    for path in EXAMPLES:
        out = tmp_path_factory.mktemp(path.stem)
        started[path.name] = (_start(str(path.relative_to(ROOT)), "--out", str(out)), out)
    runs = {}
    for name, (proc, out) in started.items():
        stdout, stderr = proc.communicate(timeout=150)
        runs[name] = (proc.returncode, stdout, stderr, out)
    return runs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_succeeds_with_real_artifacts(example_runs, path):
    code, stdout, stderr, out = example_runs[path.name]
    assert code == 0, stderr + stdout
    assert "demo site: http://127.0.0.1:" in stderr
    result = json.loads(stdout)
    assert result["status"] == "succeeded", result["error"]
    assert result["error"] is None and result["error_kind"] is None
    steps = json.loads(path.read_text())["steps"]
    assert [(s["index"], s["action"]) for s in result["steps"]] == [(None, "goto")] + [
        (i, s["action"]) for i, s in enumerate(steps)
    ]
    assert {s["status"] for s in result["steps"]} == {"succeeded"}
    assert result["final_url"].startswith("http://127.0.0.1:")
    for artifact in result["artifacts"]:
        file = Path(artifact["path"])
        assert file.is_file(), artifact
        assert file.is_relative_to(out), "artifacts go to --out"
        assert artifact["key"] == f"{result['task_id']}/{file.name}"
        data = file.read_bytes()
        assert data.startswith(MAGIC[artifact["kind"]]), artifact
        assert len(data) == artifact["size_bytes"] > 100


def _result(example_runs, name: str) -> dict:
    code, stdout, stderr, _ = example_runs[name]
    assert code == 0, stderr
    return json.loads(stdout)


def _artifacts(result: dict) -> dict[str, tuple[str, str]]:
    return {a["name"]: (a["kind"], Path(a["path"]).name) for a in result["artifacts"]}


def test_hello_reads_the_heading_and_takes_a_full_page_screenshot(example_runs):
    result = _result(example_runs, "hello.json")
    assert result["extracted"] == {"heading": "Pilothouse demo shop"}
    assert result["title"] == "Pilothouse demo shop"
    assert _artifacts(result) == {"home": ("screenshot", "home.png")}
    width, height = _png_size(Path(result["artifacts"][0]["path"]).read_bytes())
    assert width == 1280 and height >= 720


def test_products_lists_names_prices_count_and_a_pdf(example_runs):
    result = _result(example_runs, "products.json")
    extracted = result["extracted"]
    assert extracted["names"][:2] == ["Brass compass", "Ship's bell"]
    assert len(extracted["names"]) == len(extracted["prices"]) == extracted["count"] == 5
    assert all(float(price) > 0 for price in extracted["prices"])
    assert _artifacts(result) == {"catalogue": ("pdf", "catalogue.pdf")}


def test_contact_form_is_sent_and_screenshotted_at_the_specs_viewport(example_runs):
    result = _result(example_runs, "contact_form.json")
    assert result["extracted"]["confirmation"].startswith("Thanks, Ada Lovelace!")
    assert _artifacts(result) == {"sent": ("screenshot", "sent.png")}
    assert _png_size(Path(result["artifacts"][0]["path"]).read_bytes()) == (1280, 800)


def test_slow_page_waits_and_records_a_trace(example_runs):
    result = _result(example_runs, "slow_page.json")
    assert result["extracted"] == {"late": "Loaded late"}
    assert "delayed.html" in result["final_url"]
    assert _artifacts(result) == {"loaded": ("screenshot", "loaded.png"), "trace": ("trace", "trace.zip")}


def test_base_url_runs_a_spec_against_another_site(site, tmp_path):
    code, stdout, stderr = _run("examples/hello.json", "--base-url", site.url("/"), "--out", str(tmp_path),
                                URL_ALLOWLIST="localhost")
    assert code == 0, stderr + stdout
    assert "demo site" not in stderr
    result = json.loads(stdout)
    assert result["extracted"] == {"heading": "Fixture home"}
    assert result["final_url"] == site.url("/")


def test_base_url_on_a_loopback_address_is_blocked_by_default(site, tmp_path):
    hits = len(site.server.hits)
    code, stdout, stderr = _run("examples/hello.json", "--base-url", site.private_url("/"),
                                "--out", str(tmp_path))
    assert code == 1, stderr
    result = json.loads(stdout)
    assert result["status"] == "failed" and result["error_kind"] == "url_blocked"
    assert result["error"].startswith(f"start_url: blocked by the URL policy: {site.private_url('/')} ")
    assert "loopback address" in result["error"] and "ALLOW_PRIVATE_NETWORKS" in result["error"]
    assert [s["status"] for s in result["steps"]] == ["failed", "skipped", "skipped", "skipped"]
    assert result["artifacts"] == []
    assert len(site.server.hits) == hits, "the blocked server never saw a request"


def test_allow_private_networks_lets_the_cli_reach_loopback(site, tmp_path):
    code, stdout, stderr = _run("examples/hello.json", "--base-url", site.private_url("/"),
                                "--out", str(tmp_path), ALLOW_PRIVATE_NETWORKS="1")
    assert code == 0, stderr + stdout
    result = json.loads(stdout)
    assert result["extracted"] == {"heading": "Fixture home"}
    assert result["final_url"] == site.private_url("/")


def test_a_bad_spec_exits_2_naming_step_and_field(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"version": 1, "start_url": "/", "steps": [
        {"action": "extract", "name": "h", "selector": "h1"},
        {"action": "click", "selecter": "#go"},
    ]}))
    code, stdout, stderr = _run(str(spec), "--out", str(tmp_path))
    assert code == 2 and stdout == ""
    assert "error: " in stderr
    assert "steps[1] (click): 'selector' is required" in stderr
    assert "steps[1] (click): unknown field 'selecter' (did you mean 'selector'?)" in stderr


def test_a_bad_spec_on_standard_input_exits_2(tmp_path):
    code, stdout, stderr = _run("-", "--out", str(tmp_path), stdin='{"version": 1, "start_url": "/", '
                                '"steps": [{"action": "klick", "selector": "a"}]}')
    assert code == 2 and stdout == ""
    assert "steps[0] (klick): unknown action 'klick' (did you mean 'click'?)" in stderr


@pytest.mark.parametrize(("text", "expected"), [("{", "not valid JSON"),
                                                ("[1]", "a task spec must be a JSON object")])
def test_a_file_that_is_not_a_spec_exits_2(tmp_path, text, expected):
    spec = tmp_path / "spec.json"
    spec.write_text(text)
    code, stdout, stderr = _run(str(spec))
    assert (code, stdout) == (2, "")
    assert f"error: {expected}" in stderr


def test_a_missing_file_exits_2(tmp_path):
    code, stdout, stderr = _run(str(tmp_path / "nope.json"))
    assert (code, stdout) == (2, "")
    assert "error: " in stderr and "No such file or directory" in stderr and "nope.json" in stderr


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path):
    code, stdout, stderr = _run("examples/hello.json", "--out", str(tmp_path), ALLOW_PRIVATE_NETWORKS="maybe")
    assert (code, stdout) == (2, "")
    assert "ALLOW_PRIVATE_NETWORKS='maybe'" in stderr


def test_an_unsafe_task_id_is_refused_before_running(tmp_path):
    code, stdout, stderr = _run("examples/hello.json", "--task-id", "../evil", "--out", str(tmp_path))
    assert (code, stdout) == (2, "")
    assert "task id" in stderr
