"""Every format partners send, read into pages of blocks: fixtures are built here, in the test."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import SHARED_EVAL

from sihub.errors import BadInputError
from sihub.index.embedder import make_embedder
from sihub.ingest import ChunkerConfig, chunk_document, read_document
from sihub.ingest.model import ReadOptions

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
needs_font = pytest.mark.skipif(not FONT.exists(), reason="fonts-dejavu-core not installed (make system-ocr)")
needs_tesseract = pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract not installed")

LV = (
    "Sociālā uzņēmuma likums stājās spēkā 2018. gada 1. aprīlī. Līdz 2022. gadam Labklājības ministrija "
    "reģistrēja vairāk nekā 200 sociālos uzņēmumus, kas nodarbina cilvēkus ar invaliditāti."
)
SV = (
    "Malmö stad reserverade fem procent av sina städkontrakt för arbetsintegrerande sociala företag. "
    "Upphandlingen gav 37 personer anställning och stärkte den lokala sam-\nverkan mellan förvaltningarna."
)


def chunks_of(doc):
    return chunk_document(doc, ChunkerConfig(), make_embedder("hash").count_tokens)


def assert_spans_exact(doc, chunks):
    for c in chunks:
        page = doc.pages[c.page - 1] if c.page else doc.pages[0]
        assert page.text[c.start : c.end] == c.text


# ------------------------------------------------------------------------------------------ PDF


def unicode_pdf(path: Path) -> Path:
    """Three pages, a running header and a page counter, outline headings, a table, a hyphen."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.set_title("Sociālā inovācija i Sverige och Lettland")
    pdf.set_auto_page_break(False)

    def header() -> None:
        pdf.set_font("DejaVu", size=8)
        pdf.cell(0, 6, "Hjärtviks kommun — Rapport 2023:2", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

    def footer(n: int) -> None:
        pdf.set_y(-20)
        pdf.set_font("DejaVu", size=8)
        pdf.cell(0, 6, f"Sida {n} av 3", align="C")

    def heading(text: str, level: int) -> None:
        pdf.start_section(text, level=level)
        pdf.set_font("DejaVu", "B", size=16 - 3 * level)
        pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    def para(text: str) -> None:
        pdf.set_font("DejaVu", size=11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

    pdf.add_page()
    header()
    heading("Sociālā uzņēmējdarbība Latvijā", 0)
    para(LV)
    para("Otrais punkts: atbalsta programmas darbojas visos reģionos kopš 2019. gada.")
    footer(1)
    pdf.add_page()
    header()
    heading("Offentlig upphandling i Malmö", 0)
    heading("Resultat", 1)
    para(SV)
    pdf.set_font("DejaVu", size=10)
    with pdf.table() as table:
        for row in (("Kommun", "Kontrakt", "Anställda"), ("Malmö", "Städ", "37"), ("Rīga", "Ēdināšana", "12")):
            r = table.row()
            for cell in row:
                r.cell(cell)
    footer(2)
    pdf.add_page()
    header()
    heading("Slutsatser", 0)
    para("Samarbetet fortsätter under 2024 med två nya kommuner och en gemensam utvärdering.")
    footer(3)
    pdf.output(str(path))
    return path


@needs_font
def test_pdf_pages_headers_hyphens_headings_table(tmp_path):
    doc = read_document(unicode_pdf(tmp_path / "rapport.pdf"))
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert doc.title == "Sociālā inovācija i Sverige och Lettland"
    texts = [p.text for p in doc.pages]
    # Running header and page counter are gone from every page.
    assert not any("Hjärtviks kommun" in t or "Sida " in t for t in texts), texts
    # Diacritics survive; Latvian text is on page 1, Swedish on page 2.
    assert "Sociālā uzņēmuma likums stājās spēkā" in texts[0]
    assert "37 personer anställning" in texts[1]
    # A hyphenated line break is joined; a paragraph is one block, not one per line.
    assert "samverkan" in texts[1] and "sam-" not in texts[1]
    para = next(b for b in doc.pages[0].blocks if b.text.startswith("Sociālā uzņēmuma likums"))
    assert para.kind == "para" and para.text.endswith("invaliditāti.")
    # Headings: from the outline, with levels.
    heads = [(b.text, b.level) for p in doc.pages for b in p.blocks if b.kind == "heading"]
    assert ("Offentlig upphandling i Malmö", 1) in heads and ("Resultat", 2) in heads
    # The table keeps its rows and cells.
    assert "Malmö | Städ | 37" in texts[1] and "Rīga | Ēdināšana | 12" in texts[1]

    chunks = chunks_of(doc)
    assert_spans_exact(doc, chunks)
    assert {c.page for c in chunks} == {1, 2, 3}
    by_page = {c.page: c for c in chunks}
    assert by_page[1].lang == "lv" and by_page[2].lang == "sv"
    assert by_page[2].heading == "Offentlig upphandling i Malmö > Resultat"
    assert all(len(c.hash) == 64 and not c.ocr for c in chunks)


def scan_image(text_lines: list[str]):
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 40)
    y = 150
    for line in text_lines:
        draw.text((120, y), line, fill=0, font=font)
        y += 70
    return img


def image_pdf(path: Path, with_text_page: bool) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if with_text_page:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, "A born-digital first page about social enterprises in Sweden and Latvia.")
    pdf.add_page()
    img = scan_image(["Protokoll från styrelsemötet", "Styrelsen beslutade att anställa", "fyra nya handledare."])
    pdf.image(img, x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    return path


@needs_font
def test_scanned_page_without_ocr_is_reported_not_dropped(tmp_path):
    mixed = read_document(image_pdf(tmp_path / "mixed.pdf", True), options=ReadOptions(ocr=False))
    assert [p.number for p in mixed.pages] == [1, 2]
    assert mixed.pages[0].blocks and not mixed.pages[1].blocks
    assert any("page 2" in w and "skipped" in w for w in mixed.warnings), mixed.warnings
    with pytest.raises(BadInputError, match="no text layer"):
        read_document(image_pdf(tmp_path / "scan.pdf", False), options=ReadOptions(ocr=False))


@needs_font
@needs_tesseract
def test_scanned_page_is_read_by_ocr(tmp_path):
    doc = read_document(image_pdf(tmp_path / "mixed.pdf", True))
    assert not doc.pages[0].ocr and doc.pages[1].ocr
    assert "fyra nya handledare" in doc.pages[1].text
    chunks = chunks_of(doc)
    assert_spans_exact(doc, chunks)
    assert [c.ocr for c in chunks if c.page == 2] == [True]
    assert all(not c.ocr for c in chunks if c.page == 1)


def test_encrypted_pdf(tmp_path):
    from conftest import make_pdf
    from pypdf import PdfWriter

    plain = make_pdf(tmp_path / "plain.pdf", ["Confidential board minutes about the incubator budget."])
    for name, user in (("locked.pdf", "secret"), ("open.pdf", "")):
        w = PdfWriter(clone_from=str(plain))
        w.encrypt(user_password=user, owner_password="owner", algorithm="RC4-128")
        w.write(tmp_path / name)
    with pytest.raises(BadInputError, match=r"^encrypted PDF \(needs a password\)$"):
        read_document(tmp_path / "locked.pdf")
    # An empty user password opens it.
    assert "incubator budget" in read_document(tmp_path / "open.pdf").pages[0].text


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", r"empty file \(0 bytes\)"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "unreadable PDF"),
        (bytes(range(256)) * 20, "not a PDF"),
    ],
)
def test_broken_pdfs(tmp_path, content, reason):
    (tmp_path / "x.pdf").write_bytes(content)
    with pytest.raises(BadInputError, match=reason) as info:
        read_document(tmp_path / "x.pdf")
    assert "\n" not in str(info.value)


def test_truncated_pdf(tmp_path):
    from conftest import make_pdf

    data = make_pdf(tmp_path / "whole.pdf", ["Page one text.", "Page two text."]).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    try:
        doc = read_document(tmp_path / "cut.pdf")
    except BadInputError as exc:
        assert "\n" not in str(exc)
    else:  # pypdf may rebuild what is left: then the pages it has are real pages
        assert all(p.number for p in doc.pages)


# ----------------------------------------------------------------------------------------- DOCX


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Inkubatorprogram för sociala entreprenörer"
    d.add_heading("Inkubatorprogram", level=1)
    d.add_paragraph("Reach for Change stöttar sociala entreprenörer som utvecklar lösningar för barn och unga.")
    d.add_heading("Urval", level=2)
    d.add_paragraph("Lösningen adresserar ett viktigt problem.", style="List Bullet")
    d.add_paragraph("Det finns tecken på att lösningen fungerar.", style="List Bullet")
    table = d.add_table(rows=2, cols=3)
    for i, row in enumerate((("År", "Sökande", "Antagna"), ("2022", "140", "6"))):
        for j, val in enumerate(row):
            table.cell(i, j).text = val
    d.add_paragraph("Efter tabellen kommer en sista mening om uppföljning.")
    d.save(str(path))
    return path


def test_docx_order_headings_tables(tmp_path):
    doc = read_document(make_docx(tmp_path / "prog.docx"))
    assert doc.title == "Inkubatorprogram för sociala entreprenörer"
    blocks = [(b.kind, b.level, b.text) for b in doc.pages[0].blocks]
    assert blocks[0] == ("heading", 1, "Inkubatorprogram")
    assert ("heading", 2, "Urval") in blocks
    assert ("item", 0, "Lösningen adresserar ett viktigt problem.") in blocks
    table = [t for k, _, t in blocks if k == "table"]
    assert table == ["År | Sökande | Antagna\n2022 | 140 | 6"]
    # Body order: the table sits between the list and the last paragraph.
    kinds = [k for k, _, _ in blocks]
    assert kinds.index("table") == len(kinds) - 2
    chunks = chunks_of(doc)
    assert_spans_exact(doc, chunks)
    assert all(c.page is None and c.lang == "sv" for c in chunks)


def test_docx_not_a_zip_and_zip_bomb(tmp_path):
    (tmp_path / "fake.docx").write_bytes(b"This is a Word 97 file, honestly." * 10)
    with pytest.raises(BadInputError, match=r"not a valid DOCX \(not a zip file\)"):
        read_document(tmp_path / "fake.docx")

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("word/media/filler.bin", b"\0" * (40 * 1024 * 1024))
    (tmp_path / "bomb.docx").write_bytes(buf.getvalue())
    assert (tmp_path / "bomb.docx").stat().st_size < 200_000
    with pytest.raises(BadInputError, match="zip bomb"):
        read_document(tmp_path / "bomb.docx")


# ----------------------------------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">
<title>Incubateurs sociaux à Nantes | Portail de la connaissance</title></head><body>
<div id="cookie-banner"><p>Nous utilisons des cookies pour mesurer l'audience. Accepter ou refuser les traceurs.</p>
<button>Accepter</button></div>
<header><nav><ul><li><a href="/">Accueil</a></li><li><a href="/a">Ressources documentaires</a></li>
<li><a href="/b">Agenda des événements</a></li><li><a href="/c">Contactez-nous</a></li></ul></nav></header>
<main><article><h1>Incubateurs sociaux à Nantes</h1>
<p>L'incubateur Ruche Solidaire de Nantes a accompagné 42 projets d'entreprises sociales en 2022. Chaque projet
reçoit un mentorat de six mois et une bourse de 15 000 euros versée par la métropole.</p>
<h2>Mesure d'impact</h2>
<p>Les entreprises incubées mesurent leur impact social avec une grille de douze indicateurs définie avec les
collectivités locales et revue chaque année par un comité indépendant.</p>
<ul><li>Emplois créés pour des personnes éloignées de l'emploi.</li><li>Chiffre d'affaires réinvesti localement.</li></ul>
</article></main>
<aside><h3>Articles liés</h3><p>Lire aussi notre dossier sur les tiers-lieux en Bretagne.</p></aside>
<footer><p>© 2024 Portail de la connaissance — Mentions légales — Plan du site</p></footer>
</body></html>"""


def test_html_main_content_only(tmp_path):
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    doc = read_document(tmp_path / "page.html")
    text = doc.pages[0].text
    assert doc.title == "Incubateurs sociaux à Nantes"
    assert "42 projets" in text and "douze indicateurs" in text
    for boilerplate in ("cookies", "Agenda des événements", "Mentions légales", "Contactez-nous"):
        assert boilerplate not in text
    heads = [(b.text, b.level) for b in doc.pages[0].blocks if b.kind == "heading"]
    assert ("Mesure d'impact", 2) in heads
    chunks = chunks_of(doc)
    assert_spans_exact(doc, chunks)
    assert any("Mesure d'impact" in c.heading or "Mesure d'impact" in c.text for c in chunks)


# ----------------------------------------------------------------------------------- text, md


def test_text_encodings(tmp_path):
    fr = "Compte rendu de la visite\n\nLes délégués ont visité l'incubateur à Lyon et rencontré l'équipe.\n"
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + fr.encode("utf-8"))
    (tmp_path / "win.txt").write_bytes(fr.encode("cp1252"))
    for name in ("bom.txt", "win.txt"):
        doc = read_document(tmp_path / name)
        assert "rencontré l'équipe" in doc.pages[0].text
        assert doc.title == "Compte rendu de la visite"
        assert not doc.pages[0].text.startswith("\ufeff")
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(BadInputError, match="binary content|not a text file"):
        read_document(tmp_path / "bin.txt")


def test_markdown_headings_and_inline_markup(tmp_path):
    md = (
        "---\ntitle: Sociala investeringsfonder\n---\n"
        "# Ekedala kommun\n\nKommunen avsatte **tio miljoner kronor** till en [social investeringsfond](https://x.se).\n\n"
        "## Resultat\n\nFonden finansierade sju insatser under 2021 och 2022.\n\n"
        "| År | Insatser |\n|---|---|\n| 2021 | 3 |\n| 2022 | 4 |\n"
    )
    (tmp_path / "fond.md").write_text(md, encoding="utf-8")
    doc = read_document(tmp_path / "fond.md")
    assert doc.title == "Sociala investeringsfonder"
    text = doc.pages[0].text
    assert "tio miljoner kronor till en social investeringsfond." in text
    assert "År | Insatser\n2021 | 3" in text and "---" not in text
    chunks = chunks_of(doc)
    assert_spans_exact(doc, chunks)
    assert {c.heading for c in chunks} <= {"Ekedala kommun", "Ekedala kommun > Resultat"}


# ------------------------------------------------------------------------- real PDF samples

SAMPLES = SHARED_EVAL / "pdf-samples"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared eval PDF samples absent")
def test_real_pdf_samples():
    from pypdf import PdfReader

    seen = 0
    for path in sorted(SAMPLES.glob("*.pdf")):
        if path.name == "libreoffice-writer-password.pdf":
            with pytest.raises(BadInputError, match=r"^encrypted PDF \(needs a password\)$"):
                read_document(path)
            continue
        try:
            doc = read_document(path)
        except BadInputError as exc:
            # Only a file pypdf itself cannot open may fail, and then with one line.
            with pytest.raises(Exception):  # noqa: B017
                len(PdfReader(str(path)).pages)
            assert "\n" not in str(exc)
            continue
        seen += 1
        n = len(PdfReader(str(path)).pages)
        assert [p.number for p in doc.pages] == list(range(1, n + 1)), path.name
        chunks = chunks_of(doc)
        assert chunks, path.name
        assert all(1 <= c.page <= n for c in chunks)
        assert_spans_exact(doc, chunks)
        if path.name == "multicolumn.pdf":
            assert any("adipiscing elit" in p.text for p in doc.pages)  # "adip-" + "iscing" joined
        if path.name == "pdflatex-outline.pdf":
            assert any(c.heading for c in chunks)
    assert seen >= 8


def _table_pdf(path: Path, rows: list[tuple[str, ...]], widths: tuple[int, ...]) -> Path:
    """A paragraph, a table drawn as fpdf2 draws one (cell by cell, wrapped cells centred in
    their row), then another paragraph."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.add_page()
    pdf.set_font("DejaVu", size=10)
    pdf.multi_cell(0, 6, "The work plan has four work packages.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", size=9)
    with pdf.table(
        width=sum(widths),
        col_widths=widths,
        text_align="LEFT",
        line_height=4.6,
        padding=1.2,
        first_row_as_headings=True,
    ) as table:
        for row in rows:
            r = table.row()
            for cell in row:
                r.cell(cell)
    pdf.ln(5)
    pdf.set_font("DejaVu", size=10)
    pdf.multi_cell(0, 6, "After the table comes a paragraph of ordinary text, long enough to run over two lines.")
    pdf.output(str(path))
    return path


@needs_font
def test_pdf_table_row_with_wrapped_cells_stays_one_row(tmp_path):
    rows = [
        ("WP", "Title", "Lead", "Co-lead", "Key outputs"),
        ("WP1", "Management", "Spain", "-", "Reports"),
        (
            "WP3",
            "Learning from each other: replicating and scaling initiatives",
            "France (Avise)",
            "Reach for Change and Inkludera",
            "Peer-learning visits; replication and scaling pilots",
        ),
        ("WP4", "Knowledge hub", "Sweden", "Avise", "Hub"),
    ]
    doc = read_document(_table_pdf(tmp_path / "wp.pdf", rows, (20, 35, 25, 25, 40)))
    blocks = [(b.kind, b.text) for b in doc.pages[0].blocks]
    # One table, its wrapped row one line with its five cells (not five short paragraphs).
    assert blocks == [
        ("para", "The work plan has four work packages."),
        ("table", "\n".join(" | ".join(r) for r in rows)),
        ("para", "After the table comes a paragraph of ordinary text, long enough to run over two lines."),
    ]


@needs_font
def test_pdf_two_columns_of_text_are_not_taken_for_a_table_row(tmp_path):
    from fpdf import FPDF

    left = " ".join(f"Left column sentence {n} about social innovation." for n in range(1, 9))
    right = " ".join(f"Right column sentence {n} about competence centres." for n in range(1, 9))
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_page()
    pdf.set_font("DejaVu", size=10)
    top = pdf.get_y()
    pdf.multi_cell(85, 5, left)
    pdf.set_xy(110, top)
    pdf.multi_cell(85, 5, right)
    path = tmp_path / "columns.pdf"
    pdf.output(str(path))
    doc = read_document(path)
    text = doc.pages[0].text
    assert " | " not in text
    # Each column reads on as one text, left then right.
    assert text.index("sentence 8 about social") < text.index("Right column sentence 1")
    assert "Left column sentence 1" in text and "Right column sentence 8 about competence centres." in text
