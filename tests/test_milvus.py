"""The Milvus backend: the API over it, writers that die midway, the lease, a server that goes away.

Runs on Milvus Lite in this process (a `.db` path) and on a `milvus-lite server` on a free
loopback port; test_retrieval.py and test_ingest_sync.py run their shared tests on both too.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DOCS, backend_settings, make_tiny_folder, milvus_lite_server, write_tree

pytest.importorskip("pymilvus", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)")
pytest.importorskip("milvus_lite", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)")

from fastapi.testclient import TestClient  # noqa: E402

from sihub.assistant import Assistant, lexicon  # noqa: E402
from sihub.assistant.query import parse_query  # noqa: E402
from sihub.assistant.retrieve import retrieve  # noqa: E402
from sihub.errors import IndexLockedError, IndexMissingError  # noqa: E402
from sihub.index import lexical, milvus_client, milvus_writer  # noqa: E402
from sihub.index.answer_data import AnswerData, chunk_words, lexical_text, quote_key  # noqa: E402
from sihub.index.backend import IndexBackend, open_index  # noqa: E402
from sihub.index.embedder import embedder_id, make_embedder  # noqa: E402
from sihub.index.milvus_schema import lex_words  # noqa: E402
from sihub.index.store import Index  # noqa: E402
from sihub.ingest import ChunkerConfig  # noqa: E402
from sihub.settings import Settings  # noqa: E402
from sihub.types import Chunk, Document  # noqa: E402

LOCAL = "http://127.0.0.1"
PASSWORD = "coordinator-secret"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}
EMB = make_embedder("hash")
CHUNKER = ChunkerConfig()


@pytest.fixture(scope="module", params=["milvus-lite", "milvus-server"])
def site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Settings:
    """The tiny folder indexed with the real embedder on a Milvus backend; its settings."""
    root = tmp_path_factory.mktemp("milvus-api")
    folder = make_tiny_folder(root / "docs")
    settings = Settings.from_env(
        env={},
        index=root / "index",
        library=root / "library",
        admin_password=PASSWORD,
        **backend_settings(request.param, root, request),
    )
    a = Assistant(settings)
    try:
        assert not a.ingest([folder]).failed
    finally:
        a.close()
    return settings


def test_the_api_answers_the_same_on_milvus(site: Settings) -> None:
    from sihub.web import create_app

    with TestClient(create_app(site), base_url=LOCAL) as c:
        health = c.get("/api/health").json()
        assert health["status"] == "ok" and health["documents"] == 4 and health["chunks"] >= 5
        hits = c.get("/api/search", params={"q": "sociala företag upphandling", "k": 2}).json()["hits"]
        # The Swedish passage, or the French one its words translate to (as on the embedded index).
        assert any(h["file"].endswith("sv/upphandling.md") for h in hits)
        hits = c.get("/api/search", params={"q": "sociala företag", "filter": ["lang=lv"]}).json()["hits"]
        assert hits and all(h["lang"] == "lv" for h in hits)
        r = c.post("/api/ask", json={"question": "Combien de projets l'incubateur de Nantes a-t-il accompagnés ?"})
        body = r.json()
        assert r.status_code == 200 and body["found"] is True
        assert any(x["file"].endswith("fr/incubateur.md") for x in body["citations"])
        assert all(x["quote"] in x["text"] for x in body["citations"])
        docs = {d["file"]: d for d in c.get("/api/documents").json()["documents"]}
        pdf = next(d for f, d in docs.items() if f.endswith("buicasus.pdf"))
        assert pdf["pages"] == 2 and c.get(f"/files/{pdf['id']}").content.startswith(b"%PDF")
        # Upload, then delete: the server's own writes go through the lease like an ingest's.
        up = "# Umeå\n\nUmeå kommun startade ett socialt kooperativ för unga 2023.\n"
        r = c.post("/api/documents", files={"files": ("umea.md", up.encode())}, headers=AUTH)
        assert r.status_code == 201
        doc_id = r.json()["results"][0]["id"]
        hits = c.get("/api/search", params={"q": "socialt kooperativ Umeå", "k": 1}).json()["hits"]
        assert hits[0]["file"].endswith("umea.md")
        assert c.delete(f"/api/documents/{doc_id}", headers=AUTH).json()["removed"] is True
        assert not any(f.endswith("umea.md") for f in (d["file"] for d in c.get("/api/documents").json()["documents"]))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> list[Settings]:
    """The same folder ingested on the embedded index and on Milvus Lite; both settings."""
    root = tmp_path_factory.mktemp("pair")
    # Words joined by underscores count as separate words on both (FTS5's tokenizer splits them).
    extra = {"en/codes.md": "# Annual_report_2023\n\nThe annual_report covers field_work in 2023 and budget_lines.\n"}
    folder = write_tree(root / "docs", {**DOCS, **extra})
    out = []
    for kind in ("embedded", "milvus-lite"):
        s = Settings.from_env(env={}, index=root / kind, **backend_settings(kind, root, request))
        a = Assistant(s)
        try:
            assert not a.ingest([folder]).failed
        finally:
            a.close()
        out.append(s)
    return out


def test_both_backends_satisfy_the_interface_and_rank_alike(pair: list[Settings]) -> None:
    """The same folder on the embedded index and on Milvus Lite: the same passages, in the same order."""
    hubs = [Assistant(s) for s in pair]
    try:
        assert all(isinstance(a.index, IndexBackend) for a in hubs)
        for q in (
            "sociala företag upphandling",
            "Sociālā uzņēmuma likums 2018",
            "incubateur Nantes mentorat",
            "annual report 2023 field work",
        ):
            for mode in ("hybrid", "dense", "lexical"):
                ranked = [
                    [(h.chunk.path, h.chunk.start) for h in retrieve(a.index, a.embedder, parse_query(q), 5, mode)]
                    for a in hubs
                ]
                assert ranked[0] == ranked[1], (q, mode)
            # Through the Assistant: with the word translations read from each index's answer data.
            found = [[(h.chunk.path, h.chunk.start) for h in a.search(q, k=5)] for a in hubs]
            assert found[0] == found[1], q
        means = [a.index.language_means() for a in hubs]
        assert set(means[0]) == set(means[1])
        for lang in means[0]:
            assert means[0][lang][0] == means[1][lang][0]
            assert np.allclose(means[0][lang][1], means[1][lang][1], atol=1e-5)
        terms = ["social", "malmo", "report", "2023", "field", "annual_report"]
        assert hubs[0].index.term_counts(terms) == hubs[1].index.term_counts(terms)
        assert hubs[1].index.term_counts(["report", "field"]) == {"report": 1, "field": 1}
        # Every term of the index: the counts the Milvus writer keeps are FTS5's vocabulary's.
        texts = hubs[1].index.chunk_texts()
        vocabulary = sorted({w for lang, text in texts for w in lex_words(lexical.analyze(text, lang)).split()})
        counts = hubs[1].index.term_counts(vocabulary)
        assert counts == hubs[0].index.term_counts(vocabulary) and len(counts) > 50 and min(counts.values()) > 0
    finally:
        for a in hubs:
            a.close()


def test_both_backends_store_the_answer_data_and_answer_alike(pair: list[Settings]) -> None:
    """Quote and word vectors stored at ingest on Milvus as in the embedded index: a fresh process
    answers as the embedded index does, embedding no span at question time."""
    hubs = [Assistant(s) for s in pair]
    try:
        assert all(a.index.stores_answers and a.index.answers_missing() == [] for a in hubs)
        counts = [a.index.word_counts() for a in hubs]
        assert counts[0] == counts[1] and len(counts[0]) > 20
        words = sorted({w for _, w, _ in counts[0]})
        assert hubs[0].index.known_words(words) == hubs[1].index.known_words(words) == set(words)
        vecs = [a.index.word_vectors(words) for a in hubs]
        assert all(np.allclose(vecs[0][w], vecs[1][w], atol=1e-6) for w in words)
        found = 0
        for q in (
            "Combien de projets l'incubateur de Nantes a-t-il accompagnés ?",
            "Hur många personer fick anställning genom upphandlingen i Malmö?",
            "When did the Latvian social enterprise law enter into force?",
            "How many social enterprises did the ministry register?",
        ):
            answers = [a.ask(q) for a in hubs]
            assert answers[0].found == answers[1].found and answers[0].answer == answers[1].answer, q
            cited = [[(c.file, c.quote) for c in x.citations] for x in answers]
            assert cited[0] == cited[1], q
            found += answers[0].found
        assert found >= 2
        assert hubs[1].vectors.embedded == 0  # every span's vector came from the collections
    finally:
        for a in hubs:
            a.close()


def test_both_backends_score_bm25_alike_and_read_every_row_past_a_page(
    pair: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lexical scores are FTS5's on both (Milvus Lite's own have another IDF and k1, and
    statistics per segment); whole collections are read in full however many pages they take (a
    query with a limit returns rows in no set order: paging on from the largest key seen lost rows)."""
    hubs = [open_index(s, embedder_id(s.embedder)) for s in pair]
    try:
        for q, lang in (("sociala företag upphandling", "sv"), ("annual report 2023 field work", "en")):
            scored = []
            for ix in hubs:
                found = ix.search_lexical(q, 10, lang)
                scored.append(
                    {(h.chunk.path, h.chunk.start): s for h, (_, s) in zip(ix.hits_for(found), found, strict=True)}
                )
            assert scored[0] and scored[1] == pytest.approx(scored[0], rel=1e-4), q
        words, docs = hubs[0].word_counts(), [d.path for d in hubs[0].documents()]
        monkeypatch.setattr(milvus_client, "PAGE", 3)
        assert hubs[1].word_counts() == words and len(words) > 20
        with open_index(pair[1], embedder_id(pair[1].embedder)) as fresh:  # the registry read anew
            assert [d.path for d in fresh.documents()] == docs and len(docs) > 3
    finally:
        for ix in hubs:
            ix.close()


def _writer(settings: Settings) -> IndexBackend:
    return open_index(settings, EMB.id, EMB.dim, CHUNKER.as_dict(), writable=True, create=True)


def _doc(path: str, text: str) -> tuple[Document, list[Chunk], dict[str, np.ndarray]]:
    chunks = [
        Chunk(path=path, text=t, lang="sv", start=0, end=len(t), hash=f"h-{t}", ord=i)
        for i, t in enumerate(text.split("|"))
    ]
    vecs = dict(zip((c.hash for c in chunks), EMB.embed_passages([c.text for c in chunks]), strict=True))
    return Document(path=path, title=path, lang="sv", sha256=f"sha-{text}"), chunks, vecs


def test_a_writer_that_dies_midway_leaves_no_half_document(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between writing a document's new chunks and flipping it: readers see the old
    version whole; the lease blocks the next writer until it expires; that writer cleans up."""
    monkeypatch.setattr(milvus_writer, "LEASE_SECONDS", 1.0)
    s = Settings.from_env(env={}, index=tmp_path / "index", **backend_settings("milvus-server", tmp_path, request))
    with _writer(s) as w:
        w.put_document(*_doc("a.md", "gammal text om kooperativ|andra stycket"))
        w.put_document(*_doc("b.md", "ett annat dokument"))
    dying = _writer(s)
    monkeypatch.setattr(dying._writer, "replace", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        dying.put_document(*_doc("a.md", "ny text om cyklar|tre|fyra"))
    with open_index(s, EMB.id) as reader:
        assert [c.text for c in reader.chunks_of("a.md")] == ["gammal text om kooperativ", "andra stycket"]
        found = reader.search_lexical("cyklar", 10)
        assert reader.hits_for(found) == []  # the new chunks are stored, but no reader sees them
        assert reader.consistency_problems() == ["3 chunks of no current document version"]
        with pytest.raises(IndexLockedError, match="another ingest is writing"):
            _writer(s)
        time.sleep(1.1)  # the dead writer's lease runs out
        with _writer(s) as w:
            assert w.consistency_problems() == []
            w.put_document(*_doc("a.md", "ny text om cyklar|tre|fyra"))
        assert reader.refresh()
        assert [c.text for c in reader.chunks_of("a.md")] == ["ny text om cyklar", "tre", "fyra"]
        assert reader.consistency_problems() == [] and reader.stats()["chunks"] == 4
        means = reader.language_means()
        assert means["sv"][0] == 4


def _answers(chunks: list[Chunk]) -> AnswerData:
    """A document's answer data as the ingest makes it (here each chunk's text is its one quote)."""
    words = chunk_words(lexical_text(c) for c in chunks)
    distinct = sorted({w for _, w in words})
    return AnswerData(
        {quote_key(c.text): v for c, v in zip(chunks, EMB.embed_passages([c.text for c in chunks]), strict=True)},
        words,
        dict(zip(distinct, EMB.embed_queries(distinct), strict=True)),
    )


def test_answer_data_of_a_writer_killed_midway_is_made_whole_by_the_next(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after flipping a document to its new version but before counting its words: the
    next writer recounts them, and drops the quote rows of the version no reader sees; the word
    counts and quotes are then those of an index that never saw the old version."""
    monkeypatch.setattr(milvus_writer, "LEASE_SECONDS", 1.0)
    old, new, other = "gammal text om kooperativ|andra stycket", "ny text om cyklar|tre|fyra", "ett annat kooperativ"
    s = Settings.from_env(env={}, index=tmp_path / "index", **backend_settings("milvus-lite", tmp_path, request))
    with _writer(s) as w:
        for path, text in (("a.md", old), ("b.md", other)):
            doc, chunks, vecs = _doc(path, text)
            w.put_document(doc, chunks, vecs, _answers(chunks))
    dying = _writer(s)
    doc, chunks, vecs = _doc("a.md", new)
    monkeypatch.setattr(dying._writer.answers, "count", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        dying.put_document(doc, chunks, vecs, _answers(chunks))
    time.sleep(1.1)  # the dead writer's lease runs out
    clean = Settings.from_env(env={}, index=tmp_path / "clean", milvus_uri=str(tmp_path / "clean.db"), backend="milvus")
    with _writer(s) as w, _writer(clean) as c:
        for path, text in (("b.md", other), ("a.md", new)):
            doc, chunks, vecs = _doc(path, text)
            c.put_document(doc, chunks, vecs, _answers(chunks))
        assert w.word_counts() == c.word_counts() and ("sv", "cyklar", 1) in w.word_counts()
        assert ("sv", "kooperativ", 1) in w.word_counts() and ("sv", "gammal", 1) not in w.word_counts()
        keys = [quote_key(t) for t in (old + "|" + new + "|" + other).split("|")]
        assert set(w.quote_vectors(keys)) == set(c.quote_vectors(keys)) == set(keys[2:])
        assert w.answers_missing() == [] and w.consistency_problems() == []
        assert w.prune_embeddings() == 3  # the vectors of "gammal", "andra", "stycket"
        assert w.known_words(["gammal", "cyklar"]) == {"cyklar"}
    dying.close()


def test_a_catalogue_change_reaches_the_filters(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    folder = write_tree(tmp_path / "docs", {**DOCS, "catalog.yaml": "sv/upphandling.md: {country: SE}\n"})
    s = Settings.from_env(
        env={}, index=tmp_path / "index", embedder="hash", **backend_settings("milvus-lite", tmp_path, request)
    )
    a = Assistant(s)
    try:
        assert not a.ingest([folder]).failed
        assert {h.chunk.path.rsplit("/", 1)[1] for h in a.search("social", filters=["country=se"])} == {
            "upphandling.md"
        }
        (folder / "catalog.yaml").write_text(
            "sv/upphandling.md: {country: DK, partner: Malmö stad}\n", encoding="utf-8"
        )
        report = a.ingest([folder])
        assert report.embedded == 0
        assert a.search("social", filters=["country=se"]) == []
        hits = a.search("social", filters=["partner=MALMÖ"])
        assert [h.chunk.path.rsplit("/", 1)[1] for h in hits] == ["upphandling.md"]
        assert hits[0].doc_meta == {"country": "DK", "partner": "Malmö stad"}
    finally:
        a.close()


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from bench.common import free_port
    from sihub.cli import main

    env = {
        "SIHUB_BACKEND": "milvus",
        "SIHUB_MILVUS_URI": f"http://127.0.0.1:{free_port()}",
        "SIHUB_MILVUS_TIMEOUT": "2",
    }
    write_tree(tmp_path / "docs", {"a.md": "# A\n\nText.\n"})
    for args in (["search", "sociala företag"], ["--embedder", "hash", "ingest", str(tmp_path / "docs")], ["docs"]):
        r = CliRunner().invoke(main, ["--index", str(tmp_path / "index"), *args], env=env)
        assert r.exit_code == 1, (args, r.output)
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "Milvus index at http://127.0.0.1:" in lines[0] and "cannot be reached" in lines[0]


def test_serve_answers_503_while_milvus_is_down_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.common import free_port
    from sihub.web import create_app

    monkeypatch.setattr(milvus_client, "RETRY_PAUSE", 0.2)
    port, data = free_port(), tmp_path / "milvus-data"
    settings = Settings.from_env(
        env={}, index=tmp_path / "index", embedder="hash", backend="milvus",
        milvus_uri=f"http://127.0.0.1:{port}", milvus_timeout=2.0,
    )  # fmt: skip
    with milvus_lite_server(data, port):
        a = Assistant(settings)
        assert not a.ingest([write_tree(tmp_path / "docs", DOCS)]).failed
        a.close()
        client = TestClient(create_app(settings), base_url=LOCAL).__enter__()
        assert client.get("/api/search", params={"q": "sociala företag"}).status_code == 200
    try:
        for r in (client.get("/api/search", params={"q": "sociala företag"}), client.get("/api/health")):
            assert r.status_code == 503
            assert "cannot be reached" in r.json()["error"]
        with milvus_lite_server(data, port):
            deadline = time.monotonic() + 20  # gRPC reconnects with a backoff of a few seconds
            while (r := client.get("/api/search", params={"q": "sociala företag"})).status_code == 503:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.5)
            assert r.status_code == 200 and r.json()["hits"], r.text
            assert client.get("/api/health").json()["documents"] == 3
    finally:
        client.__exit__(None, None, None)


def test_embedded_index_is_still_the_default(tmp_path: Path) -> None:
    s = Settings.from_env(env={}, index=tmp_path / "index")
    assert s.backend == "embedded"
    with open_index(s, EMB.id, EMB.dim, CHUNKER.as_dict(), writable=True, create=True) as index:
        assert isinstance(index, Index) and isinstance(index, IndexBackend)


def test_two_servers_answer_alike_on_one_milvus_while_a_third_process_ingests(
    tmp_path: Path, milvus_server: str
) -> None:
    """Stateless replicas: two `sihub serve` processes share the index on one Milvus server; a
    third process ingests meanwhile; each answers from a whole state, and both alike after."""
    import os
    import subprocess
    import sys

    import httpx
    from conftest import serving

    env = {
        **os.environ,
        "SIHUB_BACKEND": "milvus",
        "SIHUB_MILVUS_URI": milvus_server,
        "SIHUB_MILVUS_COLLECTION": "replicas",
        "SIHUB_EMBEDDER": "hash",
        "SIHUB_WARM_QUOTES": "0",
        "HF_HUB_OFFLINE": "1",
    }
    first = write_tree(tmp_path / "docs", DOCS)
    more = write_tree(
        tmp_path / "more", {f"n{i}.md": f"# Kooperativ {i}\n\nKooperativ nummer {i} i Kiruna.\n" for i in range(6)}
    )
    cli = [sys.executable, "-m", "sihub.cli", "--index", str(tmp_path / "cache")]
    settings = Settings.from_env(
        env={}, index=tmp_path / "cache", embedder="hash", backend="milvus", milvus_uri=milvus_server,
        milvus_collection="replicas",
    )  # fmt: skip
    writer = Assistant(settings)
    assert not writer.ingest([first]).failed
    writer.close()
    q = {"q": "kooperativ i Kiruna sociala företag", "k": 10}
    with (
        serving(tmp_path / "cache-a", tmp_path / "lib", env, tmp_path) as a,
        serving(tmp_path / "cache-b", tmp_path / "lib", env, tmp_path) as b,
    ):
        before = {h["file"] for h in httpx.get(f"{a}/api/search", params=q).json()["hits"]}
        assert httpx.get(f"{b}/api/search", params=q).json() == httpx.get(f"{a}/api/search", params=q).json()
        writer = subprocess.Popen(
            [*cli, "ingest", str(more)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        new = {str(more / f"n{i}.md") for i in range(6)}
        seen = 0
        while writer.poll() is None or seen < 2:
            for base in (a, b):
                hits = httpx.get(f"{base}/api/search", params=q, timeout=30).json()["hits"]
                files = {h["file"] for h in hits}
                assert files <= before | new and all(h["text"] for h in hits)
            seen += 1
        assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
        # Each server reads the index's words (its translations) again at most every
        # lexicon.RECHECK_S while an ingest commits: one that re-read them midway may rank apart
        # from the other until both have read the final words.
        deadline = time.monotonic() + lexicon.RECHECK_S + 15
        while True:
            ra, rb = (httpx.get(f"{x}/api/search", params=q).json() for x in (a, b))
            if ra == rb or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert ra == rb and new & {h["file"] for h in ra["hits"]}
        ask = {"question": "Vilket kooperativ finns i Kiruna?"}
        assert (
            httpx.post(f"{a}/api/ask", json=ask, timeout=60).json()
            == httpx.post(f"{b}/api/ask", json=ask, timeout=60).json()
        )


def test_an_ingest_killed_at_a_random_point_leaves_no_duplicate_and_a_rerun_completes(
    tmp_path: Path, milvus_server: str
) -> None:
    """`sihub ingest` against the Milvus server, killed (SIGKILL) at a random moment of its
    writes, then run again: every document whole, once, as its file says."""
    import os
    import random
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "SIHUB_BACKEND": "milvus",
        "SIHUB_MILVUS_URI": milvus_server,
        "SIHUB_MILVUS_COLLECTION": "killed",
        "SIHUB_EMBEDDER": "hash",
        "HF_HUB_OFFLINE": "1",
    }
    body = " ".join(f"Mening {j} om sociala företag och kooperativ." for j in range(60))
    folder = write_tree(
        tmp_path / "docs", {f"d{i:02d}.md": f"# Dokument {i}\n\n{body} Nummer {i}.\n" for i in range(30)}
    )
    cli = [sys.executable, "-m", "sihub.cli", "--index", str(tmp_path / "cache"), "ingest", str(folder)]
    settings = Settings.from_env(
        env={}, index=tmp_path / "cache", embedder="hash", backend="milvus", milvus_uri=milvus_server,
        milvus_collection="killed",
    )  # fmt: skip
    proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed, deadline = 0, time.monotonic() + 120
    while committed < 3 and proc.poll() is None:  # a few documents committed: the writes are under way
        assert time.monotonic() < deadline
        try:
            with open_index(settings, EMB.id) as index:
                committed = len(index.documents())
        except IndexMissingError:
            time.sleep(0.1)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cli, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with open_index(settings, EMB.id) as index:
        assert index.consistency_problems() == []
        docs = index.documents()
        assert sorted(Path(d.path).name for d in docs) == [f"d{i:02d}.md" for i in range(30)]
        for d in docs:
            chunks = index.chunks_of(d.path)
            assert len(chunks) == d.chunks and [c.ord for c in chunks] == list(range(d.chunks))
            assert "".join(c.text for c in chunks).count("Nummer") == 1


def _vocabulary(*texts: str) -> list[str]:
    """The analysed terms of these chunk texts (Swedish, as `_doc` writes them; folded as FTS5
    stores them), and one no chunk holds."""
    words = {w for t in texts for part in t.split("|") for w in lex_words(lexical.analyze(f"\n{part}", "sv")).split()}
    return sorted(words | {"zzqxv"})


@pytest.mark.parametrize("kind", ["milvus-lite", "milvus-server"])
def test_term_counts_follow_writes_and_a_killed_writer_as_fts5s_do(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunk count of each term, kept by the Milvus writer, equals FTS5's vocabulary after
    adds, a replacement and a removal; a writer killed while changing the counts leaves them off
    (and `consistency_problems` says so) until the next writer recounts them."""
    monkeypatch.setattr(milvus_writer, "LEASE_SECONDS", 1.0)
    a1, a2, a3 = "kooperativ i Malmö|sociala företag och kooperativ", "cyklar i Umeå|tre kooperativ", "fyra cyklar"
    b = "ett annat kooperativ|sociala företag i Riga|företag"
    terms = _vocabulary(a1, a2, a3, b)
    emb = Settings.from_env(env={}, index=tmp_path / "embedded")
    mil = Settings.from_env(env={}, index=tmp_path / "index", **backend_settings(kind, tmp_path, request))

    def same(e: IndexBackend, m: IndexBackend) -> dict[str, int]:
        want = e.term_counts(terms)
        assert m.term_counts(terms) == want and m.consistency_problems() == []
        return want

    with _writer(emb) as e:
        with _writer(mil) as m:
            for path, text in (("a.md", a1), ("b.md", b)):
                e.put_document(*_doc(path, text))
                m.put_document(*_doc(path, text))
            assert same(e, m)["kooperativ"] == 3
            e.put_document(*_doc("a.md", a2))
            m.put_document(*_doc("a.md", a2))
            assert same(e, m)["malmo"] == 0
            e.remove_document("b.md")
            m.remove_document("b.md")
            assert same(e, m)["kooperativ"] == 1
        dying = _writer(mil)
        write = dying._writer.terms._write

        def killed(counts: dict[str, int]) -> None:  # one count written, then the writer dies
            write(dict(list(counts.items())[:1]))
            raise KeyboardInterrupt

        monkeypatch.setattr(dying._writer.terms, "_write", killed)
        with pytest.raises(KeyboardInterrupt):
            dying.put_document(*_doc("a.md", a3))
        e.put_document(*_doc("a.md", a3))
        with open_index(mil, EMB.id) as reader:
            problems = reader.consistency_problems()
            assert len(problems) == 1 and "terms with a wrong chunk count" in problems[0], problems
        time.sleep(1.1)  # the dead writer's lease runs out
        with _writer(mil) as m:  # recovers: a3 was flipped in, its counts are recounted
            assert same(e, m)["cykl"] == 1
            m.put_document(*_doc("a.md", a3))  # the re-run
            assert same(e, m)["cykl"] == 1
        dying.close()


def test_an_index_from_before_the_term_counts_gets_them_from_its_next_writer(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An index written before the `terms` collection: readers count by search until a writer
    opens it and counts every term once; the counts are the same either way."""
    s = Settings.from_env(env={}, index=tmp_path / "index", **backend_settings("milvus-lite", tmp_path, request))
    texts = ("kooperativ i Malmö|sociala företag och kooperativ", "ett annat kooperativ|företag i Riga")
    terms = _vocabulary(*texts)
    with _writer(s) as w:
        for n, text in enumerate(texts):
            w.put_document(*_doc(f"{n}.md", text))
        want = w.term_counts(terms)
        assert want["kooperativ"] == 3 and want["zzqxv"] == 0
    old = milvus_client.Collections(s)
    old.call("drop_collection", old.name("terms"))
    old.set_meta({"term_counts": None})
    old.close()
    with open_index(s, EMB.id) as reader:
        assert not reader._reg.terms_counted and reader.term_counts(terms) == want
        assert reader.consistency_problems() == []
        with _writer(s) as w:
            assert w._reg.terms_counted and w.term_counts(terms) == want
        assert reader.refresh() and reader._reg.terms_counted and reader.term_counts(terms) == want
