"""The local artifact store: files under ``root/<task_id>/``, unique keys, nothing outside its root."""

from __future__ import annotations

import pytest

from worker.engine.artifacts import LocalArtifactStore
from worker.spec import parse_spec

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_put_returns_a_key_that_reads_back_and_has_a_path(store, tmp_path):
    key = store.put("task-1", "home.png", PNG, "image/png")
    assert key == "task-1/home.png"
    assert store.read(key) == PNG
    assert store.path(key) == (tmp_path / "artifacts" / "task-1" / "home.png").resolve()
    assert store.path(key).read_bytes() == PNG


def test_the_root_may_be_relative_and_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = LocalArtifactStore("out")
    key = store.put("t", "a.txt", b"hi", "text/plain")
    assert store.path(key) == tmp_path / "out" / "t" / "a.txt"
    assert store.path(key).is_absolute()


def test_the_same_name_twice_gets_a_second_key_and_keeps_both(store):
    keys = [store.put("t", "shot.png", bytes([n]), "image/png") for n in range(3)]
    assert keys == ["t/shot.png", "t/shot-2.png", "t/shot-3.png"]
    assert [store.read(k) for k in keys] == [b"\0", b"\1", b"\2"]


def test_a_name_without_an_extension_is_numbered_too(store):
    assert [store.put("t", "notes", b"x", "text/plain") for _ in range(2)] == ["t/notes", "t/notes-2"]


def test_tasks_do_not_share_keys(store):
    a = store.put("task-a", "page.pdf", b"%PDF-a", "application/pdf")
    b = store.put("task-b", "page.pdf", b"%PDF-b", "application/pdf")
    assert (a, b) == ("task-a/page.pdf", "task-b/page.pdf")
    assert (store.read(a), store.read(b)) == (b"%PDF-a", b"%PDF-b")


def test_no_temporary_files_are_left_behind(store):
    store.put("t", "trace.zip", b"PK\x03\x04" * 1000, "application/zip")
    assert [p.name for p in (store.root / "t").iterdir()] == ["trace.zip"]


UNSAFE = ["..", "../x", "x/../y", "a/b", "/abs", "", ".", ".hidden", "a\\b", "a b", "a\0b", "x" * 129]
UNSAFE_IDS = ["dotdot", "traversal", "inner-traversal", "slash", "absolute", "empty", "dot", "dotfile",
              "backslash", "space", "nul", "long"]


@pytest.mark.parametrize("task_id", UNSAFE, ids=UNSAFE_IDS)
def test_unsafe_task_ids_are_refused(store, task_id, tmp_path):
    with pytest.raises(ValueError, match="unsafe task id for an artifact"):
        store.put(task_id, "ok.png", PNG, "image/png")
    assert not any(tmp_path.rglob("ok.png")), "nothing is written"


@pytest.mark.parametrize("filename", UNSAFE, ids=UNSAFE_IDS)
def test_unsafe_file_names_are_refused(store, filename, tmp_path):
    with pytest.raises(ValueError, match="unsafe file name for an artifact"):
        store.put("task-1", filename, PNG, "image/png")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("key", ["../etc/passwd", "t/../../etc/passwd", "t/../t/x.png", "/etc/passwd",
                                 "t/", "t", ""])
def test_unsafe_keys_cannot_be_read(store, key):
    store.put("t", "x.png", PNG, "image/png")
    with pytest.raises(ValueError, match="unsafe"):
        store.read(key)
    with pytest.raises(ValueError, match="unsafe"):
        store.path(key)


def test_the_longest_safe_names_work(store):
    key = store.put("t" * 128, "n" * 124 + ".png", PNG, "image/png")
    assert store.read(key) == PNG


@pytest.mark.parametrize("kind", ["screenshot", "pdf"])
def test_every_artifact_name_the_spec_accepts_can_be_stored(store, kind):
    spec = parse_spec({"version": 1, "start_url": "https://example.org/",
                       "steps": [{"action": kind, "name": "v1..2"}]})
    name = spec.steps[0].name
    ext = "png" if kind == "screenshot" else "pdf"
    assert store.put("task-1", f"{name}.{ext}", PNG, "image/png") == f"task-1/{name}.{ext}"
