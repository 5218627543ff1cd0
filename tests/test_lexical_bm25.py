"""BM25 of candidate chunks computed beside FTS5 (index/bm25.py) equals FTS5's own bm25(), and the
bounded lexical search scores what it returns as FTS5 would (real SQLite, real analyzer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sihub.assistant import Assistant
from sihub.index import bm25, fts, lexical
from sihub.settings import Settings

QUERIES = [
    ("How many best practices came from Sweden?", "en"),
    ("Vad gör kompetenscentret för sociala företag?", "sv"),
    ("VP/2020/010", "und"),
    ("Sociālās uzņēmējdarbības likums Latvijā", "lv"),
    ("incubateur entreprises sociales Göteborg", "fr"),
]


@pytest.fixture
def index(tiny_folder: Path, tmp_path: Path):  # noqa: ANN201
    a = Assistant(Settings.from_env(env={}, index=tmp_path / "index", embedder="hash"))
    a.ingest([tiny_folder])
    yield a.index
    a.close()


def test_bm25_of_candidates_is_fts5s(index) -> None:  # noqa: ANN001
    ids = list(range(1, index.size + 1))
    for text, lang in QUERIES:
        match = lexical.match_query(text, lang)
        ours = index.lexical_scores(text, lang, ids)
        theirs = index.lexical.fts_scores(match, ids)
        assert ours.keys() == theirs.keys() and ours
        for i, v in theirs.items():
            assert ours[i] == pytest.approx(v, rel=1e-9)


def test_fold_and_tokens_match_the_fts_tokenizer() -> None:
    assert bm25.fold("Göteborg Rīgā ÅNGSTRÖM") == "goteborg riga angstrom"
    assert bm25.tokens("rīg kompetens_centr 2020") == ["rig", "kompetens", "centr", "2020"]
    assert bm25.averages(bytes.fromhex("868d208799d061")) == (100000, 151.00001)


def test_bounded_search_scores_as_fts5_and_keeps_the_best(index, monkeypatch) -> None:  # noqa: ANN001
    for text, lang in QUERIES:
        exact = index.search_lexical(text, 5, lang)
        monkeypatch.setattr(fts, "LEXICAL_POSTINGS", 1)  # every query is over the budget
        bounded = index.search_lexical(text, 5, lang)
        monkeypatch.setattr(fts, "LEXICAL_POSTINGS", 10**9)
        match = lexical.match_query(text, lang)
        truth = index.lexical.fts_scores(match, [i for i, _ in bounded])
        # What it returns is scored on the whole query, as FTS5 scores it, best first.
        assert [s for _, s in bounded] == sorted((s for _, s in bounded), reverse=True)
        for i, s in bounded:
            assert s == pytest.approx(truth[i], rel=1e-9)
        # The rarest term chooses the candidates: the exact best holds it or ranks among them.
        assert bounded and bounded[0][1] <= exact[0][1] + 1e-9
