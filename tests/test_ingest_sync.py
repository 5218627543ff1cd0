"""Sync makes the index match the folder exactly; bad inputs are reported one line each."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BACKENDS, backend_settings, make_pdf, write_tree

from sihub.index.backend import IndexBackend
from sihub.index.backend import open_index as open_backend
from sihub.index.embedder import make_embedder
from sihub.index.parse_worker import default_parse
from sihub.index.store import Index
from sihub.index.sync import sync
from sihub.ingest import ChunkerConfig, chunk_document, read_document
from sihub.settings import Settings

CHUNKER = ChunkerConfig()
EMB = make_embedder("hash")


def open_index(path: Path, backend: dict | None = None, writable: bool = True) -> IndexBackend:
    """The index at `path` (embedded), or on the backend `backend` names (conftest.backend_settings)."""
    if not backend:
        return Index.open(path, EMB.id, EMB.dim, CHUNKER.as_dict(), writable=writable, create=writable)
    settings = Settings.from_env(env={}, index=path, **backend)
    return open_backend(settings, EMB.id, EMB.dim, CHUNKER.as_dict(), writable=writable, create=writable)


def run(index_dir: Path, folder: Path, backend: dict | None = None, **kw):
    with open_index(index_dir, backend) as index:
        return sync(index, [folder], EMB, CHUNKER, max_bytes=kw.pop("max_bytes", 10**8), **kw)


def snapshot(index_dir: Path, backend: dict | None = None) -> dict[str, list[tuple[int | None, str]]]:
    with open_index(index_dir, backend, writable=False) as index:
        assert index.consistency_problems() == []
        return {d.path: [(c.page, c.hash) for c in index.chunks_of(d.path)] for d in index.documents()}


def expected(folder: Path) -> dict[str, list[tuple[int | None, str]]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            chunks = chunk_document(read_document(p), CHUNKER, EMB.count_tokens)
            out[os.path.normpath(str(p))] = [(c.page, c.hash) for c in chunks]
    return out


TEXTS = {
    "a.md": "# Inkubator\n\nInkubatorn i Malmö stöttade tolv sociala företag under 2022.\n",
    "b.txt": "Sociālie uzņēmumi\n\nLatvijā reģistrēti vairāk nekā 200 sociālie uzņēmumi, kas nodarbina cilvēkus.\n",
}


@pytest.mark.parametrize("kind", BACKENDS)
def test_sync_add_change_rename_delete_exact(tmp_path, request, kind):
    folder = write_tree(tmp_path / "docs", TEXTS)
    make_pdf(folder / "c.pdf", ["First page about the incubator.", "Second page about procurement."])
    idx = tmp_path / "index"
    on = backend_settings(kind, tmp_path, request)

    first = run(idx, folder, on)
    assert (first.count("added"), first.count("failed")) == (3, 0) and first.embedded > 0
    assert snapshot(idx, on) == expected(folder)

    # Change one file, rename one, delete one, add one.
    time.sleep(0.01)
    (folder / "a.md").write_text(TEXTS["a.md"] + "\n## Resultat\n\nÅtta av dem finns kvar efter två år.\n")
    (folder / "b.txt").rename(folder / "b-renamed.txt")
    (folder / "c.pdf").unlink()
    (folder / "d.html").write_text(
        "<html><head><title>Nytt</title></head><body><main><h1>Nytt</h1><p>Kommunen öppnade ett nytt "
        "kunskapscentrum för social innovation i september.</p></main></body></html>",
        encoding="utf-8",
    )
    second = run(idx, folder, on)
    status = {Path(r.path).name: r.status for r in second.results}
    assert status == {"a.md": "updated", "b-renamed.txt": "renamed", "c.pdf": "removed", "d.html": "added"}
    assert "added 2, updated 1, unchanged 0, removed 1, failed 0" in second.summary()
    assert snapshot(idx, on) == expected(folder)

    # A pure rename costs no model work.
    (folder / "d.html").rename(folder / "e.html")
    third = run(idx, folder, on)
    assert third.embedded == 0 and third.count("renamed") == 1
    assert snapshot(idx, on) == expected(folder)

    # Nothing changed: nothing parsed, nothing embedded.
    fourth = run(idx, folder, on)
    assert fourth.embedded == 0 and fourth.count("unchanged") == 3
    assert snapshot(idx, on) == expected(folder)


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("word/media/x.bin", b"\0" * (30 * 1024 * 1024))
    return buf.getvalue()


def vanishing_parse(path, max_bytes, options):
    """A parser that finds its file gone (another process deleted it mid-ingest)."""
    if path.name.startswith("vanish"):
        path.unlink()
    if path.name.startswith("hang"):
        time.sleep(60)
    return default_parse(path, max_bytes, options)


def test_bad_inputs_each_one_line_and_the_rest_is_indexed(tmp_path):
    from pypdf import PdfWriter

    folder = write_tree(tmp_path / "docs", TEXTS)
    good_pdf = make_pdf(folder / "good.pdf", ["A good page about social enterprises."]).read_bytes()
    w = PdfWriter(clone_from=str(folder / "good.pdf"))
    w.encrypt(user_password="secret", algorithm="RC4-128")
    w.write(folder / "locked.pdf")
    write_tree(
        folder,
        {
            "empty.txt": b"",
            "cut.pdf": good_pdf[: len(good_pdf) // 4],
            "random.pdf": os.urandom(3000),
            "fake.docx": b"not a zip at all" * 20,
            "bomb.docx": zip_bomb(),
            "binary.txt": bytes(range(256)) * 10,
            "big.txt": "Ett långt dokument. " * 20000,
            "notes.xyz": "unsupported",
            "vanish.md": "# Borta\n\nDen här filen försvinner.\n",
        },
    )
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "self.md").symlink_to(folder / "self.md")
    report = run(tmp_path / "index", folder, max_bytes=200_000, parse=vanishing_parse)
    reasons = {Path(r.path).name: (r.status, r.reason) for r in report.results if r.status in ("failed", "skipped")}
    expected_reasons = {
        "empty.txt": "empty file (0 bytes)",
        "locked.pdf": "encrypted PDF (needs a password)",
        "fake.docx": "not a valid DOCX (not a zip file)",
        "vanish.md": "file vanished",
        "big.txt": "file too large",
        "bomb.docx": "zip bomb",
        "binary.txt": "not",
        "random.pdf": "not a PDF",
        "self.md": "symlink loop",
        "loop": "symlink loop",
    }
    for name, reason in expected_reasons.items():
        assert name in reasons, (name, reasons)
        assert reasons[name][0] == "failed" and reason in reasons[name][1], (name, reasons[name])
    assert reasons["notes.xyz"] == ("skipped", "unsupported file type .xyz")
    for _status, reason in reasons.values():
        assert reason and "\n" not in reason
    assert "cut.pdf" in reasons or report.count("added") == 4
    docs = snapshot(tmp_path / "index")
    assert {Path(p).name for p in docs} >= {"a.md", "b.txt", "good.pdf"}


def test_a_hung_parser_is_abandoned(tmp_path):
    folder = write_tree(tmp_path / "docs", {**TEXTS, "hang.md": "# Hang\n\nNever parsed.\n"})
    t0 = time.perf_counter()
    report = run(tmp_path / "index", folder, parse=vanishing_parse, file_timeout=4)
    assert time.perf_counter() - t0 < 30
    failed = {Path(r.path).name: r.reason for r in report.failed}
    assert list(failed) == ["hang.md"] and "took longer than 4 s" in failed["hang.md"]
    assert report.count("added") == 2


def test_cli_reports_bad_files_and_exits_1(tmp_path):
    from sihub.cli import main

    folder = write_tree(tmp_path / "docs", {**TEXTS, "fake.docx": b"PK? no", "empty.md": b""})
    r = CliRunner().invoke(main, ["--index", str(tmp_path / "i"), "--embedder", "hash", "ingest", str(folder)])
    assert r.exit_code == 1, r.output
    assert f"{folder / 'fake.docx'}: not a valid DOCX (not a zip file)" in r.output
    assert f"{folder / 'empty.md'}: empty file (0 bytes)" in r.output
    assert "added 2, updated 0, unchanged 0, removed 0, failed 2" in r.output


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_catalog_fields_reach_documents(tmp_path, fmt):
    folder = write_tree(tmp_path / "docs", {"lv/" + k if k.endswith("txt") else k: v for k, v in TEXTS.items()})
    if fmt == "yaml":
        (folder / "catalog.yaml").write_text(
            "lv/b.txt:\n  title: Sociālie uzņēmumi Latvijā\n  partner: SIF\n  country: LV\n  year: 2022\n"
            "  type: report\n  lang: lv\na.md:\n  partner: MSI\n",
            encoding="utf-8",
        )
    else:
        (folder / "catalog.csv").write_text(
            "file,title,partner,country,year,type\nlv/b.txt,Sociālie uzņēmumi Latvijā,SIF,LV,2022,report\na.md,,MSI,,,\n",
            encoding="utf-8",
        )
    run(tmp_path / "index", folder)
    with Index.open(tmp_path / "index", EMB.id) as index:
        docs = {Path(d.path).name: d for d in index.documents()}
    assert docs["b.txt"].title == "Sociālie uzņēmumi Latvijā"
    assert {k: str(v) for k, v in docs["b.txt"].meta.items()} == {
        "partner": "SIF",
        "country": "LV",
        "year": "2022",
        "type": "report",
    }
    assert docs["a.md"].meta == {"partner": "MSI"} and docs["a.md"].title == "Inkubator"


def test_files_read_by_an_older_reader_are_read_again(tmp_path, monkeypatch):
    from sihub.ingest import readers

    folder = write_tree(tmp_path / "docs", TEXTS)
    idx = tmp_path / "index"
    assert run(idx, folder).count("added") == 2
    with Index.open(idx, EMB.id) as index:
        assert {Path(d.path).name: d.reader for d in index.documents()} == {"a.md": 1, "b.txt": 1}

    # A newer Markdown reader: Markdown files are read again (their unchanged chunks keep their
    # vectors), the others are not.
    monkeypatch.setitem(readers.READER_VERSIONS, ".md", 7)
    again = run(idx, folder)
    assert {Path(r.path).name: r.status for r in again.results} == {"a.md": "updated", "b.txt": "unchanged"}
    assert again.embedded == 0
    assert next(r.reason for r in again.results if r.status == "updated") == "read again by a newer reader"
    with Index.open(idx, EMB.id) as index:
        assert {Path(d.path).name: d.reader for d in index.documents()} == {"a.md": 7, "b.txt": 1}
    assert snapshot(idx) == expected(folder)
    assert run(idx, folder).count("unchanged") == 2


def test_an_index_from_before_reader_versions_opens_with_version_1(tmp_path):
    import sqlite3

    folder = write_tree(tmp_path / "docs", TEXTS)
    idx = tmp_path / "index"
    run(idx, folder)
    db = sqlite3.connect(idx / "sihub.db")
    db.executescript(
        "DROP TABLE quote_vectors; DROP TABLE words; DROP TABLE word_vectors; "
        "ALTER TABLE documents DROP COLUMN answers; ALTER TABLE documents DROP COLUMN reader; PRAGMA user_version = 2;"
    )
    db.close()
    result = run(idx, folder)
    assert result.count("unchanged") == 2
    with Index.open(idx, EMB.id) as index:
        assert [d.reader for d in index.documents()] == [1, 1]
