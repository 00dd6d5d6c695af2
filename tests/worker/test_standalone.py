"""The worker image is built from worker/ alone: nothing in it may reach outside the folder."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "worker"
ALLOWED_SPEC_IMPORTS = {"pydantic", "__future__", "worker"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_worker_module_imports_the_main_app_or_the_tests():
    for path in WORKER.rglob("*.py"):
        bad = {n for n in _imports(path) if n.split(".")[0] in ("main_app", "tests", "bench")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_spec_depends_on_pydantic_and_the_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    for path in (WORKER / "spec").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in stdlib or top in ALLOWED_SPEC_IMPORTS, f"{path.name} imports {name}"
            assert not name.startswith("worker.") or name.startswith("worker.spec"), (path.name, name)


@pytest.mark.slow
def test_a_copy_of_worker_alone_runs_a_task(tmp_path):
    shutil.copytree(WORKER, tmp_path / "worker", ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"version": 1, "start_url": "/list.html",
                                "steps": [{"action": "extract", "name": "h", "selector": "h1"}]}))
    done = subprocess.run([sys.executable, "-m", "worker.run", str(spec), "--out", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["extracted"] == {"h": "Products"}
