"""Fuzzing the readers: mutated PDF, DOCX, HTML, TXT and Markdown files, and decompression bombs.

Every mutated file must give a parsed document or a BadInputError with a one-line reason:
no other exception, no hang (a per-file alarm), and bombs (1 GB once decompressed, small on
disk) are refused in bounded memory, checked in a subprocess that reports its peak RSS.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import zipfile
import zlib
from datetime import UTC
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PER_FILE_SECONDS = 20
GB = 1 << 30


def docx_bytes(paragraphs: list[str], document_xml: bytes | None = None) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Sociālā uzņēmējdarbība", level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    if document_xml is None:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = document_xml if info.filename == "word/document.xml" else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


def docx_xml(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read("word/document.xml")


TEXT = [
    "L'incubateur de Nantes a accompagné 42 projets d'entreprises sociales en 2022.",
    "Malmö stad reserverade fem procent av städkontrakten för sociala företag.",
    "Sociālā uzņēmuma likums stājās spēkā 2018. gada 1. aprīlī.",
]


def seeds(tmp: Path) -> dict[str, bytes]:
    from datetime import datetime

    from fpdf import FPDF

    doc = FPDF()
    doc.set_creation_date(datetime(2023, 2, 16, tzinfo=UTC))  # the same bytes, so failures reproduce
    doc.set_title("Seed")
    doc.set_font("Helvetica", size=11)
    for text in ["BuiCaSuS overview\n\n" + TEXT[0], "Best practices\n\n" + TEXT[1]]:
        doc.add_page()
        doc.multi_cell(0, 6, text)
    pdf = tmp / "seed.pdf"
    doc.output(str(pdf))
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Hub</title></head><body><main>"
        "<h1>Kunskapshubb</h1>" + "".join(f"<p>{t}</p>" for t in TEXT) + "<table><tr><td>a</td><td>1</td></tr></table>"
        "</main></body></html>"
    ).encode()
    return {
        ".pdf": pdf.read_bytes(),
        ".docx": docx_bytes(TEXT),
        ".html": html,
        ".txt": ("Sociālā uzņēmējdarbība\n\n" + "\n\n".join(TEXT)).encode(),
        ".md": ("# Titre\n\n" + "\n\n".join(TEXT) + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n").encode("utf-16"),
    }


class Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ANN001
    raise Hang(f"a reader ran longer than {PER_FILE_SECONDS} s")


def read_checked(path: Path) -> None:
    """read_document must return or raise BadInputError with a one-line reason, within the time limit."""
    from sihub.errors import BadInputError
    from sihub.ingest import read_document

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(PER_FILE_SECONDS)
    try:
        doc = read_document(path, max_bytes=50 * 1024 * 1024)
    except BadInputError as exc:
        reason = str(exc)
        assert reason and "\n" not in reason and len(reason) < 400, repr(reason)
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for page in doc.pages:
        assert isinstance(page.text, str)


@st.composite
def mutations(draw, data: bytes) -> bytes:  # noqa: ANN001
    """Flip, drop, insert and duplicate bytes; truncate; or splice in structural junk."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "drop", "insert", "dup", "truncate", "junk"]))
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        if kind == "flip":
            b[i] = draw(st.integers(0, 255))
        elif kind == "drop":
            del b[i : i + draw(st.integers(1, 64))]
        elif kind == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "dup":
            j = draw(st.integers(i, min(len(b), i + 256)))
            b[i:i] = b[i:j] * draw(st.integers(1, 8))
        elif kind == "truncate":
            del b[i:]
        else:
            b[i:i] = draw(
                st.sampled_from(
                    [
                        b"<<",
                        b">>",
                        b"obj",
                        b"endobj",
                        b"stream",
                        b"trailer",
                        b"/Length 999999",
                        b"<w:p>",
                        b"</w:t>",
                        b"<script>",
                        b"<!--",
                        b"]]>",
                        b"\x00\x00",
                        b"\xff\xfe",
                        b"&#0;",
                        b"\r\r\n",
                        b"xref\n0 99999",
                    ]
                )
            )
    return bytes(b)


FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("ext", [".pdf", ".docx", ".html", ".txt", ".md"])
def test_mutated_files_give_a_document_or_one_line_reason(tmp_path, ext):
    seed = seeds(tmp_path)[ext]
    target = tmp_path / f"fuzz{ext}"

    @FUZZ
    @given(data=mutations(seed))
    def run(data: bytes) -> None:
        target.write_bytes(data)
        read_checked(target)

    run()


@pytest.mark.parametrize("part", ["xml", "pdf-content"])
def test_mutated_structure_inside_the_container(tmp_path, part):
    """Mutate the XML inside a valid DOCX zip, and an uncompressed PDF's objects, so the damage gets past the container."""
    from datetime import datetime

    if part == "xml":
        seed = docx_xml(seeds(tmp_path)[".docx"])
        target = tmp_path / "fuzz.docx"

        def wrap(xml: bytes) -> bytes:
            return docx_bytes(TEXT, document_xml=xml)
    else:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_compression(False)
        pdf.set_creation_date(datetime(2023, 2, 16, tzinfo=UTC))
        pdf.set_font("Helvetica", size=11)
        for t in TEXT[:2]:
            pdf.add_page()
            pdf.multi_cell(0, 6, t)
        seed = bytes(pdf.output())
        target = tmp_path / "fuzz.pdf"

        def wrap(raw: bytes) -> bytes:
            return raw

    @FUZZ
    @given(data=mutations(seed))
    def run(data: bytes) -> None:
        target.write_bytes(wrap(data))
        read_checked(target)

    run()


# ---- decompression bombs: small on disk, 1 GB inflated --------------------------------------


def _deflate_zeros(total: int, char: bytes = b" ") -> bytes:
    comp = zlib.compressobj(9)
    block = char * (1 << 20)
    parts = [comp.compress(block) for _ in range(total // len(block))]
    parts.append(comp.flush())
    return b"".join(parts)


def pdf_bomb(path: Path) -> Path:
    """A one-page PDF whose content stream inflates to 1 GB of spaces."""
    stream = _deflate_zeros(GB)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def docx_bomb(path: Path, lie: bool = False) -> Path:
    """A DOCX whose document.xml inflates to 1 GB (with `lie`, the zip headers claim 2 KB)."""
    base = docx_bytes(TEXT)
    head = b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info.filename, src.read(info))
        info = zipfile.ZipInfo("word/document.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(info, "w", force_zip64=True) as fh:
            fh.write(head)
            block = b"a " * (1 << 19)
            for _ in range(GB // len(block)):
                fh.write(block)
            fh.write(b"</w:t></w:r></w:p></w:body></w:document>")
    data = bytearray(out.getvalue())
    if lie:  # patch the declared uncompressed size (local header and central directory) down to 2 KB
        import struct

        name = b"word/document.xml"
        for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = 0
            while (pos := data.find(sig, pos)) >= 0:
                name_at = 30 if sig == b"PK\x03\x04" else 46
                if data[pos + name_at : pos + name_at + len(name)] == name:
                    data[pos + size_at : pos + size_at + 4] = struct.pack("<I", 2048)
                pos += 4
    path.write_bytes(bytes(data))
    return path


_PROBE = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from sihub.ingest import read_document
from sihub.errors import BadInputError
t = time.monotonic()
try:
    doc = read_document(sys.argv[1], max_bytes=100 << 20)
    outcome = "parsed: %d chars" % sum(len(p.text) for p in doc.pages)
except BadInputError as exc:
    outcome = "refused: " + str(exc)
except MemoryError:
    outcome = "MemoryError"
# VmHWM is this process image's own peak; ru_maxrss would carry over a big parent's peak across exec.
with open("/proc/self/status") as fh:
    rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "rss": rss, "seconds": time.monotonic() - t}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pdf", "docx", "docx-lying-headers"])
def test_gigabyte_bombs_are_refused_in_bounded_memory(tmp_path, kind):
    path = {
        "pdf": lambda: pdf_bomb(tmp_path / "bomb.pdf"),
        "docx": lambda: docx_bomb(tmp_path / "bomb.docx"),
        "docx-lying-headers": lambda: docx_bomb(tmp_path / "bomb.docx", lie=True),
    }[kind]()
    assert path.stat().st_size < 5 * 1024 * 1024  # small on disk
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["outcome"].startswith("refused: "), result
    assert "\n" not in result["outcome"]
    assert result["rss"] < 600 * 1024 * 1024, f"peak memory {result['rss'] / 1e6:.0f} MB"
