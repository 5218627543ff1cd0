"""The HTTP edge under attack: every bad request a clean 4xx, nothing written outside the library.

Oversized and mistyped uploads, path traversal in file names, unknown ids, malformed JSON,
HTML/JS in names and text, and coordinator access (password, constant-time compare, rate limit).
Runs the real app (FastAPI + the Gradio mount) over a real index with the hash embedder.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # the app answers IP addresses and localhost (a DNS name must be allowed)
PASSWORD = "s3cret-coordinator"
AUTH = {"Authorization": f"Bearer {PASSWORD}"}
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def _site(tmp_path: Path):  # noqa: ANN202
    """(client, settings, root): an app over a small index; `root` holds everything it may touch."""
    from sihub.assistant import Assistant
    from sihub.settings import Settings
    from sihub.web import create_app

    root = tmp_path / "site"
    docs = root / "library" / "docs"
    docs.mkdir(parents=True)
    (docs / "evil.txt").write_text(
        f"Title {XSS}\n\nThe incubator text {XSS} mentors social enterprises.\n", encoding="utf-8"
    )
    (docs / "plain.txt").write_text(
        "Social procurement in Malmö reserved five percent of contracts.\n", encoding="utf-8"
    )
    settings = Settings.from_env(
        env={},
        index=root / "index",
        library=root / "library",
        embedder="hash",
        admin_password=PASSWORD,
        max_upload_mb=0.05,
    )
    a = Assistant(settings)
    assert not a.ingest([docs]).failed
    a.close()
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        yield client, settings, root


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One app for the tests that only get refusals (building the app takes seconds)."""
    yield from _site(tmp_path_factory.mktemp("http"))


@pytest.fixture
def fresh_site(tmp_path):
    """An app of its own, for tests that change the rate limiter's state."""
    yield from _site(tmp_path)


def files_under(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")} if folder.exists() else set()


def assert_clean_4xx(r, *codes: int) -> None:  # noqa: ANN001
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if codes:
        assert r.status_code in codes, (r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"].strip(), body
    assert "Traceback" not in r.text and 'File "' not in r.text


def upload(client, name: str, data: bytes = b"# Upload\n\nA cooperative in Riga.\n", headers=AUTH):  # noqa: ANN001, ANN201
    return client.post("/api/documents", files={"files": (name, data, "text/markdown")}, headers=headers)


# ---- uploads -----------------------------------------------------------------------------------


TRAVERSAL = [
    "../../etc/passwd",
    "../../../../../../tmp/sihub-escape.md",
    "/etc/passwd",
    "/tmp/sihub-escape.md",
    "..\\..\\windows\\win.ini.md",
    "....//....//escape.md",
    "..%2f..%2fescape.md",
    "uploads/../../escape.md",
    "a\x00b.md",
    "escape.md\x00.pdf",
    "\x00",
    "..",
    ".",
    "",
    " ",
    "./.hidden.md",
    "CON.md",
    "a" * 300 + ".md",
    "name\r\nX-Injected: 1.md",
]


@pytest.mark.parametrize("name", TRAVERSAL, ids=[repr(n)[:30] for n in TRAVERSAL])
def test_upload_names_never_escape_the_library(site, name):
    client, settings, root = site
    outside_before = files_under(root.parent) - files_under(settings.library) - files_under(settings.index)
    etc_passwd = Path("/etc/passwd").read_bytes()
    try:
        r = upload(client, name)
    except Exception as exc:  # noqa: BLE001 - the client itself may refuse to send a name (e.g. NUL)
        pytest.skip(f"the HTTP client cannot send this name: {exc}")
    assert r.status_code in (201, 400, 422), (r.status_code, r.text[:300])
    if r.status_code != 201:
        assert_clean_4xx(r)
    else:
        for res in r.json()["results"]:
            if res["status"] in ("added", "updated", "unchanged"):
                saved = Path(res["file"]).resolve()
                assert saved.is_relative_to(settings.library.resolve()), saved
                assert "\x00" not in saved.name and "/" not in saved.name and not saved.name.startswith(".")
    outside_after = files_under(root.parent) - files_under(settings.library) - files_under(settings.index)
    assert outside_after == outside_before, outside_after ^ outside_before
    assert Path("/etc/passwd").read_bytes() == etc_passwd
    assert not Path("/tmp/sihub-escape.md").exists()


def test_upload_through_a_planted_symlink_does_not_write_outside(site):
    client, settings, root = site
    victim = root.parent / "victim.md"
    victim.write_text("untouched\n", encoding="utf-8")
    uploads = settings.library / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "notes.md").symlink_to(victim)
    r = upload(client, "notes.md", b"# Overwrite\n\nThis must not land outside the library.\n")
    assert r.status_code in (201, 400), r.text
    assert victim.read_text(encoding="utf-8") == "untouched\n"


def test_oversized_upload_is_413_and_leaves_nothing(site):
    client, settings, _ = site
    before = files_under(settings.library)
    r = upload(client, "big.md", b"# Big\n\n" + b"word " * 40_000)  # 200 KB > 0.05 MB
    assert_clean_4xx(r, 413)
    assert files_under(settings.library) == before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"files": "x.md"}},
        {"content": b"just bytes", "headers": {"Content-Type": "application/octet-stream"}},
        {"content": b"--xx\r\nbroken multipart", "headers": {"Content-Type": "multipart/form-data; boundary=xx"}},
        {"content": b"", "headers": {"Content-Type": "multipart/form-data"}},
        {"files": {"other": ("x.md", b"# x\n\ntext", "text/markdown")}},
        {"files": {"files": ("tool.exe", b"MZ\x90\x00binary", "application/octet-stream")}},
        {"files": {"files": ("fake.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf")}},
    ],
    ids=["json", "octet-stream", "broken-multipart", "empty-multipart", "wrong-field", "exe", "fake-pdf"],
)
def test_wrong_content_types_are_clean_4xx(site, kwargs):
    client, settings, _ = site
    headers = {**AUTH, **kwargs.pop("headers", {})}
    r = client.post("/api/documents", headers=headers, **kwargs)
    if r.status_code == 201:  # a file that was accepted as a file must have failed as a document
        assert all(res["status"] == "failed" and res["reason"] for res in r.json()["results"]), r.json()
    else:
        assert_clean_4xx(r)
    leftovers = [p for p in files_under(settings.library) if p.endswith((".exe", ".part"))]
    assert not leftovers


# ---- ids and JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc_id", ["999999", "0", "-1", "abc", "1.5", "99999999999999999999999", "%00", "..%2f..%2fetc%2fpasswd"]
)
def test_unknown_document_ids_are_clean_4xx(site, doc_id):
    client, _, _ = site
    assert_clean_4xx(client.delete(f"/api/documents/{doc_id}", headers=AUTH))
    r = client.get(f"/files/{doc_id}")
    assert 400 <= r.status_code < 500 and "root:" not in r.text, (r.status_code, r.text[:200])


MALFORMED = [
    b"{bad json",
    b"",
    b"[]",
    b"null",
    b'"just a string"',
    b'{"question": 5}',
    b'{"question": null}',
    b'{"question": ["a"]}',
    b'{"question": "x", "k": -1}',
    b'{"question": "x", "k": "many"}',
    b'{"question": "x", "k": 1e309}',
    b'{"question": "x", "history": "not a list"}',
    b'{"question": "x", "filters": {"nosuchkey": "y"}}',
    b'{"question": "' + b"a" * 10_001 + b'"}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"question": "x"' + b', "a": {' * 5_000 + b"}" * 5_001,
    b'\xff\xfe{"question": "x"}',
]


@pytest.mark.parametrize("body", MALFORMED, ids=[repr(b[:24]) for b in MALFORMED])
def test_malformed_json_is_a_clean_4xx(site, body):
    client, _, _ = site
    assert_clean_4xx(client.post("/api/ask", content=body, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": b"question=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"content": b"question", "headers": {"Content-Type": "text/plain"}},
    ],
)
def test_ask_with_the_wrong_content_type_is_a_clean_4xx(site, kwargs):
    client, _, _ = site
    assert_clean_4xx(client.post("/api/ask", **kwargs))


def test_odd_but_valid_json_is_answered(site):
    client, _, _ = site
    lone = client.post(
        "/api/ask", content=b'{"question": "\\ud800 incubator"}', headers={"Content-Type": "application/json"}
    )
    assert lone.status_code == 200 or (lone.status_code == 400 and "unicode" in lone.json()["error"]), lone.text
    for question in ["😀" * 50, 'NEAR( " * OR', "'; DROP TABLE documents; --", "a\u0000b incubator"]:
        r = client.post(
            "/api/ask", content=json.dumps({"question": question}), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, (question, r.status_code, r.text[:300])
        assert isinstance(r.json()["answer"], str)
    r = client.get("/api/search", params={"q": 'NEAR( " * OR -:^'})
    assert r.status_code == 200
    assert any(d["file"].endswith("plain.txt") for d in client.get("/api/documents").json()["documents"])


# ---- HTML and JS are shown as text -------------------------------------------------------------


def test_html_in_documents_and_names_is_text_in_every_rendering(site):
    from sihub.types import Citation
    from sihub.web.hub import safe_name
    from sihub.web.render import citation_card, documents_html, sources_html

    client, _, _ = site
    found = client.get("/api/search", params={"q": "incubator text mentors social enterprises"})
    assert found.status_code == 200
    hits = found.json()["hits"]
    assert any(XSS in h["text"] for h in hits)  # JSON carries the text as it is; rendering must escape it

    from sihub.types import Answer

    cites = [
        Citation(
            n=i,
            file=h["file"],
            title=h["title"],
            page=h["page"],
            lang=h["lang"],
            heading=h["heading"],
            text=h["text"],
            quote=h["text"][:40],
            score=h["score"],
        )
        for i, h in enumerate(hits, start=1)
    ]
    evil = Citation(
        n=9,
        file=f"library/{XSS}.md",
        title=XSS,
        page=None,
        lang=f"<b>{XSS}",
        heading=XSS,
        text=f"before {XSS} after",
        quote=XSS,
        score=1.0,
        meta={"partner": XSS, "country": "<i>LV</i>"},
    )
    html = sources_html(Answer("q", "en", True, "a", [*cites, evil]), 1, {}) + citation_card(evil, 2, 7)
    docs = client.get("/api/documents").json()["documents"]
    from sihub.types import Document

    html += documents_html(
        [
            Document(path=d["file"], title=d["title"] + XSS, lang=d["lang"], sha256="0", meta={"partner": XSS})
            for d in docs
        ]
    )
    for needle in ("<script", "<img", "<i>LV", "<b><"):
        assert needle not in html, needle
    assert "&lt;script&gt;" in html
    # File names of uploads lose the markup characters altogether.
    assert "<" not in safe_name(f"{XSS}.md") and ">" not in safe_name(f"{XSS}.md")


def test_original_html_files_are_served_sandboxed(site):
    client, settings, _ = site
    page = settings.library / "uploads-page.html"
    page.write_text(f"<html><body><h1>Hub</h1><p>Social innovation in Riga.</p>{XSS}</body></html>", encoding="utf-8")
    from sihub.assistant import Assistant

    a = Assistant(settings)
    a.ingest([page], remove_missing=False)
    a.close()
    doc = next(d for d in client.get("/api/documents").json()["documents"] if d["file"].endswith(".html"))
    r = client.get(f"/files/{doc['id']}")
    assert r.status_code == 200
    assert "sandbox" in r.headers.get("content-security-policy", "")
    assert r.headers.get("x-content-type-options") == "nosniff"


# ---- coordinator access ------------------------------------------------------------------------


def test_upload_and_delete_without_the_password_are_refused(site):
    client, settings, _ = site
    docs = client.get("/api/documents").json()["documents"]
    doc_id = docs[0]["id"]
    before = files_under(settings.library)
    for headers in (
        {},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {PASSWORD}"},
        {"Authorization": PASSWORD},
    ):
        assert_clean_4xx(upload(client, "x.md", headers=headers), 401, 403)
        assert_clean_4xx(client.delete(f"/api/documents/{doc_id}", headers=headers), 401, 403)
    assert client.get("/api/documents").json()["documents"] == docs
    assert files_under(settings.library) == before


def test_wrong_passwords_are_rate_limited_even_for_the_right_one_afterwards(fresh_site):
    client, _, _ = fresh_site
    docs = client.get("/api/documents").json()["documents"]
    doc_id = docs[0]["id"]
    codes = []
    for guess in [PASSWORD[:-1], PASSWORD + "x", PASSWORD.upper(), "", "s", PASSWORD[:-1] + "\u00e9", "x" * 10_000]:
        codes.append(
            client.delete(f"/api/documents/{doc_id}", headers={"Authorization": f"Bearer {guess}".encode()}).status_code
        )
    assert 429 in codes and all(c in (401, 429) for c in codes), codes
    r = client.delete(f"/api/documents/{doc_id}", headers=AUTH)
    assert_clean_4xx(r, 429)
    assert r.headers.get("retry-after", "").isdigit()
    assert client.get("/api/documents").json()["documents"] == docs


def test_password_is_compared_in_constant_time():
    from sihub.web import auth

    source = inspect.getsource(auth)
    assert "hmac.compare_digest" in source
    # No early-exit comparison of the secret anywhere in the web edge.
    web = Path(auth.__file__).parent
    for path in sorted(web.rglob("*.py")):
        module = ".".join(path.relative_to(web).with_suffix("").parts)
        text = inspect.getsource(__import__(f"sihub.web.{module}", fromlist=["x"]))
        assert "== self._password" not in text and "password ==" not in text and "== password" not in text, module


def test_without_a_configured_password_writes_are_disabled(tmp_path):
    from sihub.settings import Settings
    from sihub.web import create_app

    settings = Settings.from_env(env={}, index=tmp_path / "index", library=tmp_path / "library", embedder="hash")
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        assert_clean_4xx(upload(client, "x.md", headers={"Authorization": "Bearer "}), 401, 403)
        assert_clean_4xx(upload(client, "x.md", headers={"Authorization": "Bearer anything"}), 403)
    assert not os.path.exists(tmp_path / "library" / "uploads" / "x.md")


def test_refusals_under_v1_take_openais_error_shape_and_others_keep_theirs(site):
    """The middleware's refusals (unknown host, a write from another site, a body too large) are
    read by chat clients under /v1: there they take OpenAI's `{"error": {"message", "type", ...}}`."""
    client, settings, _ = site
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (settings.max_request_kb * 1024 + 10) + b'"}]}'
    refusals = [
        (400, "unknown host", {"headers": {"Host": "evil.example"}}),
        (403, "another site", {"headers": {"Origin": "http://evil.example"}, "json": {"messages": []}}),
        (413, "larger than the limit", {"content": big, "headers": {"Content-Type": "application/json"}}),
    ]
    for status, words, kwargs in refusals:
        openai = client.post("/v1/chat/completions", **kwargs)
        assert openai.status_code == status, (words, openai.text)
        error = openai.json()["error"]
        assert words in error["message"] and set(error) >= {"message", "type", "code"}, error
        assert error["type"] == ("invalid_request_error" if status != 403 else "permission_error")
        api = client.post("/api/ask", **kwargs)
        assert api.status_code == status and words in api.json()["error"], api.text  # unchanged elsewhere
