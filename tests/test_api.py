"""The HTTP API through FastAPI's test client, against a real small index (real embedder, SQLite, FAISS)."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # the app answers IP addresses and localhost (a DNS name must be allowed)
PASSWORD = "coordinator-secret"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny folder and an index over it, built once per module (the embedder is real)."""
    from conftest import make_tiny_folder

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    root = tmp_path_factory.mktemp("api")
    folder = make_tiny_folder(root / "docs")
    a = Assistant(Settings.from_env(env={}, index=root / "index"))
    report = a.ingest([folder])
    a.close()
    assert not report.failed
    return folder, root / "index"


@pytest.fixture
def built(template, tmp_path: Path):
    """Settings over a private copy of the index, with a library folder and a coordinator password."""
    from sihub.settings import Settings

    shutil.copytree(template[1], tmp_path / "index")
    return Settings.from_env(env={}, index=tmp_path / "index", library=tmp_path / "library", admin_password=PASSWORD)


@pytest.fixture
def client(built):
    from sihub.web import create_app

    with TestClient(create_app(built), base_url=LOCAL) as c:
        yield c


def _docs(client) -> dict[str, dict]:
    r = client.get("/api/documents")
    assert r.status_code == 200
    return {d["file"]: d for d in r.json()["documents"]}


# ---- reading ---------------------------------------------------------------------------------


def test_health_reports_index_size_embedder_and_version(client) -> None:
    from sihub import __version__

    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["documents"] == 4
    assert body["chunks"] >= 4 and body["vectors"] == body["chunks"]
    assert body["embedder"]


def test_no_index_gives_503_as_json(settings) -> None:
    from sihub.web import create_app

    with TestClient(create_app(settings), base_url=LOCAL) as c:
        for r in (
            c.get("/api/health"),
            c.get("/api/documents"),
            c.get("/api/search", params={"q": "incubateur"}),
            c.post("/api/ask", json={"question": "Qui finance les incubateurs ?"}),
        ):
            assert r.status_code == 503
            assert "sihub ingest" in r.json()["error"]


def test_ask_returns_the_cli_json_with_verbatim_quotes(client) -> None:
    r = client.post("/api/ask", json={"question": "Combien de projets l'incubateur de Nantes a-t-il accompagnés ?"})
    assert r.status_code == 200
    body = r.json()
    assert {"question", "language", "found", "answer", "citations"} <= set(body)
    assert body["found"] is True
    files = [c["file"] for c in body["citations"]]
    assert any(f.endswith("fr/incubateur.md") for f in files)
    for c in body["citations"]:
        assert {"n", "file", "title", "page", "lang", "heading", "text", "quote", "score"} <= set(c)
        assert c["quote"] in c["text"]
        assert f"[{c['n']}]" in body["answer"] or not body["answer"]


def test_ask_takes_k_history_and_filters(client, built) -> None:
    from sihub.assistant import Assistant

    first = client.post("/api/ask", json={"question": "When did the social enterprise law enter into force in Latvia?"})
    assert first.status_code == 200
    history = [
        {"role": "user", "content": first.json()["question"]},
        {"role": "assistant", "content": first.json()["answer"]},
    ]
    r = client.post("/api/ask", json={"question": "And in Sweden?", "k": 2, "history": history})
    assert r.status_code == 200
    assert len(r.json()["citations"]) <= 2

    r = client.post("/api/ask", json={"question": "social enterprises", "filters": {"lang": "sv"}})
    assert r.status_code == 200
    takes_filters = "filters" in inspect.signature(Assistant.search).parameters
    if takes_filters:
        assert all(c["lang"] == "sv" for c in r.json()["citations"])
    else:
        assert "filters" in r.json().get("note", "")


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b'{"k": 3}',
        b'{"question": ""}',
        b'{"question": "   "}',
        b'{"question": "ok", "k": 0}',
        b'{"question": "ok", "history": "not a list"}',
        b"[]",
    ],
)
def test_ask_rejects_bad_requests_with_400(client, payload: bytes) -> None:
    r = client.post("/api/ask", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]


def test_search_returns_the_cli_json(client) -> None:
    r = client.get("/api/search", params={"q": "sociala företag upphandling", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "sociala företag upphandling"
    assert 1 <= len(body["hits"]) <= 2
    assert {"chunk_id", "file", "title", "page", "lang", "heading", "text", "score"} <= set(body["hits"][0])
    # The Swedish passage, or the French one its words translate to ("sociales entreprises"):
    # the index's word vectors come with the ingest, so translations count from the start.
    assert any(h["file"].endswith("sv/upphandling.md") for h in body["hits"])
    assert client.get("/api/search").status_code == 400
    assert client.get("/api/search", params={"q": "x", "filter": "colour=red"}).status_code == 400
    if (
        "filters"
        in inspect.signature(__import__("sihub.assistant", fromlist=["Assistant"]).Assistant.search).parameters
    ):
        hits = client.get("/api/search", params={"q": "sociala företag", "filter": ["lang=lv"]}).json()["hits"]
        assert hits and all(h["lang"] == "lv" for h in hits)
    assert client.get("/api/search", params={"q": "x", "k": 0}).status_code == 400


def test_documents_list_and_original_files(client) -> None:
    docs = _docs(client)
    assert len(docs) == 4
    pdf = next(d for f, d in docs.items() if f.endswith("buicasus.pdf"))
    assert pdf["pages"] == 2 and pdf["chunks"] >= 2 and isinstance(pdf["id"], int)
    r = client.get(f"/files/{pdf['id']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    md = next(d for f, d in docs.items() if f.endswith(".md"))
    r = client.get(f"/files/{md['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/files/999999").status_code == 404
    assert client.get("/files/not-a-number").status_code == 400


def test_unknown_endpoints_are_json_404_and_openapi_is_published(client) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and "error" in r.json()
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/ask", "/api/search", "/api/documents", "/api/documents/{doc_id}", "/api/health"):
        assert path in spec["paths"]


# ---- coordinators: uploads and deletions -----------------------------------------------------

UPLOAD = (
    "# Kooperativ i Umeå\n\nKooperativet Gröna Händer i Umeå driver en stadsodling med tolv deltagare "
    "som står långt från arbetsmarknaden.\n"
).encode()


def test_upload_and_delete_refused_without_a_configured_password(built) -> None:
    from sihub.web import create_app

    settings = built.replace(admin_password="")
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        r = c.post("/api/documents", files={"files": ("a.md", UPLOAD)}, headers=AUTH)
        assert r.status_code == 403
        assert "SIHUB_ADMIN_PASSWORD" in r.json()["error"]
        assert c.delete("/api/documents/1", headers=AUTH).status_code == 403
    assert not Path(settings.library).exists()


def test_upload_needs_the_right_password_and_is_rate_limited(client, built) -> None:
    files = {"files": ("umea.md", UPLOAD)}
    r = client.post("/api/documents", files=files)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    for _ in range(5):
        r = client.post("/api/documents", files=files, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
    r = client.post("/api/documents", files=files, headers=AUTH)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert not (Path(built.library) / "uploads" / "umea.md").exists()


def test_upload_saves_safe_names_in_the_library_and_indexes_only_them(client, built) -> None:
    before = _docs(client)
    files = [
        ("files", ("../../../etc/umea.md", UPLOAD, "text/markdown")),
        ("files", ("C:\\Users\\x\\notes.txt", "Anteckningar om sociala företag i Luleå.".encode(), "text/plain")),
        ("files", ("virus.exe", b"MZ", "application/octet-stream")),
    ]
    r = client.post("/api/documents", files=files, headers=AUTH)
    assert r.status_code == 201, r.text
    body = r.json()
    uploads = Path(built.library) / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["notes.txt", "umea.md"]
    assert not (Path(built.library).parent / "etc").exists()
    by_status = {x["file"]: x for x in body["results"]}
    assert by_status["virus.exe"]["status"] == "failed" and "unsupported" in by_status["virus.exe"]["reason"]
    added = [x for x in body["results"] if x["status"] == "added"]
    assert len(added) == 2 and all("id" in x for x in added)
    assert body["summary"].startswith("added 2, updated 0, unchanged 0, removed 0, failed 0")
    after = _docs(client)
    assert set(before) < set(after) and len(after) == len(before) + 2
    hits = client.get("/api/search", params={"q": "stadsodling i Umeå", "k": 1}).json()["hits"]
    assert hits[0]["file"].endswith("uploads/umea.md")


def test_upload_refuses_only_bad_files_with_400(client) -> None:
    r = client.post("/api/documents", files={"files": ("..", b"x")}, headers=AUTH)
    assert r.status_code == 400
    r = client.post("/api/documents", files={"files": ("payload.exe", b"x")}, headers=AUTH)
    assert r.status_code == 400 and "unsupported" in r.json()["error"]
    r = client.post("/api/documents", headers=AUTH)
    assert r.status_code == 400


def test_upload_over_the_limit_is_413(built) -> None:
    from sihub.web import create_app

    s = built.replace(max_upload_mb=0.01)
    big = b"# Big\n\n" + b"word " * 10_000
    with TestClient(create_app(s), base_url=LOCAL) as c:
        r = c.post("/api/documents", files={"files": ("big.md", big)}, headers=AUTH)
        assert r.status_code == 413
        assert "limit" in r.json()["error"]

        def chunked():
            boundary = b"--xyz\r\n"
            yield boundary + b'Content-Disposition: form-data; name="files"; filename="big.md"\r\n\r\n'
            for _ in range(40):
                yield b"word " * 2000
            yield b"\r\n--xyz--\r\n"

        r = c.post(
            "/api/documents", content=chunked(), headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"}
        )
        assert r.status_code == 413
    assert not (Path(s.library) / "uploads" / "big.md").exists()


def test_delete_removes_from_index_and_uploaded_file(client, built) -> None:
    r = client.post("/api/documents", files={"files": ("umea.md", UPLOAD)}, headers=AUTH)
    assert r.status_code == 201
    doc_id = r.json()["results"][0]["id"]
    assert client.delete(f"/api/documents/{doc_id}").status_code == 401
    assert client.delete("/api/documents/987654", headers=AUTH).status_code == 404
    r = client.delete(f"/api/documents/{doc_id}", headers=AUTH)
    assert r.status_code == 200 and r.json()["removed"] is True and r.json()["file_deleted"] is True
    assert not any(f.endswith("umea.md") for f in _docs(client))
    assert not (Path(built.library) / "uploads" / "umea.md").exists()
    # A document that was not uploaded leaves its file in place.
    lv = next(d for f, d in _docs(client).items() if f.endswith("likums.txt"))
    r = client.delete(f"/api/documents/{lv['id']}", headers=AUTH)
    assert r.status_code == 200 and r.json()["file_deleted"] is False and Path(lv["file"]).exists()
    hits = client.get("/api/search", params={"q": "Sociālā uzņēmuma likums", "k": 10}).json()["hits"]
    assert not any(h["file"] == lv["file"] for h in hits)


def test_server_sees_documents_another_process_ingests(client, built, tmp_path) -> None:
    """The server holds the index read-only; a commit by another writer shows up without a restart."""
    from sihub.assistant import Assistant

    assert client.get("/api/health").json()["documents"] == 4
    extra = tmp_path / "extra.md"
    extra.write_text("# Nytt\n\nEn ny rapport om sociala innovationer i Kiruna.\n", encoding="utf-8")
    writer = Assistant(built)
    writer.ingest([extra], remove_missing=False)
    writer.close()
    assert client.get("/api/health").json()["documents"] == 5
    hits = client.get("/api/search", params={"q": "sociala innovationer i Kiruna", "k": 1}).json()["hits"]
    assert hits[0]["file"].endswith("extra.md")


# ---- pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/abs/path/Sociālā ziņa.md", "Sociālā ziņa.md"),
        ("C:\\temp\\a.docx", "a.docx"),
        ("na\x00me.txt", "name.txt"),
        ("<script>alert(1)</script>.md", "script_.md"),
        ("  .hidden.md", "hidden.md"),
    ],
)
def test_safe_name(raw: str, safe: str) -> None:
    from sihub.web.hub import safe_name

    assert safe_name(raw) == safe


@pytest.mark.parametrize("raw", ["", "..", "../..", "/", "\x00", "..."])
def test_safe_name_refuses_empty_names(raw: str) -> None:
    from sihub.errors import BadInputError
    from sihub.web.hub import safe_name

    with pytest.raises(BadInputError):
        safe_name(raw)


def test_rendered_html_escapes_document_text_and_links_markers() -> None:
    from sihub.types import Answer, Citation, Document
    from sihub.web.render import answer_markdown, documents_html, sources_html

    text = "Intro <script>alert('x')</script> & the quoted <b>sentence</b>. Tail."
    cite = Citation(
        1,
        "docs/<img src=x onerror=alert(1)>.md",
        "<i>Title</i>",
        3,
        "en",
        "H <u>1</u>",
        text,
        "the quoted <b>sentence</b>.",
        0.9,
    )
    answer = Answer("q", "en", True, "They say <script>x</script> so [1] and [7].", [cite])
    md = answer_markdown(answer, turn=2)
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert '<a href="#src-2-1"' in md and "[7]" in md and "#src-2-7" not in md
    html = sources_html(answer, 2, {cite.file: 5})
    assert "<script>" not in html and "<img" not in html and "<i>" not in html and "<u>" not in html
    assert "<mark>the quoted &lt;b&gt;sentence&lt;/b&gt;.</mark>" in html
    assert 'id="src-2-1"' in html and 'href="/files/5"' in html
    doc = Document(path="x/<script>.md", title="<script>alert(1)</script>", lang="en", sha256="", id=1)
    table = documents_html([doc])
    assert "<script>" not in table and "&lt;script&gt;" in table


def test_source_cards_speak_the_answers_language() -> None:
    from sihub.assistant.i18n import label
    from sihub.types import Answer, Citation
    from sihub.web.render import sources_html

    cite = Citation(1, "corpus/lv/koncepcija.pdf", "Koncepcija", 5, "lv", "", "Teksts. Citāts.", "Citāts.", 0.9)
    html = sources_html(Answer("Hur många?", "sv", True, "Svar [1]", [cite]), 1, {cite.file: 7})
    assert label("sv", "open_document_page", page=5) in html and "· s. 5" in html
    assert "open document" not in html
    missing = Answer("Cik?", "lv", False, "…", [], related=[{"file": "a.md", "title": "A"}])
    html = sources_html(missing, 2, {})
    assert label("lv", "no_support") in html and label("lv", "related") in html


def test_feedback_is_stored_and_exported(settings) -> None:
    from click.testing import CliRunner

    from sihub.cli import main
    from sihub.feedback import FeedbackStore, feedback_path

    store = FeedbackStore(feedback_path(settings.index))
    answer = {
        "question": "Vad?",
        "answer": "Så här [1]",
        "language": "sv",
        "found": True,
        "citations": [{"n": 1, "file": "a.md", "quote": "Så"}],
    }
    store.add(1, answer)
    store.add(-1, {**answer, "question": "Och?"})
    with pytest.raises(ValueError):
        store.add(0, answer)
    out = CliRunner().invoke(main, ["--index", str(settings.index), "feedback", "--json"])
    assert out.exit_code == 0, out.output
    votes = json.loads(out.output)["feedback"]
    assert [v["rating"] for v in votes] == ["up", "down"]
    assert votes[0]["question"] == "Vad?" and votes[0]["citations"][0]["file"] == "a.md"
    plain = CliRunner().invoke(main, ["--index", str(settings.index), "feedback"])
    assert "2 votes: 1 up, 1 down" in plain.output


def test_open_host_without_password_warns(settings) -> None:
    from sihub.web.app import exposure_warning

    assert exposure_warning(settings) is None
    assert "SIHUB_ADMIN_PASSWORD" in exposure_warning(settings.replace(host="0.0.0.0"))
    assert exposure_warning(settings.replace(host="0.0.0.0", admin_password="x")) is None
