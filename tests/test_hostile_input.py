"""Requests and files made to cost or break more than an ordinary one (issue 18).

The real app (FastAPI + the Gradio mount) over a real index with the hash embedder for the
HTTP limits; the CLI and `sihub ingest` for usage errors, symlinks and FIFOs. What needs a
server process of its own is in test_http_server.py.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, write_tree

pytest.importorskip("fastapi")
pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

from sihub.index.embedder import HashEmbedder  # noqa: E402

LOCAL = "http://127.0.0.1"
PASSWORD = "hostile-test-secret"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}
DOCS = {
    "riga.md": "# Riga\n\nThe incubator in Riga mentors social enterprises for six months.\n",
    "malmo.txt": "Malmö reserved five percent of its cleaning contracts for social enterprises.\n",
}


def _settings(root: Path, **overrides):  # noqa: ANN202
    from sihub.settings import Settings

    return Settings.from_env(
        env={}, index=root / "index", library=root / "library", embedder="hash", admin_password=PASSWORD, **overrides
    )


def _index(root: Path) -> Path:
    from sihub.assistant import Assistant

    a = Assistant(_settings(root))
    assert not a.ingest([write_tree(root / "library" / "docs", DOCS)]).failed
    a.close()
    return root


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from sihub.web import create_app

    root = _index(tmp_path_factory.mktemp("hostile"))
    with TestClient(create_app(_settings(root)), base_url=LOCAL) as c:
        yield c


def assert_json_error(r, status: int, *words: str) -> None:  # noqa: ANN001
    assert r.status_code == status, (r.status_code, r.text[:300])
    message = r.json()["error"]
    assert all(w in message for w in words), message
    assert len(message) <= 500 and "Traceback" not in r.text


# ---- questions and histories (findings 2 and 3) -------------------------------------------------


def test_a_question_over_the_limit_is_a_clear_400(client):
    assert_json_error(client.post("/api/ask", json={"question": "Zorblax " * 300}), 400, "at most 2,000")
    assert_json_error(client.get("/api/search", params={"q": "Zorblax " * 300}), 400, "at most 2,000")
    longest = ("Which incubator mentors social enterprises? " * 50)[:2_000]
    assert client.post("/api/ask", json={"question": longest}).status_code == 200
    assert client.post("/api/ask", json={"question": longest + "?"}).status_code == 400


@pytest.mark.parametrize(
    ("history", "words"),
    [
        ([{"role": "user", "content": "Riga?"}] * 21, ("21 turns", "at most 20")),
        ([{"role": "user", "content": "x" * 2_001}], ("history[0]", "at most 2,000")),
        ([{"role": "user", "content": "Riga?"}, {"role": "assistant", "content": "y" * 20_001}], ("history[1]",)),
    ],
    ids=["turns", "user-turn", "answer-turn"],
)
def test_a_history_over_the_limits_is_a_clear_400(client, history, words):
    r = client.post("/api/ask", json={"question": "And in Malmö?", "history": history})
    assert_json_error(r, 400, *words)


def test_a_history_within_the_limits_is_answered_and_not_echoed(client):
    history = [{"role": "user", "content": "Which incubator mentors social enterprises in Riga?"}]
    history += [{"role": "assistant", "content": "z" * 19_000}]
    r = client.post("/api/ask", json={"question": "And in Malmö?", "history": history})
    assert r.status_code == 200 and "zzz" not in r.text


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the characters of the questions it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.query_chars = 0

    def embed_queries(self, texts: list[str]):  # noqa: ANN201
        self.query_chars += sum(len(t) for t in texts)
        return super().embed_queries(texts)


def test_a_question_full_of_unknown_names_embeds_about_what_an_ordinary_one_does(tmp_path):
    """Finding 2: one copy of the question was embedded per capitalised word no passage holds."""
    from sihub.assistant import Assistant

    _index(tmp_path)
    embedder = CountingEmbedder()
    a = Assistant(_settings(tmp_path), embedder=embedder)
    try:
        a.ask("Which incubator mentors social enterprises in Riga?")
        ordinary = embedder.query_chars
        names = " ".join(f"Zq{chr(97 + i % 26)}{chr(97 + i // 26)}orb" for i in range(200))
        question = f"What do {names} say?"
        embedder.query_chars = 0
        a.ask(question)
    finally:
        a.close()
    # The question itself a few times over (search, weighing, translations), plus the name checks' budget.
    assert embedder.query_chars <= 6 * len(question) + 1_000, (embedder.query_chars, len(question), ordinary)


# ---- filters and store errors (finding 6) -------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"file": [f"f{i}.pdf" for i in range(998)]},
        {"file": "a" * 60_000},
        {"country": ",".join(["LV"] * 300)},
        {"x" * 60_000: "LV"},
    ],
    ids=["998-values", "60k-file", "300-alternatives", "60k-key"],
)
def test_filters_over_the_limits_are_a_clear_400(client, filters):
    assert_json_error(client.post("/api/ask", json={"question": "incubator", "filters": filters}), 400)
    listed = [f"{k}={v}" for k, values in filters.items() for v in (values if isinstance(values, list) else [values])]
    assert_json_error(client.get("/api/search", params={"q": "incubator", "filter": listed}), 400)


def test_filters_within_the_limits_still_apply(client):
    r = client.get("/api/search", params={"q": "social enterprises", "filter": ["file=" + "riga" * 10, "lang=en"]})
    assert r.status_code == 200 and r.json()["hits"] == []
    r = client.post("/api/ask", json={"question": "incubator", "filters": {"file": [f"f{i}" for i in range(50)]}})
    assert r.status_code == 200


def test_a_store_error_is_a_json_503(tmp_path):
    """A database SQLite cannot read is a JSON 503, not a plain-text 500."""
    from sihub.web import create_app

    root = _index(tmp_path)
    db = root / "index" / "sihub.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file, then all but its header garbled
    data = bytearray(db.read_bytes())
    data[100:] = os.urandom(len(data) - 100)
    db.write_bytes(bytes(data))
    with TestClient(create_app(_settings(root)), base_url=LOCAL, raise_server_exceptions=False) as c:
        for r in (c.get("/api/search", params={"q": "incubator"}), c.get("/api/documents")):
            assert r.status_code == 503 and r.json()["error"], (r.status_code, r.text[:300])


def test_error_messages_do_not_echo_a_long_request(client):
    r = client.get("/api/" + "a" * 5_000)
    assert_json_error(r, 404)


# ---- uploads and deletions (finding 7) ----------------------------------------------------------


def test_an_upload_during_a_delete_of_the_same_file_ends_indexed_and_on_disk(tmp_path):
    """An upload racing a deletion answered 201 and left the file neither indexed nor on disk."""
    from sihub.web import create_app

    root = _index(tmp_path)
    app = create_app(_settings(root))
    with TestClient(app, base_url=LOCAL) as c:
        files = {"files": ("race.md", b"# Race\n\nThe first version of the report.\n", "text/markdown")}
        assert c.post("/api/documents", files=files, headers=AUTH).status_code == 201
        doc = next(d for d in c.get("/api/documents").json()["documents"] if d["file"].endswith("race.md"))
        hub = app.state.hub
        remove, removing = hub.assistant.remove, threading.Event()

        def slow_remove(paths: list[str]) -> list[str]:  # a deletion that takes its time
            removing.set()
            time.sleep(0.5)
            return remove(paths)

        hub.assistant.remove = slow_remove
        deleting = threading.Thread(target=lambda: c.delete(f"/api/documents/{doc['id']}", headers=AUTH))
        deleting.start()
        assert removing.wait(10)
        second = {"files": ("race.md", b"# Race\n\nThe second version of the report.\n", "text/markdown")}
        r = c.post("/api/documents", files=second, headers=AUTH)
        deleting.join()
        assert r.status_code == 201 and r.json()["results"][0]["status"] == "added", r.json()
        saved = root / "library" / "uploads" / "race.md"
        assert saved.read_bytes() == second["files"][1]
        assert any(d["file"].endswith("race.md") for d in c.get("/api/documents").json()["documents"])


# ---- coordinator access (finding 8) -------------------------------------------------------------


def test_the_password_failure_counter_is_bounded_and_forgets():
    from sihub.web.auth import Denied, Guard

    now = [0.0]
    guard = Guard("secret", max_failures=5, window=60.0, max_clients=1_000, clock=lambda: now[0])
    for i in range(40_000):
        with pytest.raises(Denied):
            guard.check("wrong", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert guard.clients() <= 1_000
    for _ in range(5):
        with pytest.raises(Denied):
            guard.check("wrong", "198.51.100.7")
    with pytest.raises(Denied) as locked:
        guard.check("secret", "198.51.100.7")
    assert locked.value.status == 429
    now[0] += 61
    guard.check("secret", "198.51.100.7")  # the window has passed: forgotten
    with pytest.raises(Denied):
        guard.check("wrong", "203.0.113.1")
    assert guard.clients() == 1


def test_upload_tokens_are_signed_and_expire():
    from sihub.web.auth import Guard

    guard = Guard("secret")
    token = guard.issue(60)
    assert guard.valid(token)
    expires, _, mac = token.partition(".")
    assert not guard.valid(f"{int(expires) + 1000}.{mac}")
    assert not guard.valid(guard.issue(-1))
    assert not Guard("secret").valid(token)  # another process, another key
    assert not Guard("").valid(Guard("").issue(60))  # no password: no uploads


# ---- the CLI (finding 9) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["ask", ""], ["ask", "   "], ["ask", "x", "--k", "-3"], ["search", "x", "--k", "-5"], ["ask", "Quorx " * 400]],
    ids=["empty", "blank", "ask-k", "search-k", "too-long"],
)
def test_bad_cli_input_is_a_usage_error(tmp_path, args):
    from sihub.cli import main

    _index(tmp_path)
    env = {"SIHUB_INDEX": str(tmp_path / "index"), "SIHUB_EMBEDDER": "hash"}
    res = CliRunner().invoke(main, args, env=env)
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert "Error:" in res.output and "Traceback" not in res.output


# ---- ingest (findings 5 and 9) ------------------------------------------------------------------


def _ingest(folder: Path, index: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sihub.cli", "--index", str(index), "ingest", "-q", str(folder)]
    env = {**os.environ, "SIHUB_EMBEDDER": "hash", "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _indexed(index: Path) -> set[str]:
    from sihub.index.store import Index

    with Index.open(index, HashEmbedder.id) as idx:
        return {Path(d.path).name for d in idx.documents()}


def test_ingest_does_not_follow_symlinks_out_of_its_folder(tmp_path):
    outside = write_tree(tmp_path / "private", {"secret.md": "# Secret\n\nThe payroll of the hub.\n"})
    (outside / "sub").mkdir()
    (outside / "sub" / "hidden.txt").write_text("Private notes.\n", encoding="utf-8")
    folder = write_tree(tmp_path / "docs", DOCS)
    (folder / "leak.md").symlink_to(outside / "secret.md")
    (folder / "leakdir").symlink_to(outside / "sub")
    (folder / "alias.md").symlink_to(folder / "riga.md")  # inside the folder: followed
    res = _ingest(folder, tmp_path / "index")
    assert res.returncode == 0, res.stderr
    assert _indexed(tmp_path / "index") == {"riga.md", "malmo.txt", "alias.md"}
    assert "leak.md: symlink to outside" in res.stderr and "leakdir: symlink to outside" in res.stderr


def test_ingest_skips_a_fifo_instead_of_hanging(tmp_path):
    folder = write_tree(tmp_path / "docs", DOCS)
    os.mkfifo(folder / "pipe.txt")
    res = _ingest(folder, tmp_path / "index", timeout=60)
    assert res.returncode == 0, res.stderr
    assert "pipe.txt: not a regular file (skipped)" in res.stderr
    assert _indexed(tmp_path / "index") == {"riga.md", "malmo.txt"}


def test_a_fifo_named_on_the_command_line_is_skipped_too(tmp_path):
    os.mkfifo(tmp_path / "pipe.md")
    res = _ingest(tmp_path / "pipe.md", tmp_path / "index", timeout=60)
    assert "not a regular file" in res.stderr


def test_a_document_of_one_endless_word_is_analysed_in_one_pass():
    """A 45,000-letter word in an upload held the writer for minutes: the identifier pattern
    backtracked over the rest of the word from every letter. The analysis now scans it once (the
    old pattern would take well over ten minutes on this input), and finds no identifier in it,
    nor in runs of separators, while a real code beside it is still found."""
    from sihub.index import lexical

    endless = "A" * 200_000
    assert lexical.identifiers(endless) == []
    assert lexical.identifiers("x_" * 50_000 + " a-" * 50_000) == []
    assert lexical.identifiers(f"{endless} 2022-1-XX01-KA220-ADU-000012345") == ["idx20221xx01ka220adu000012345"]
