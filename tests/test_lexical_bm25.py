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
    a.index.lexical.fast.wait(60)  # a copy built in the background is done before the folder goes
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


def test_bounded_search_skips_terms_no_chunk_holds(index, monkeypatch) -> None:  # noqa: ANN001
    # Words the index does not know spend nothing of the budget: the rarest word it holds still
    # chooses candidates, however frequent (it used to come back empty).
    text = "zzqxv wwyyq social"
    assert index.term_counts(["zzqxv", "wwyyq"]) == {"zzqxv": 0, "wwyyq": 0}
    assert index.term_counts(["social"])["social"] > 1
    monkeypatch.setattr(fts, "LEXICAL_POSTINGS", 1)
    assert index.search_lexical(text, 3, "en")


def test_the_tantivy_copy_gives_the_exact_top_and_follows_the_index(index, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from sihub.index import fast_lexical

    if not fast_lexical.available():
        pytest.skip("tantivy is not installed")
    exact = {q: index.search_lexical(q[0], 5, q[1]) for q in QUERIES}
    monkeypatch.setattr(fast_lexical, "REBUILD_GAP_S", 0.0)
    monkeypatch.setattr(fts, "FAST_MIN_ROWS", 1)  # the copy's path on this small index
    copy = index.lexical.fast
    used = []
    real = copy.candidates

    def spy(terms, n, generation):  # noqa: ANN001, ANN202
        out = real(terms, n, generation)
        used.append(out is not None)
        return out

    monkeypatch.setattr(copy, "candidates", spy)
    # No copy yet: FTS5 answers, and a copy of this generation is built in the background.
    assert index.search_lexical(QUERIES[0][0], 5, QUERIES[0][1]) == exact[QUERIES[0]]
    copy.wait(60)
    assert used == [False]
    first = index.vectors.generation
    assert (index.path / f"{fast_lexical.PREFIX}{first}").is_dir()
    for (text, lang), want in exact.items():
        got = index.search_lexical(text, 5, lang)
        # Tantivy proposes, FTS5's BM25 scores: the exact ranking's scores, best first.
        assert [round(s, 9) for _, s in got] == [round(s, 9) for _, s in want]
    assert used == [False] + [True] * len(QUERIES)
    # A new document moves the index on: the old copy is not used, a new one replaces it.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.md").write_text("# Kompetenscentrum\n\nEtt kompetenscentrum för sociala företag i Malmö.\n")
    writer = Assistant(Settings.from_env(env={}, index=index.path, embedder="hash"))
    try:
        writer.ingest([extra])
    finally:
        writer.close()
    text, lang = QUERIES[1]
    index.consistent(lambda: index.search_lexical(text, 5, lang))  # a search reads the new generation
    copy.wait(60)
    assert index.vectors.generation > first and used[-1] is False
    got = index.consistent(lambda: index.search_lexical(text, 5, lang))
    assert used[-1] is True
    assert any("Malmö" in h.chunk.text for h in index.hits_for(got))
    assert not (index.path / f"{fast_lexical.PREFIX}{first}").exists()


def test_remembered_tokens_follow_the_index(tiny_folder: Path, tmp_path: Path) -> None:
    """A reader's scores from remembered tokens stay FTS5's while another writer changes the
    index: a changed document's new words count, a removed document's chunks score nothing."""
    settings = Settings.from_env(env={}, index=tmp_path / "index", embedder="hash")
    writer, reader = Assistant(settings), Assistant(settings)
    try:
        writer.ingest([tiny_folder])
        index = reader.index  # one reader, open throughout
        text, lang = "incubateur entreprises sociales Göteborg budget", "fr"
        ids = list(range(1, 4 * index.size + 1))  # ids a later version of a document may take
        before = index.consistent(lambda: index.lexical_scores(text, lang, ids))
        path_of = {c.id: d.path for d in index.documents() for c in index.chunks_of(d.path)}
        scored = sorted({path_of[i] for i in before if path_of[i].endswith((".md", ".txt"))})
        assert len(scored) >= 2  # text documents that hold the query's words
        Path(scored[0]).write_text("Budget de l'incubateur. " * 3, encoding="utf-8")
        writer.ingest([tiny_folder])
        assert writer.remove([scored[1]]) == [scored[1]]
        after = index.consistent(lambda: index.lexical_scores(text, lang, ids))  # as a search reads
        truth = index.lexical.fts_scores(lexical.match_query(text, lang), ids)
        assert after.keys() == truth.keys() and after != before
        for i, v in truth.items():
            assert after[i] == pytest.approx(v, rel=1e-9)
    finally:
        for a in (writer, reader):
            if a._index is not None:
                a.index.lexical.fast.wait(60)
            a.close()
