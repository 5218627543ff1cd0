"""What answers need, stored at ingest: quote-unit and word vectors in the index, kept in step
with its documents; `sihub warm` repairs an index built before (real SQLite, real files)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from sihub.assistant import Assistant
from sihub.assistant.quote_cache import LEGACY_FILE, QuoteVectors
from sihub.assistant.spans import document_quote_texts
from sihub.index.answer_data import quote_key
from sihub.index.embedder import make_embedder
from sihub.index.store import DB
from sihub.settings import Settings


class Counting:
    """The real embedder underneath, counting the passages and queries it is asked to embed."""

    def __init__(self, inner, on_call=None) -> None:  # noqa: ANN001
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.passages = 0
        self.queries = 0
        self.calls = 0
        self.on_call = on_call

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.queries += len(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.passages += len(texts)
        if self.on_call:
            self.on_call(self)
        return self.inner.embed_passages(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


QUESTIONS = ("How many best practices came from Sweden?", "Vad gör kompetenscentret?", "VP/2020/010")


@pytest.fixture
def hub(tiny_folder: Path, tmp_path: Path):  # noqa: ANN201
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    emb = Counting(make_embedder("hash"))
    a = Assistant(settings, embedder=emb)
    a.ingest([tiny_folder])
    yield a, emb
    a.close()


def _rows(a: Assistant, sql: str) -> list[tuple]:
    with sqlite3.connect(Path(a.settings.index) / DB) as db:
        return db.execute(sql).fetchall()


def _strip(a: Assistant) -> None:
    """Make the index look as one built before schema 4: no answer rows, schema 3."""
    a.close()
    with sqlite3.connect(Path(a.settings.index) / DB) as db:
        db.executescript(
            "DROP TABLE quote_vectors; DROP TABLE words; DROP TABLE word_vectors; "
            "ALTER TABLE documents DROP COLUMN answers; PRAGMA user_version = 3;"
        )


def test_ingest_stores_every_quote_unit_and_answers_embed_none(hub) -> None:  # noqa: ANN001
    a, emb = hub
    index = a.index
    for d in a.documents():
        texts = document_quote_texts(d, a.chunks(d.path))
        got = index.quote_vectors([quote_key(t) for t in texts])
        assert len(got) == len(texts) > 0
        # The stored vector is the embedder's, bit for bit.
        assert got[quote_key(texts[0])].tobytes() == emb.inner.embed_passages(texts[:1])[0].tobytes()
    assert index.answers_missing() == []

    fresh = Assistant(a.settings, embedder=emb)  # a new process: nothing in memory
    try:
        emb.passages = 0
        for q in QUESTIONS:
            fresh.ask(q)
            fresh.ask(q, k=8)
        assert emb.passages == 0 and fresh.vectors.embedded == 0
    finally:
        fresh.close()


def test_an_index_for_search_only_stores_word_vectors_but_no_quotes(tiny_folder: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    emb = Counting(make_embedder("hash"))
    a = Assistant(settings, embedder=emb)
    try:
        a.ingest([tiny_folder], quotes=False)
        chunks = sum(len(a.chunks(d.path)) for d in a.documents())
        assert emb.passages == chunks  # the chunks, and no quote unit
        assert _rows(a, "SELECT COUNT(*) FROM quote_vectors") == [(0,)]
        assert _rows(a, "SELECT COUNT(*) FROM word_vectors")[0][0] > 0
    finally:
        a.close()


def test_an_unknown_text_is_embedded_once_and_remembered(hub) -> None:  # noqa: ANN001
    a, emb = hub
    v = QuoteVectors()
    v.attach(a.index)
    texts = ["A sentence no document holds.", "Another one, also new."]
    first = v.embed(emb, texts)
    assert v.embedded == 2 and first.tobytes() == emb.inner.embed_passages(texts).tobytes()
    assert v.embed(emb, texts[::-1]).tobytes() == first[::-1].tobytes() and v.embedded == 2
    assert v.known(emb, [texts[0], "never seen"])[1] is None


def test_rows_follow_the_documents(hub, tiny_folder: Path) -> None:  # noqa: ANN001
    a, emb = hub
    words = {w for _, w, _ in a.index.word_counts()}
    assert "coaches" in words or len(words) > 20
    doc = next(d for d in a.documents() if d.path.endswith(".md"))
    keys = [quote_key(t) for t in document_quote_texts(doc, a.chunks(doc.path))]
    assert len(a.index.quote_vectors(keys)) == len(keys)

    # An unchanged re-ingest embeds nothing.
    emb.passages = emb.queries = 0
    a.ingest([tiny_folder])
    assert emb.passages == emb.queries == 0

    # Removed: its quote rows go, and the words only it held lose their counts and vectors.
    only_there = {w for (_, w) in _words_of(a, doc.path)} - {w for (_, w) in _words_of_others(a, doc.path)}
    assert a.remove([doc.path]) == [doc.path]
    a.index.refresh()
    assert a.index.quote_vectors(keys) == {}
    left = {w for _, w, _ in a.index.word_counts()}
    assert only_there and not (only_there & left)
    assert not ({r[0] for r in _rows(a, "SELECT word FROM word_vectors")} & only_there)
    assert _rows(a, "SELECT COUNT(*) FROM words WHERE chunks <= 0") == [(0,)]

    # Back again: only what the index lacks is embedded (its words other documents hold are kept).
    emb.passages = emb.queries = 0
    a.ingest([tiny_folder])
    assert emb.queries == len(only_there)
    assert a.index.answers_missing() == []


def _words_of(a: Assistant, path: str) -> set[tuple[str, str]]:
    from sihub.index.answer_data import chunk_words, lexical_text

    return set(chunk_words(lexical_text(c) for c in a.chunks(path)))


def _words_of_others(a: Assistant, path: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for d in a.documents():
        if d.path != path:
            out |= _words_of(a, d.path)
    return out


def test_an_updated_document_reuses_its_unchanged_units(hub, tiny_folder: Path) -> None:  # noqa: ANN001
    a, emb = hub
    md = next(p for p in tiny_folder.rglob("*.md"))
    md.write_text(md.read_text(encoding="utf-8") + "\n\nOne more closing sentence about the network.\n")
    emb.passages = 0
    a.ingest([tiny_folder])
    before = {d.path: d for d in a.documents()}
    doc = next(d for p, d in before.items() if p.endswith(md.name))
    texts = document_quote_texts(doc, a.chunks(doc.path))
    # Only the new units and the changed chunks were embedded, not every unit again.
    assert 0 < emb.passages < len(texts) + len(a.chunks(doc.path))
    assert len(a.index.quote_vectors([quote_key(t) for t in texts])) == len(texts)


def test_an_older_index_is_repaired_by_warm(hub, caplog) -> None:  # noqa: ANN001
    a, emb = hub
    expected = [a.ask(q).to_json() for q in QUESTIONS]
    _strip(a)
    older = Assistant(a.settings, embedder=emb)
    try:
        with caplog.at_level("WARNING"):
            emb.passages = 0
            # It answers, embedding its sentences at question time (without translations, and
            # without the deeper passages' stored sentences, so not always as before).
            assert all(older.ask(q).question == q for q in QUESTIONS)
        assert emb.passages > 0 and "sihub warm" in caplog.text
        missing = len(older.index.answers_missing())
        assert missing == len(older.documents())

        stop = threading.Event()
        emb.on_call = lambda e: stop.set()  # the first document asks to stop
        first = older.warm_quotes(stop_event=stop)
        emb.on_call = None
        assert first.stopped and first.documents == 1
        rest = older.warm_quotes()
        assert rest.documents == missing - 1 and rest.embedded > 0 and rest.words_embedded > 0
        assert "documents filled in" in rest.summary()
        assert older.index.answers_missing() == []
        assert "nothing to fill in" in older.warm_quotes().summary()

        older.vectors.clear()
        emb.passages = 0
        assert [older.ask(q).to_json() for q in QUESTIONS] == expected
        assert emb.passages == 0
    finally:
        older.close()


def test_cli_warm(hub) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from sihub.cli import main

    a, _ = hub
    args = ["--index", str(a.settings.index), "--embedder", "hash", "warm", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "nothing to fill in" in result.output
    _strip(a)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{len(a.documents())} documents filled in" in result.output


def test_server_repairs_an_older_index_in_the_background(hub) -> None:  # noqa: ANN001
    from sihub.web.hub import Hub

    a, emb = hub
    _strip(a)
    assert Hub(a.settings.replace(warm_quotes=False), assistant=a).warm_quotes_in_background() is None
    assert a.index.answers_missing()
    thread = Hub(a.settings, assistant=a).warm_quotes_in_background()
    assert thread is not None and thread.daemon
    thread.join(timeout=60)
    assert not thread.is_alive()
    a.index.refresh()
    assert a.index.answers_missing() == []


def test_rebuild_removes_the_older_cache_file(hub, tiny_folder: Path) -> None:  # noqa: ANN001
    a, _ = hub
    legacy = Path(a.settings.index) / LEGACY_FILE
    legacy.write_bytes(b"an older sihub's cache")
    a.ingest([tiny_folder], rebuild=True)
    assert not legacy.exists()
    assert a.index.consistency_problems() == [] and a.index.answers_missing() == []
