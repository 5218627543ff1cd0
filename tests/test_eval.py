"""`sihub eval`: metrics, BEIR sets made in the test, the embedding cache, gold questions."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHARED_EVAL

from sihub.assistant import Assistant
from sihub.assistant.evaluate import load_beir, run_eval, score_ranking
from sihub.errors import BadInputError, SihubError
from sihub.index.embed_cache import CachedEmbedder, cache_path
from sihub.index.embedder import make_embedder
from sihub.settings import Settings


def test_score_ranking_by_hand() -> None:
    s = score_ranking(["a", "b", "c"], {"b": 1})
    assert s["mrr@10"] == 0.5
    assert s["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert s["recall@5"] == 1.0 and s["recall@20"] == 1.0
    miss = score_ranking([f"d{i}" for i in range(30)] + ["x"], {"x": 1})
    assert miss == {"mrr@10": 0.0, "ndcg@10": 0.0, "recall@5": 0.0, "recall@20": 0.0}
    two = score_ranking(["x", "a", "a2", "b", "c", "y"], {"x": 1, "y": 1})
    assert two["recall@5"] == 0.5 and two["recall@20"] == 1.0 and two["mrr@10"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert two["ndcg@10"] == pytest.approx((1 + 1 / math.log2(7)) / ideal)


DOCS = [
    ("d1", "Incubators", "The Ruche Solidaire incubator in Nantes supported 42 social enterprises in 2022."),
    ("d2", "", "Malmö reserved five percent of its cleaning contracts for work-integration social enterprises."),
    ("d3", "", "The Latvian Social Enterprise Law entered into force on 1 April 2018."),
    ("d4", "Mentoring", "Kitchen-table mentors meet founders every second week for six months."),
    ("d5", "", "Impact is measured with twelve indicators agreed with local authorities."),
]
QUERIES = [
    ("q1", "Which incubator in Nantes supported 42 enterprises?", "d1"),
    ("q2", "cleaning contracts reserved by Malmö", "d2"),
    ("q3", "When did the Latvian Social Enterprise Law enter into force?", "d3"),
    ("q4", "how often do kitchen-table mentors meet founders", "d4"),
]


def make_set(folder: Path, docs=DOCS, queries=QUERIES) -> Path:  # noqa: ANN001
    folder.mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for i, title, text in docs:
            fh.write(json.dumps({"_id": i, "title": title, "text": text, "lang": "en"}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as fh:
        for i, text, _ in queries:
            fh.write(json.dumps({"_id": i, "text": text, "lang": "en"}) + "\n")
    with open(folder / "qrels.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for i, _, doc in queries:
            fh.write(f"{i}\t{doc}\t1\n")
    return folder


@pytest.fixture
def hash_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env={}, index=tmp_path / "unused", embedder="hash", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_eval_on_a_tiny_beir_set(tmp_path: Path, hash_settings: Settings, mode: str) -> None:
    folder = make_set(tmp_path / "tiny_en-en")
    report = run_eval([folder], hash_settings, mode=mode, k=20)
    assert report["mode"] == mode
    [row] = report["sets"]
    assert row["name"] == "tiny_en-en" and row["queries"] == 4
    assert set(report["mean"]) == {"mrr@10", "ndcg@10", "recall@5", "recall@20"}
    # Every query shares rare words with its document only: all three modes rank it first.
    assert row["mrr@10"] == 1.0 and row["recall@5"] == 1.0


def test_eval_scores_a_wrong_ranking_low(tmp_path: Path, hash_settings: Settings) -> None:
    # qrels that point at the wrong documents: the metrics must notice.
    wrong = [(q, text, DOCS[(n + 2) % len(DOCS)][0]) for n, (q, text, _) in enumerate(QUERIES)]
    folder = make_set(tmp_path / "wrong", queries=wrong)
    report = run_eval([folder], hash_settings, mode="lexical")
    assert report["sets"][0]["mrr@10"] < 0.5


def test_eval_cache_embeds_each_text_once(tmp_path: Path, hash_settings: Settings) -> None:
    folder = make_set(tmp_path / "tiny")
    inner = make_embedder("hash")
    first = CachedEmbedder(inner, cache_path(hash_settings.cache_dir, inner.id))
    run_eval([folder], hash_settings, mode="hybrid", embedder=first)
    assert first.misses > 0
    second = CachedEmbedder(inner, cache_path(hash_settings.cache_dir, inner.id))
    for mode in ("dense", "hybrid"):
        run_eval([folder], hash_settings, mode=mode, embedder=second)
    assert second.misses == 0 and second.hits > 0


def test_eval_cli_json_and_errors(tmp_path: Path) -> None:
    from sihub.cli import main

    folder = make_set(tmp_path / "sets" / "tiny_en-en")
    env = {"SIHUB_EMBEDDER": "hash", "SIHUB_CACHE_DIR": str(tmp_path / "cache"), "SIHUB_INDEX": str(tmp_path / "i")}
    res = CliRunner().invoke(main, ["eval", str(tmp_path / "sets"), "--json", "--mode", "lexical"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["sets"][0]["name"] == "tiny_en-en" and data["mean"]["mrr@10"] == 1.0
    res = CliRunner().invoke(main, ["eval", str(folder)], env=env)
    assert res.exit_code == 0 and "tiny_en-en" in res.output and "MRR10" in res.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\nnot json\n')
    res = CliRunner().invoke(main, ["eval", str(bad)], env=env)
    assert res.exit_code == 2 and "corpus.jsonl:2" in res.output


def test_load_beir_reports_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n')
    with pytest.raises(BadInputError, match="queries.jsonl"):
        load_beir(folder)
    with pytest.raises(SihubError, match="no such set"):
        run_eval([tmp_path / "nowhere"], Settings.from_env(env={}))


def test_gold_questions_hit_file_and_page(tmp_path: Path, hash_settings: Settings) -> None:
    from conftest import make_pdf

    corpus = tmp_path / "corpus"
    make_pdf(
        corpus / "en" / "report.pdf",
        ["Introduction to the hub and its partners.", "The incubator budget was 15 000 euros per project."],
    )
    (corpus / "sv").mkdir()
    (corpus / "sv" / "note.txt").write_text("Malmö stad reserverade fem procent av städkontrakten.\n", encoding="utf-8")
    gold = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "1",
            "question": "incubator budget euros per project",
            "file": "en/report.pdf",
            "page": 2,
            "answerable": True,
        },
        {"id": "2", "question": "städkontrakten Malmö", "file": "sv/note.txt", "page": None, "answerable": True},
        {"id": "3", "question": "hub incubator budget euros", "file": "en/report.pdf", "page": 1, "answerable": True},
        {"id": "4", "question": "something absent", "file": None, "page": None, "answerable": False},
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = run_eval([gold], hash_settings, mode="lexical", corpus=corpus)
    [row] = report["sets"]
    assert row["queries"] == 3  # the unanswerable one is not scored
    # Questions 1 and 2 find their page first; question 3's gold page 1 only shares "hub": second.
    assert row["misses"] == []
    assert row["mrr@10"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-3)
    # A kept work folder fed the same corpus under two spellings of its path holds it once.
    work = tmp_path / "work"
    first = run_eval([gold], hash_settings, mode="lexical", corpus=corpus, workdir=work)["sets"][0]
    other = Path(os.path.relpath(corpus))
    again = run_eval([gold], hash_settings, mode="lexical", corpus=other, workdir=work)["sets"][0]
    assert again["mrr@10"] == first["mrr@10"] == row["mrr@10"]
    held = Assistant(hash_settings.replace(index=work / "gold-index"))
    try:
        assert sorted(d.path for d in held.documents()) == [
            os.path.join(str(other), f) for f in ("en/report.pdf", "sv/note.txt")
        ]
    finally:
        held.close()


@pytest.mark.skipif(not (SHARED_EVAL / "xquadr_es-en").is_dir(), reason="../shared/eval is absent")
def test_hybrid_is_not_worse_than_dense_on_a_shared_set(tmp_path: Path) -> None:
    """A cross-lingual dev set, cut to 30 queries and 60 documents to keep CI short."""
    src = load_beir(SHARED_EVAL / "xquadr_es-en")
    rng = random.Random(5)
    queries = rng.sample([q for q in src.queries if q["_id"] in src.qrels], 30)
    wanted = {d for q in queries for d in src.qrels[q["_id"]]}
    others = [r for r in src.corpus if r["_id"] not in wanted]
    docs = [r for r in src.corpus if r["_id"] in wanted] + rng.sample(others, max(0, 60 - len(wanted)))
    folder = tmp_path / "xquadr_es-en_small"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels.tsv").write_text(
        "q\td\ts\n" + "".join(f"{q['_id']}\t{d}\t1\n" for q in queries for d in src.qrels[q["_id"]]), encoding="utf-8"
    )
    settings = Settings.from_env(env={}, index=tmp_path / "unused", cache_dir=tmp_path / "cache")
    work = tmp_path / "work"  # the second mode reuses the first one's index
    dense = run_eval([folder], settings, mode="dense", workdir=work)["sets"][0]
    hybrid = run_eval([folder], settings, mode="hybrid", workdir=work)["sets"][0]
    assert hybrid["mrr@10"] >= dense["mrr@10"] - 0.01
    assert hybrid["recall@5"] >= dense["recall@5"] - 0.01


def test_mixed_pools_put_each_gold_document_in_another_language(tmp_path: Path) -> None:
    """A pool of an en->fr set: every question's document stands in French in the half that asks
    it, and the other documents of that half stand in English (from the en set, same ids)."""
    from sihub.assistant.evaluate import mixed_pools, pool_halves

    n = 12
    en_docs = [(f"en-a{i}", "", f"Article {i} about social enterprise number {i} in English.") for i in range(n)]
    fr_docs = [(f"fr-a{i}", "", f"Article {i} sur l'entreprise sociale numéro {i} en français.") for i in range(n)]
    queries_en = [(f"en-q{i}", f"enterprise number {i}", f"fr-a{i}") for i in range(n)]
    root = tmp_path / "sets"
    make_set(root / "demo_en-fr", fr_docs, queries_en)
    make_set(root / "demo_en-en", en_docs, [(q, t, d.replace("fr-", "en-")) for q, t, d in queries_en])
    pools = mixed_pools(sorted(root.iterdir()))
    assert [(p.name, p.gold.name, p.other.name) for p in pools] == [("mixed_demo_en-fr", "demo_en-fr", "demo_en-en")]
    halves = pool_halves(pools[0])
    asked = []
    for half in halves:
        ids = {str(r["_id"]) for r in half.corpus}
        assert len(ids) == n  # each article once, in one language or the other
        for q in half.queries:
            (doc,) = half.qrels[str(q["_id"])]
            assert doc in ids and doc.replace("fr-", "en-") not in ids
            asked.append(str(q["_id"]))
    assert sorted(asked) == sorted(q for q, _, _ in queries_en)  # every question, once


def test_run_eval_reports_the_pools_of_a_folder_apart(tmp_path: Path, hash_settings: Settings) -> None:
    root = tmp_path / "sets"
    docs = [(f"fr-{i}", t, x) for i, t, x in DOCS]
    make_set(root / "demo_en-fr", docs, [(q, t, f"fr-{d}") for q, t, d in QUERIES])
    make_set(root / "demo_en-en", [(f"en-{i}", t, x) for i, t, x in DOCS], [(q, t, f"en-{d}") for q, t, d in QUERIES])
    work = tmp_path / "work"  # each corpus ingested once for both runs
    report = run_eval([root], hash_settings, mode="lexical", workdir=work)
    assert [s["name"] for s in report["sets"]] == ["demo_en-en", "demo_en-fr"]
    assert [s["name"] for s in report["mixed"]] == ["mixed_demo_en-fr"]
    assert report["mixed"][0]["queries"] == len(QUERIES)
    assert report["mean"]["mrr@10"] == pytest.approx(sum(s["mrr@10"] for s in report["sets"]) / 2)
    # Named one by one, sets bring no pools.
    assert "mixed" not in run_eval(sorted(root.iterdir()), hash_settings, mode="lexical", workdir=work)
