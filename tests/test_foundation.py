"""The whole path on real parts: ingest -> FAISS + SQLite -> search -> ask, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sihub.cli import main
from sihub.errors import IndexMismatchError, IndexMissingError
from sihub.index import lexical
from sihub.index.embedder import make_embedder
from sihub.index.store import Index


def test_round_trip_cross_lingual(assistant, tiny_folder):
    report = assistant.ingest([tiny_folder])
    assert not report.failed, report.failed
    assert report.count("added") == 4
    docs = {d.path: d for d in assistant.documents()}
    pdf = docs[str(tiny_folder / "en" / "buicasus.pdf")]
    assert pdf.pages == 2 and pdf.title == "BuiCaSuS overview"
    assert docs[str(tiny_folder / "lv" / "likums.txt")].lang == "lv"

    # A Swedish question about a French document finds it first.
    hits = assistant.search("Hur många projekt stödde inkubatorn i Nantes?", k=3)
    assert hits[0].chunk.path.endswith("fr/incubateur.md")
    # Page numbers survive: the best-practice counts are on page 2 of the PDF.
    hits = assistant.search("How many best practices came from Latvia?", k=1)
    assert hits[0].chunk.page == 2 and "4 from Latvia" in hits[0].chunk.text

    answer = assistant.ask("¿Cuántos proyectos acompañó la incubadora de Nantes?")
    assert answer.found
    files = [c.file for c in answer.citations]
    assert any(f.endswith("fr/incubateur.md") for f in files)
    for c in answer.citations:
        assert c.quote and c.quote in c.text
        assert f"[{c.n}]" in answer.answer


def test_chunk_spans_and_pages_are_exact(assistant, tiny_folder):
    from sihub.ingest import read_document

    assistant.ingest([tiny_folder])
    path = str(tiny_folder / "en" / "buicasus.pdf")
    parsed = read_document(path)
    for c in assistant.chunks(path):
        page = parsed.pages[c.page - 1]
        assert page.text[c.start : c.end] == c.text


def test_faiss_equals_brute_force(assistant, tiny_folder):
    assistant.ingest([tiny_folder])
    index = assistant.index
    emb = assistant.embedder
    all_chunks = [c for d in index.documents() for c in index.chunks_of(d.path)]
    ids = [c.id for c in all_chunks]
    mat = index.vectors_for(ids)
    for q in ["incubator mentoring grant", "sociālo uzņēmumu likums", "upphandling städkontrakt"]:
        qv = emb.embed_queries([q])[0]
        brute = np.argsort(-(mat @ qv))[:3]
        got = index.search_dense(qv, 3)
        assert [i for i, _ in got] == [ids[j] for j in brute]
        assert np.allclose([s for _, s in got], (mat @ qv)[brute], atol=1e-5)


def test_reingest_unchanged_embeds_nothing(assistant, tiny_folder):
    first = assistant.ingest([tiny_folder])
    assert first.embedded > 0
    again = assistant.ingest([tiny_folder])
    assert again.embedded == 0
    assert again.count("unchanged") == 4 and again.count("added") == 0


def test_manifest_mismatch_says_what_to_run(assistant, tiny_folder, settings):
    assistant.ingest([tiny_folder])
    with pytest.raises(IndexMismatchError, match="sihub ingest --rebuild"):
        Index.open(settings.index, "sentence-transformers/other-model")
    with pytest.raises(IndexMissingError, match="sihub ingest"):
        Index.open(settings.index.parent / "nowhere", "x")


def test_an_index_of_an_older_lexical_analyzer_is_reanalysed_by_the_next_writer(assistant, tiny_folder, settings):
    assistant.ingest([tiny_folder])
    assistant.close()
    manifest_path = settings.index / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    emb_id = manifest["embedder"]["id"]
    with Index.open(settings.index, emb_id, writable=True) as index:  # as an older analyzer left it
        with index.db.transaction() as db:
            db.execute("UPDATE chunks_fts SET lex = 'old'")
    manifest["lexical"] = "stem-0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="re-analyses the stored passages"):
        Index.open(settings.index, emb_id)
    with Index.open(settings.index, emb_id, writable=True) as index:
        assert index.search_lexical("old", 5) == []
        assert index.search_lexical("incubateur Nantes", 5, "fr")
    assert json.loads(manifest_path.read_text())["lexical"] == lexical.ANALYZER_VERSION
    Index.open(settings.index, emb_id).close()


def test_sentence_transformers_backend_loads_offline():
    emb = make_embedder("all-MiniLM-L6-v2")
    assert emb.id == "sentence-transformers/all-MiniLM-L6-v2"
    vecs = emb.embed_passages(["social enterprise incubator", "public procurement rules"])
    q = emb.embed_queries(["an incubator for social enterprises"])[0]
    assert vecs.shape == (2, emb.dim) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert vecs[0] @ q > vecs[1] @ q


def test_cli_round_trip(tiny_folder, tmp_path):
    runner = CliRunner()
    idx = ["--index", str(tmp_path / "cli-index")]
    r = runner.invoke(main, [*idx, "ingest", str(tiny_folder)])
    assert r.exit_code == 0, r.output
    assert "added 4, updated 0, unchanged 0, removed 0, failed 0" in r.output

    r = runner.invoke(main, [*idx, "search", "sociālie uzņēmumi Latvijā", "--json", "--k", "2"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["query"] == "sociālie uzņēmumi Latvijā"
    assert set(data["hits"][0]) >= {"chunk_id", "file", "title", "page", "lang", "heading", "text", "score"}
    assert data["hits"][0]["file"].endswith("lv/likums.txt")

    r = runner.invoke(main, [*idx, "ask", "Vilka sociala hänsyn tog Malmö stad i upphandlingen?", "--json"])
    data = json.loads(r.output)
    assert set(data) >= {"question", "language", "found", "answer", "citations"}
    assert data["citations"][0]["file"].endswith("sv/upphandling.md")

    r = runner.invoke(main, [*idx, "docs", "--json"])
    docs = json.loads(r.output)["documents"]
    assert len(docs) == 4 and set(docs[0]) >= {"file", "title", "lang", "pages", "chunks", "sha256", "ingested_at"}

    target = str(tiny_folder / "sv" / "upphandling.md")
    r = runner.invoke(main, [*idx, "remove", target])
    assert r.exit_code == 0 and "removed" in r.output
    r = runner.invoke(main, [*idx, "docs", "--json"])
    assert len(json.loads(r.output)["documents"]) == 3

    r = runner.invoke(main, ["--index", str(tmp_path / "none"), "search", "x"])
    assert r.exit_code == 2 and "sihub ingest" in r.output


def test_cli_ingest_fails_with_exit_1_but_indexes_the_rest(tiny_folder, tmp_path):
    (tiny_folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tiny_folder / "empty.txt").write_bytes(b"")
    r = CliRunner().invoke(main, ["--index", str(tmp_path / "i"), "ingest", str(tiny_folder)])
    assert r.exit_code == 1
    assert "broken.pdf: " in r.output and "empty.txt: empty file" in r.output
    assert "added 4" in r.output and "failed 2" in r.output


def test_every_command_has_an_example_in_help():
    runner = CliRunner()
    for name in main.commands:
        r = runner.invoke(main, [name, "--help"])
        assert r.exit_code == 0
        assert "Example" in r.output, name


def test_readme_lists_every_setting():
    from conftest import ROOT

    from sihub.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [env for env, _, _ in Settings.describe() if f"`{env}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"
