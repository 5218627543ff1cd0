"""The hub's views beyond the chat (issue 23): the catalogue of best practices (item 1) and
answers compared across countries (item 2), through the API and the CLI, over one small real
index (real embedder, SQLite, FAISS) of documents from four countries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

LOCAL = "http://127.0.0.1"
COMPARE = "Compare how the partner countries measure the social impact of incubated enterprises"


@pytest.fixture(scope="module")
def hub_index(tmp_path_factory) -> Path:
    from conftest import make_hub_folder

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    root = tmp_path_factory.mktemp("hub")
    folder = make_hub_folder(root / "docs")
    a = Assistant(Settings.from_env(env={}, index=root / "index"))
    try:
        assert not a.ingest([folder]).failed
    finally:
        a.close()
    return root / "index"


@pytest.fixture(scope="module")
def client(hub_index: Path):
    pytest.importorskip("gradio")
    from fastapi.testclient import TestClient

    from sihub.settings import Settings
    from sihub.web import create_app

    settings = Settings.from_env(env={}, index=hub_index, library=hub_index.parent / "library")
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        yield c


def cli(hub_index: Path, *args: str) -> dict:
    from sihub.cli import main

    run = CliRunner().invoke(main, ["--index", str(hub_index), *args])
    assert run.exit_code == 0, run.output
    return json.loads(run.output)


# ---- item 1: the catalogue -------------------------------------------------------------------


def test_abstract_is_the_most_central_sentences_in_document_order() -> None:
    from sihub.assistant.catalogue import AbstractParams, abstract
    from sihub.types import Chunk

    text = (
        "Le réseau accompagne les entreprises sociales dans les quartiers. "
        "Il fait beau à Lyon ce matin et les oiseaux chantent. "
        "Les entreprises sociales du réseau reçoivent un accompagnement et un financement. "
        "Le financement des entreprises sociales vient du réseau et des collectivités.\n"
        "Contact"
    )
    sentences = text.split("\n")[0].split(". ")
    got = abstract([Chunk(path="x.md", text=text)], AbstractParams(sentences=3, max_chars=1000))
    # The off-topic sentence and the heading are left out; the others keep their order.
    assert got == ". ".join([sentences[0], sentences[2], sentences[3]])
    two = abstract([Chunk(path="x.md", text=text)], AbstractParams(sentences=2, max_chars=1000))
    assert "oiseaux" not in two and two in got.replace(sentences[0] + ". ", "") + got
    assert abstract([Chunk(path="x.md", text="Contact")]) == ""


def test_api_catalogue_filters_and_counts_per_field(client) -> None:
    everything = client.get("/api/documents").json()
    assert everything["total"] == len(everything["documents"]) == 5
    for d in everything["documents"]:
        assert {"abstract", "country", "partner", "type", "year", "id", "file", "title", "pages"} <= set(d)
    assert everything["facets"]["country"] == {"ES": 1, "FR": 1, "LV": 1, "SE": 1}
    assert everything["facets"]["type"] == {"case study": 2, "report": 2, "law": 1}

    lv = client.get("/api/documents", params={"country": "LV"}).json()
    [doc] = lv["documents"]
    assert doc["file"].endswith("/lv/likums.txt")
    assert (doc["country"], doc["partner"], doc["year"], doc["type"]) == ("LV", "LSUA", 2021, "law")
    assert "Sociālā uzņēmuma likums" in doc["abstract"]  # the document's own language
    # A field's counts apply the other filters only: every country stays choosable.
    assert lv["facets"]["country"] == everything["facets"]["country"]
    assert lv["facets"]["lang"] == {"lv": 1}

    both = client.get("/api/documents", params={"country": "LV,SE", "year": "2021", "lang": "sv"}).json()
    assert [Path(d["file"]).name for d in both["documents"]] == ["upphandling.md"]
    words = client.get("/api/documents", params={"q": "contratos Barcelona"}).json()
    assert [d["country"] for d in words["documents"]] == ["ES"]
    assert client.get("/api/documents", params={"type": "poem"}).json()["documents"] == []


def test_cli_docs_takes_the_same_filters(hub_index: Path) -> None:
    out = cli(hub_index, "docs", "--type", "case study", "--lang", "es", "--json")
    assert [Path(d["file"]).name for d in out["documents"]] == ["clausulas.md"]
    assert out["documents"][0]["abstract"].startswith("La Diputación de Barcelona")
    assert out["facets"]["type"] == {"case study": 1}  # among the Spanish documents
    assert out["facets"]["lang"] == {"sv": 1, "es": 1}  # among the case studies
    from sihub.cli import main

    text = CliRunner().invoke(main, ["--index", str(hub_index), "docs", "--country", "FR"]).output
    assert "/fr/incubateur.md" in text and "1 of 5 documents" in text


# ---- item 2: compare across countries ----------------------------------------------------------


def check_groups(answer: dict, labels: dict[str, str]) -> None:
    """One group per country in the asker's language; found groups cite passages of their
    country only, numbered as the answer's citations; the others are named as holding nothing."""
    groups = answer["groups"]
    assert {g["key"]: g["label"] for g in groups} == labels
    by_n = {c["n"]: c for c in answer["citations"]}
    numbers = [n for g in groups for n in g["citations"]]
    assert sorted(numbers) == sorted(by_n) and len(numbers) == len(set(numbers))
    folders = {"FR": "/fr/", "LV": "/lv/", "SE": "/sv/", "ES": "/es/"}
    for g in groups:
        assert g["found"] == bool(g["citations"])
        assert all(folders[g["key"]] in by_n[n]["file"] for n in g["citations"])
        assert all(f"[{n}]" in answer["answer"] for n in g["citations"])
    found = [g for g in groups if g["found"]]
    empty = [g["label"] for g in groups if not g["found"]]
    # The French incubator measures impact; the Latvian law says nothing of it.
    assert "FR" in [g["key"] for g in found] and "LV" not in [g["key"] for g in found]
    assert all(name in answer["answer"].rsplit("\n\n", 1)[-1] for name in empty)


def test_api_compares_countries_in_the_askers_language(client) -> None:
    r = client.post("/api/ask", json={"question": COMPARE, "by": "country"})
    assert r.status_code == 200, r.text
    answer = r.json()
    check_groups(answer, {"ES": "Spain", "FR": "France", "LV": "Latvia", "SE": "Sweden"})
    assert answer["answer"].startswith("**France**")
    assert client.post("/api/ask", json={"question": COMPARE, "by": "city"}).status_code == 400
    plain = client.post("/api/ask", json={"question": COMPARE}).json()
    assert "groups" not in plain


def test_cli_ask_by_country(hub_index: Path) -> None:
    question = "Jämför hur länderna mäter den sociala effekten av inkuberade företag"
    answer = cli(hub_index, "ask", question, "--by", "country", "--json")
    check_groups(answer, {"ES": "Spanien", "FR": "Frankrike", "LV": "Lettland", "SE": "Sverige"})
    assert "Dokumenten säger ingenting" in answer["answer"]


def test_comparison_cues_come_from_the_language_files() -> None:
    from sihub.assistant.compare import asks_comparison

    assert asks_comparison("Compare how the partner countries fund incubators")
    assert asks_comparison("Jämför hur länderna arbetar med upphandling")
    assert asks_comparison("¿Cómo lo hacen los distintos países con la contratación?")
    assert asks_comparison("Comment chaque pays soutient-il les coopératives ?")
    assert asks_comparison("Kā dažādās valstīs atbalsta sociālos uzņēmumus?")
    assert not asks_comparison("From which countries did the partners collect best practices?")
    assert not asks_comparison("When did the law enter into force in Latvia?")


# ---- item 3: the gaps ----------------------------------------------------------------------------

PASSWORD = "gaps-coordinator"
CHILDCARE = [
    "Hur organiserar kooperativen barnomsorg för sina anställda?",
    "How do cooperatives organise childcare for their workers?",
    "Comment les coopératives organisent-elles la garde d'enfants de leurs salariés ?",
]
TAX = [
    "What tax relief do social enterprises get in Estonia?",
    "Kādi nodokļu atvieglojumi ir sociālajiem uzņēmumiem Igaunijā?",
]


@pytest.fixture(scope="module")
def coordinator(hub_index: Path, tmp_path_factory):
    """A client over a copy of the index (its own gaps file), with a coordinator password."""
    import shutil

    from fastapi.testclient import TestClient

    from sihub.settings import Settings
    from sihub.web import create_app

    index = tmp_path_factory.mktemp("gaps") / "index"
    shutil.copytree(hub_index, index)
    settings = Settings.from_env(env={}, index=index, library=index.parent / "library", admin_password=PASSWORD)
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        yield c, index


def test_unanswered_and_disliked_questions_are_grouped_by_topic(coordinator) -> None:
    client, index = coordinator
    for question in CHILDCARE + TAX:
        # A year no document is from: nothing to answer from, whatever the verdict's fit.
        answer = client.post("/api/ask", json={"question": question, "filters": {"year": 1999}}).json()
        assert answer["found"] is False, question
    liked = client.post(
        "/api/ask", json={"question": "When did the social enterprise law enter into force in Latvia?"}
    ).json()
    assert liked["found"] is True
    hub = client.app.state.hub
    hub.vote(1, liked)  # a thumbs-up is no gap
    hub.vote(-1, {**liked, "question": "När trädde lagen om sociala företag i kraft i Lettland?"})

    assert client.get("/api/gaps").status_code == 401
    r = client.get("/api/gaps", headers={"Authorization": f"Bearer {PASSWORD}"})
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["questions"] == 6
    by_label = {t["label"]: t for t in found["topics"]}
    childcare = next(t for t in found["topics"] if set(t["examples"]) == set(CHILDCARE))
    assert childcare["count"] == 3 and childcare["languages"] == {"en": 1, "fr": 1, "sv": 1}
    assert childcare["label"] in CHILDCARE and found["topics"][0] is not None
    assert found["topics"][0]["count"] == 3  # the biggest first
    tax = next(t for t in found["topics"] if set(t["examples"]) == set(TAX))
    assert tax["count"] == 2 and set(tax["languages"]) == {"en", "lv"}
    assert sum(t["count"] for t in by_label.values()) == 6

    from sihub.assistant.gaps import GapStore, gaps_path

    rows = GapStore(gaps_path(index)).all()
    assert {r["reason"] for r in rows} == {"not_found", "thumbs_down"}
    assert rows[0]["filters"] == {"year": 1999} and rows[0]["language"] == "sv"
    assert all(isinstance(r["best_score"], float) for r in rows)

    cli_found = cli(index, "gaps", "--json")
    assert [t["count"] for t in cli_found["topics"]] == [t["count"] for t in found["topics"]]
    assert cli(index, "gaps", "--since", "2999-01-01", "--json") == {"questions": 0, "topics": []}
    from sihub.cli import main

    assert CliRunner().invoke(main, ["--index", str(index), "gaps", "--since", "yesterday"]).exit_code == 2
    assert (
        client.get("/api/gaps", params={"since": "soon"}, headers={"Authorization": f"Bearer {PASSWORD}"}).status_code
        == 400
    )


def test_gaps_csv_never_holds_a_formula() -> None:
    from sihub.assistant.gaps import csv_text

    text = csv_text({"topics": [{"label": "=HYPERLINK(1)", "count": 1, "languages": {"en": 1}, "examples": ["-x"]}]})
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text


# ---- item 4: open the quote ----------------------------------------------------------------------


def test_viewer_shows_only_indexed_documents_with_the_quote_marked(client) -> None:
    from sihub.web.viewer import pdfjs_dir

    docs = {Path(d["file"]).name: d["id"] for d in client.get("/api/documents").json()["documents"]}
    law = client.get(f"/view/{docs['likums.txt']}", params={"q": "stājās spēkā 2018. gada 1. aprīlī"})
    assert law.status_code == 200 and law.headers["content-type"].startswith("text/html")
    assert '<mark id="quote">stājās spēkā 2018. gada 1. aprīlī</mark>' in law.text
    assert "script-src 'self' 'nonce-" in law.headers["content-security-policy"]
    # A quote is text: markup in it is shown, never run.
    hostile = client.get(f"/view/{docs['likums.txt']}", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in hostile.text and "not in the indexed text" in hostile.text
    swedish = client.get(f"/view/{docs['likums.txt']}", params={"q": "<b>", "lang": "sv"})
    assert '<html lang="sv">' in swedish.text and "originalfil" in swedish.text.lower()
    assert "inte i den indexerade texten" in swedish.text
    # Without ?lang= the viewer speaks the reader's language: the page's cookie, then the browser's.
    french = client.get(f"/view/{docs['likums.txt']}", headers={"Accept-Language": "de-DE,fr;q=0.8,en;q=0.5"})
    assert '<html lang="fr">' in french.text and "fichier original" in french.text.lower()
    chosen = client.get(f"/view/{docs['likums.txt']}", headers={"Accept-Language": "fr", "Cookie": "sihub_lang=es"})
    assert '<html lang="es">' in chosen.text

    answer = client.post("/api/ask", json={"question": "How many best practices did the partners collect?"}).json()
    cite = next(c for c in answer["citations"] if c["file"].endswith(".pdf"))
    as_text = client.get(
        f"/view/{docs['buicasus.pdf']}",
        params={"page": cite["page"], "chunk": cite["chunk_id"], "q": cite["quote"], "text": 1},
    )
    assert f'<mark id="quote">{cite["quote"]}</mark>' in as_text.text.replace("&#x27;", "'")
    pdf = client.get(f"/view/{docs['buicasus.pdf']}", params={"page": cite["page"], "q": cite["quote"]})
    if pdfjs_dir(client.app.state.hub.settings) is not None:  # `make install` puts PDF.js there
        assert 'data-view="pdf"' in pdf.text and "viewer-data" in pdf.text
        assert client.get("/viewer/pdfjs/pdf.min.mjs").headers["content-type"].startswith("text/javascript")
    else:
        assert 'data-view="text"' in pdf.text and "PDF.js is not installed" in pdf.text

    for path in (
        "/view/999",
        "/viewer/pdfjs/pdf.mjs",
        "/viewer/pdfjs/..%2F..%2Fpackage.json",
        "/viewer/pdfjs/standard_fonts/..%2F..%2F..%2Fpyproject.toml",
        "/viewer/pdfjs/standard_fonts/%2Fetc%2Fpasswd",
        "/files/..%2F..%2Fpyproject.toml",
    ):
        assert client.get(path).status_code in (400, 404), path


def test_gap_clustering_matches_brute_force_average_linkage() -> None:
    import numpy as np

    from sihub.assistant.gaps import cluster

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(6, 32))
    v = centres[rng.integers(0, 6, 60)] * 2.5 + rng.normal(size=(60, 32))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    sims = v @ v.T

    def brute(threshold: float) -> list[list[int]]:
        groups = [[i] for i in range(len(v))]
        while len(groups) > 1:
            best = max(
                (
                    (sims[np.ix_(groups[i], groups[j])].mean(), i, j)
                    for i in range(len(groups))
                    for j in range(i + 1, len(groups))
                ),
            )
            if best[0] < threshold:
                break
            groups[best[1]] += groups.pop(best[2])
        return sorted(sorted(g) for g in groups)

    for threshold in (0.5, 0.7, 0.85):
        assert sorted(sorted(g) for g in cluster(v, threshold)) == brute(threshold)
    assert len(cluster(v, 0.5)) == 6


def test_the_readers_language_is_the_chosen_one_then_the_browsers_then_english() -> None:
    from sihub.web.text import cookie_lang, negotiate

    assert negotiate("sv-SE,sv;q=0.9,en;q=0.8") == "sv"
    assert negotiate("de-DE,de;q=0.9,lv;q=0.7,fr;q=0.8") == "fr"  # by quality, among the hub's languages
    assert negotiate("de, ja") == negotiate("") == negotiate(None) == "en"
    assert negotiate("es;q=0, fr") == "fr"  # q=0 means "not this one"
    assert negotiate("sv", chosen="lv") == "lv" and negotiate("sv", chosen="xx") == "sv"
    assert cookie_lang("a=1; sihub_lang=fr") == "fr" and cookie_lang('bad"cookie') is None


def test_the_page_starts_by_telling_the_browser_the_readers_language(client) -> None:
    """Gradio translates the page by `navigator.language`: the served page sets it first."""
    page = client.get("/", headers={"Accept-Language": "lv,en;q=0.5"})
    assert page.status_code == 200
    head = page.text.lower().split("<head", 1)[1]
    assert head.split(">", 1)[1].startswith('<script>(function(){var l="lv";')
    assert int(page.headers["content-length"]) == len(page.content)
    translations = client.get("/config").json()["i18n_translations"]
    assert translations["sv"]["tab_practices"] == "Goda exempel" and set(translations) == {"sv", "lv", "fr", "es", "en"}
