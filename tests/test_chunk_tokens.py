"""Each chunk's BM25 tokens stored beside its FTS5 row (schema 5): written with the chunk, and
filled in once, by the next writer, for an index built before (real SQLite, real analyzer)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sihub.assistant import Assistant
from sihub.index import bm25, lexical
from sihub.index.fts import LexicalIndex
from sihub.index.store import Index
from sihub.settings import Settings

QUERIES = [
    ("How many best practices came from Sweden?", "en"),
    ("Vad gör kompetenscentret för sociala företag?", "sv"),
    ("Sociālās uzņēmējdarbības likums Latvijā", "lv"),
    ("incubateur entreprises sociales Göteborg", "fr"),
]


def stored(path: Path) -> tuple[dict[int, tuple[str, int]], dict[int, str], str]:
    """(chunk_tokens rows, each chunk's analysed text, the meta state) read from the file."""
    db = sqlite3.connect(path / "sihub.db")
    try:
        rows = {i: (t, n) for i, t, n in db.execute("SELECT id, tokens, n FROM chunk_tokens")}
        lex = dict(db.execute("SELECT rowid, lex FROM chunks_fts"))
        state = db.execute("SELECT value FROM meta WHERE key = 'chunk_tokens'").fetchone()[0]
    finally:
        db.close()
    return rows, lex, state


def results(a: Assistant) -> tuple[list, dict]:
    index = a.index
    ids = list(range(1, index.size + 1))
    hits = [[(h.chunk.id, h.score, h.lexical) for h in a.search(q)] for q, _ in QUERIES]
    scores = {q: index.lexical_scores(q, lang, ids) for q, lang in QUERIES}
    return hits, scores


def test_tokens_are_written_with_the_chunks_and_go_with_them(tiny_folder: Path, tmp_path: Path) -> None:
    a = Assistant(Settings.from_env(env={}, index=tmp_path / "index", embedder="hash"))
    try:
        a.ingest([tiny_folder])
        rows, lex, state = stored(a.index.path)
        assert state == "ready" and rows.keys() == lex.keys() and rows
        for i, text in lex.items():
            packed = bm25.Packed.of(text)
            assert rows[i] == (packed.text, packed.n)
        gone = a.documents()[0].path
        a.remove([gone])
        rows, lex, _ = stored(a.index.path)
        assert rows.keys() == lex.keys()
        with Index.open(a.index.path, "hash/v1") as index:
            assert not index.consistency_problems()
    finally:
        a.index.lexical.fast.wait(60)
        a.close()


def test_an_index_from_before_schema_5_is_filled_in_once_by_a_writer(tiny_folder: Path, tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    a = Assistant(settings)
    try:
        a.ingest([tiny_folder])
        before = results(a)
        a.index.lexical.fast.wait(60)
    finally:
        a.close()
    # As schema 4 left it: no token table, the manifest at 4.
    path = settings.index
    db = sqlite3.connect(path / "sihub.db")
    db.executescript("DROP TABLE chunk_tokens; DELETE FROM meta WHERE key = 'chunk_tokens'; PRAGMA user_version = 4;")
    db.close()
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "schema": 4}))

    # A reader migrates the schema, finds the table waiting for a writer and cuts the text as before.
    reader = Assistant(settings)
    try:
        assert results(reader) == before
        rows, lex, state = stored(path)
        assert state == "pending" and rows == {} and lex
        assert not reader.index.consistency_problems() and reader.index.upgrade_pending()
        # The next writer (here the one `sihub warm`, or a server's warm-up, opens for it) fills
        # every row in from the analysed text: no analysis, no model work.
        assert reader.warm_quotes().problem is None
        assert not reader.index.upgrade_pending()
    finally:
        reader.close()
    rows, lex, state = stored(path)
    assert state == "ready" and rows.keys() == lex.keys()
    assert all(rows[i] == (bm25.Packed.of(t).text, bm25.Packed.of(t).n) for i, t in lex.items())
    assert json.loads((path / "manifest.json").read_text())["schema"] == 5

    # Once: a later writer finds nothing to fill in.
    calls: list[int] = []
    real = LexicalIndex.fill_tokens
    try:
        LexicalIndex.fill_tokens = staticmethod(lambda db: calls.append(1) or real(db))  # type: ignore[method-assign]
        Index.open(path, "hash/v1", writable=True).close()
    finally:
        LexicalIndex.fill_tokens = staticmethod(real)  # type: ignore[method-assign]
    assert calls == []

    after = Assistant(settings)
    try:
        assert results(after) == before
    finally:
        after.index.lexical.fast.wait(60)
        after.close()


def test_a_chunk_without_its_token_row_is_cut_from_its_text(tiny_folder: Path, tmp_path: Path) -> None:
    """Rows missing from the table (a bulk load that wrote only FTS5) score as FTS5 scores them."""
    a = Assistant(Settings.from_env(env={}, index=tmp_path / "index", embedder="hash"))
    try:
        a.ingest([tiny_folder])
        db = sqlite3.connect(a.index.path / "sihub.db")
        db.execute("DELETE FROM chunk_tokens WHERE id % 2 = 0")
        db.commit()
        db.close()
        index = a.index
        ids = list(range(1, index.size + 1))
        for text, lang in QUERIES:
            ours = index.consistent(lambda text=text, lang=lang: index.lexical_scores(text, lang, ids))
            theirs = index.lexical.fts_scores(lexical.match_query(text, lang), ids)
            assert ours.keys() == theirs.keys() and ours
            for i, v in theirs.items():
                assert ours[i] == pytest.approx(v, rel=1e-9)
    finally:
        a.index.lexical.fast.wait(60)
        a.close()
