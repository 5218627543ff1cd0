#!/usr/bin/env python3
"""Render the demo corpus.

Reads every ``corpus_sources/docs/*.md`` (Markdown with YAML front matter, see
``FORMAT.md``), renders it to ``corpus/<out>`` according to ``format``, writes
``corpus/catalog.yaml`` and merges ``corpus_sources/gold/*.jsonl`` into
``tests/gold/questions.jsonl`` after validating every question.

Usage::

    .venv/bin/python corpus_sources/render.py            # render everything
    .venv/bin/python corpus_sources/render.py --no-check # skip the fact check

The output is deterministic: re-running without edits changes no byte.
Exit status is 1 when a source or a gold question is invalid (everything that
could be rendered is still written, and every problem is listed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
import random
import re
import sys
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCS = HERE / "docs"
GOLD = HERE / "gold"
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "tests" / "gold" / "questions.jsonl"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

LANGS = ("en", "es", "fr", "sv", "lv")
FORMATS = ("pdf", "scanned-pdf", "docx", "html", "md", "txt")
TYPES = ("report", "case-study", "blueprint", "conference", "guide", "note", "web-page")
COUNTRIES = ("ES", "FR", "LV", "SE", "EU")
TAGS = ("crosslingual", "exact")
# Fixed timestamp for every piece of metadata, so output is reproducible.
FIXED_DATE = dt.datetime(2023, 5, 31, 12, 0, 0, tzinfo=dt.UTC)
ZIP_DATE = (2023, 5, 31, 12, 0, 0)

PAGE_MARKER = re.compile(r"^\s*<!--\s*page\s*-->\s*$", re.M)

FOOTER = {
    "en": "Page {n} of {m}",
    "fr": "Page {n} sur {m}",
    "sv": "Sida {n} av {m}",
    "lv": "Lapa {n} no {m}",
    "es": "Página {n} de {m}",
}


class RenderError(Exception):
    pass


# --------------------------------------------------------------------------
# Source parsing
# --------------------------------------------------------------------------


@dataclass
class Block:
    kind: str  # h1 h2 h3 p ul ol table
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Source:
    path: Path
    meta: dict
    body: str
    pages: list[list[Block]]

    @property
    def lang(self) -> str:
        """Language of the body (the chrome and footer speak it)."""
        return main_lang(self.meta["lang"])

    @property
    def langs(self) -> list[str]:
        """Every language of the document ("en+lv": English summary, Latvian body)."""
        return doc_langs(self.meta["lang"])

    @property
    def out(self) -> str:
        return self.meta["out"]


def doc_langs(lang: str) -> list[str]:
    return [p.strip() for p in str(lang).split("+")]


def main_lang(lang: str) -> str:
    """Body language: "en+lv" is an English summary before a Latvian text, so "lv"."""
    return doc_langs(lang)[-1]


def split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        raise RenderError(f"{path.name}: no YAML front matter")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise RenderError(f"{path.name}: unterminated front matter")
    meta = yaml.safe_load(parts[0][3:]) or {}
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return meta, body


def parse_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(Block("p", " ".join(s.strip() for s in para)))
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("<!--"):
            flush()
            i += 1
            continue
        m = re.match(r"^(#{1,3})\s+(.*)$", stripped)
        if m:
            flush()
            blocks.append(Block(f"h{len(m.group(1))}", m.group(2).strip()))
            i += 1
            continue
        if stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            width = max(len(r) for r in rows)
            rows = [r + [""] * (width - len(r)) for r in rows]
            blocks.append(Block("table", rows=rows))
            continue
        m = re.match(r"^([-*]|\d{1,3}[.)])\s+(.*)$", stripped)  # "2022. gada" is a date, not item 2022
        if m:
            flush()
            kind = "ul" if m.group(1) in "-*" else "ol"
            items: list[str] = []
            while i < len(lines):
                s = lines[i].strip()
                mm = re.match(r"^([-*]|\d{1,3}[.)])\s+(.*)$", s)
                if mm and (("ul" if mm.group(1) in "-*" else "ol") == kind):
                    items.append(mm.group(2).strip())
                elif s and not s.startswith(("#", "|", "<!--")) and items and lines[i].startswith((" ", "\t")):
                    items[-1] += " " + s  # continuation line
                else:
                    break
                i += 1
            blocks.append(Block(kind, items=items))
            continue
        para.append(stripped)
        i += 1
    flush()
    return blocks


def load_source(path: Path) -> Source:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path)
    problems = []
    for key in ("out", "format", "title", "lang", "partner", "country", "year", "type"):
        if key not in meta or meta[key] in (None, ""):
            problems.append(f"missing '{key}'")
    if problems:
        raise RenderError(f"{path.name}: " + ", ".join(problems))
    if meta["format"] not in FORMATS:
        problems.append(f"format {meta['format']!r} not in {FORMATS}")
    if any(p not in LANGS for p in str(meta["lang"]).split("+")):
        problems.append(f"lang {meta['lang']!r}")
    if meta["type"] not in TYPES:
        problems.append(f"type {meta['type']!r} not in {TYPES}")
    if meta["country"] not in COUNTRIES:
        problems.append(f"country {meta['country']!r} not in {COUNTRIES}")
    ext = Path(meta["out"]).suffix.lstrip(".")
    want = {"pdf": "pdf", "scanned-pdf": "pdf", "docx": "docx", "html": "html", "md": "md", "txt": "txt"}
    if ext != want.get(meta["format"], ext):
        problems.append(f"out {meta['out']!r} does not end in .{want[meta['format']]}")
    if problems:
        raise RenderError(f"{path.name}: " + "; ".join(problems))
    pages = [parse_blocks(chunk) for chunk in PAGE_MARKER.split(body)]
    pages = [p for p in pages if p] or [[]]
    return Source(path, meta, body, pages)


INLINE_BOLD = re.compile(r"\*\*(.+?)\*\*")


def plain(text: str) -> str:
    """Inline markup removed (only **bold** is supported)."""
    return INLINE_BOLD.sub(r"\1", text)


# --------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------


def _pdf_class():
    from fpdf import FPDF

    class CorpusPDF(FPDF):
        header_text = ""
        footer_fmt = FOOTER["en"]

        def header(self) -> None:
            self.set_font("DejaVu", "", 8)
            self.set_text_color(110, 110, 110)
            self.set_y(10)
            self.cell(0, 5, self.header_text, align="L")
            self.set_draw_color(170, 170, 170)
            self.line(self.l_margin, 16, self.w - self.r_margin, 16)
            self.set_text_color(0, 0, 0)
            self.set_y(self.t_margin)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("DejaVu", "", 8)
            self.set_text_color(110, 110, 110)
            text = self.footer_fmt.format(n=self.page_no(), m=self.alias_nb_pages_str)
            self.cell(0, 5, text, align="C")
            self.set_text_color(0, 0, 0)

    return CorpusPDF


def _add_fonts(pdf) -> None:
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
    pdf.add_font("DejaVu", "BI", str(FONT_DIR / "DejaVuSans-BoldOblique.ttf"))


def table_widths(pdf, rows: list[list[str]], width: float, pad: float = 3.4) -> list[float]:
    """Column widths (mm): never narrower than the longest word, otherwise by content."""
    ncols = len(rows[0])
    minw = [
        max(pdf.get_string_width(w) for r in rows for w in (plain(r[c]).split() or [""])) + pad for c in range(ncols)
    ]
    natw = [max(pdf.get_string_width(plain(r[c])) for r in rows) + pad for c in range(ncols)]
    if sum(natw) <= width:
        return [w * width / sum(natw) for w in natw]
    if sum(minw) > width:
        raise RenderError(f"table too wide: a row of words needs {sum(minw):.0f} mm")
    extra = width - sum(minw)
    want = [n - m for n, m in zip(natw, minw, strict=True)]
    return [m + extra * w / sum(want) for m, w in zip(minw, want, strict=True)]


def render_pdf(src: Source, dest: Path) -> None:
    from fpdf.enums import XPos, YPos

    cls = _pdf_class()
    pdf = cls(format="A4", unit="mm")
    pdf.alias_nb_pages_str = "{nb}"
    pdf.alias_nb_pages("{nb}")
    _add_fonts(pdf)
    pdf.set_margins(20, 22, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.header_text = str(src.meta.get("header") or src.meta["title"])
    pdf.footer_fmt = FOOTER[src.lang]
    pdf.set_title(str(src.meta["title"]))
    pdf.set_author(str(src.meta["partner"]))
    pdf.set_subject(f"{src.meta['type']} ({src.meta['country']}, {src.meta['year']})")
    pdf.set_keywords("social innovation; BuiCaSuS")
    pdf.set_creator("sihub corpus_sources/render.py")
    pdf.set_producer("fpdf2")
    pdf.set_lang(src.lang)
    pdf.set_creation_date(FIXED_DATE)
    outline = bool(src.meta.get("outline", True))
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def write_text(
        text: str, size: float, style: str = "", h: float = 5.2, indent: float = 0.0, bullet: str = ""
    ) -> None:
        pdf.set_font("DejaVu", style, size)
        x0 = pdf.l_margin + indent
        if bullet:
            pdf.set_x(x0)
            pdf.cell(5, h, bullet)
            x0 += 5
        pdf.set_x(x0)
        md = "**" in text
        pdf.multi_cell(pdf.w - pdf.r_margin - x0, h, text, markdown=md, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    for number, blocks in enumerate(src.pages, start=1):
        pdf.add_page()
        for idx, b in enumerate(blocks):
            if b.kind in ("h1", "h2", "h3"):
                size, gap = {"h1": (16, 3), "h2": (13, 2.5), "h3": (11, 1.5)}[b.kind]
                if idx:
                    pdf.ln(gap)
                if outline and b.kind in ("h1", "h2"):
                    pdf.start_section(plain(b.text), level=int(b.kind[1]) - 1, strict=False)
                write_text(plain(b.text), size, "B", h=size * 0.5)
                pdf.ln(1.5)
            elif b.kind == "p":
                write_text(b.text, 10.5)
                pdf.ln(2.2)
            elif b.kind in ("ul", "ol"):
                for n, item in enumerate(b.items, start=1):
                    write_text(item, 10.5, indent=3, bullet="•" if b.kind == "ul" else f"{n}.")
                    pdf.ln(0.8)
                pdf.ln(1.6)
            elif b.kind == "table":
                pdf.set_font("DejaVu", "B", 9)
                widths = table_widths(pdf, b.rows, width)
                pdf.set_font("DejaVu", "", 9)
                with pdf.table(
                    width=width,
                    col_widths=tuple(widths),
                    text_align="LEFT",
                    line_height=4.6,
                    padding=1.2,
                    first_row_as_headings=True,
                ) as table:
                    for row in b.rows:
                        r = table.row()
                        for cell in row:
                            r.cell(plain(cell))
                pdf.ln(3)
            if pdf.page != number:
                raise RenderError(
                    f"{src.path.name}: logical page {number} overflows its physical page "
                    f"(near {b.kind} {plain(b.text or ' '.join(b.items) or b.rows[0][0])[:60]!r})"
                )
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, bytes(pdf.output()))


# --------------------------------------------------------------------------
# Scanned PDF (image-only)
# --------------------------------------------------------------------------


def render_scanned_pdf(src: Source, dest: Path) -> None:
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    dpi = 200
    wpx, hpx = int(210 / 25.4 * dpi), int(297 / 25.4 * dpi)
    margin = int(22 / 25.4 * dpi)
    px = lambda pt: int(round(pt * dpi / 72))  # noqa: E731
    fonts = {
        "body": ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), px(11)),
        "bold": ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), px(11)),
        "h1": ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), px(15)),
        "h2": ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), px(12.5)),
        "small": ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), px(8.5)),
    }
    rng = random.Random(src.out)
    images = []
    footer_fmt = FOOTER[src.lang]
    for number, blocks in enumerate(src.pages, start=1):
        img = Image.new("L", (wpx, hpx), 255)
        draw = ImageDraw.Draw(img)
        y = margin

        def wrap(text: str, font, maxw: int, draw=draw) -> list[str]:
            out, cur = [], ""
            for word in text.split():
                trial = f"{cur} {word}".strip()
                if draw.textlength(trial, font=font) <= maxw or not cur:
                    cur = trial
                else:
                    out.append(cur)
                    cur = word
            if cur:
                out.append(cur)
            return out

        def lines(text: str, font, x: int, gap: float = 1.45, draw=draw) -> None:
            nonlocal y
            for ln in wrap(text, font, wpx - margin - x):
                draw.text((x, y), ln, font=font, fill=0)
                y += int(font.size * gap)

        header = str(src.meta.get("header") or "")
        if header:
            draw.text((margin, int(margin * 0.45)), header, font=fonts["small"], fill=70)
        for b in blocks:
            if b.kind in ("h1", "h2", "h3"):
                y += px(6) if y > margin else 0
                lines(plain(b.text), fonts["h1" if b.kind == "h1" else "h2"], margin)
                y += px(4)
            elif b.kind == "p":
                lines(plain(b.text), fonts["body"], margin)
                y += px(7)
            elif b.kind in ("ul", "ol"):
                for n, item in enumerate(b.items, start=1):
                    mark = "-" if b.kind == "ul" else f"{n}."
                    draw.text((margin + px(6), y), mark, font=fonts["body"], fill=0)
                    lines(plain(item), fonts["body"], margin + px(22))
                    y += px(2)
                y += px(5)
            elif b.kind == "table":
                ncols = len(b.rows[0])
                lengths = [max(len(plain(r[c])) for r in b.rows) + 3 for c in range(ncols)]
                total = sum(lengths)
                avail = wpx - 2 * margin
                xs = [margin]
                for length in lengths:
                    xs.append(xs[-1] + int(avail * length / total))
                for ri, row in enumerate(b.rows):
                    font = fonts["bold"] if ri == 0 else fonts["body"]
                    top = y
                    heights = []
                    for c, cell in enumerate(row):
                        yy = top + px(3)
                        for ln in wrap(plain(cell), font, xs[c + 1] - xs[c] - px(10)):
                            draw.text((xs[c] + px(5), yy), ln, font=font, fill=0)
                            yy += int(font.size * 1.35)
                        heights.append(yy - top + px(3))
                    y = top + max(heights)
                    draw.line([(margin, y), (xs[-1], y)], fill=60, width=2)
                    if ri == 0:
                        draw.line([(margin, top), (xs[-1], top)], fill=60, width=2)
                y += px(8)
            if y > hpx - margin:
                raise RenderError(f"{src.path.name}: scanned page {number} overflows")
        foot = footer_fmt.format(n=number, m=len(src.pages))
        fw = draw.textlength(foot, font=fonts["small"])
        draw.text(((wpx - fw) / 2, hpx - int(margin * 0.6)), foot, font=fonts["small"], fill=70)
        # Scanner look: a faint grey cast, specks, a hair of blur and skew.
        for _ in range(1400):
            xx, yy = rng.randrange(wpx), rng.randrange(hpx)
            r = rng.choice((1, 1, 1, 2))
            draw.ellipse([xx, yy, xx + r, yy + r], fill=rng.randrange(120, 200))
        img = img.filter(ImageFilter.GaussianBlur(0.6))
        img = img.rotate(rng.uniform(-0.35, 0.35), resample=Image.BICUBIC, fillcolor=250)
        img = img.point(lambda v: min(v, 246) if v > 200 else v)
        images.append(img)

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(str(src.meta["title"]))
    pdf.set_author(str(src.meta["partner"]))
    pdf.set_creator("Scanner")
    pdf.set_producer("sihub corpus_sources/render.py")
    pdf.set_creation_date(FIXED_DATE)
    for img in images:
        pdf.add_page()
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        buf.seek(0)
        pdf.image(buf, x=0, y=0, w=210, h=297)
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, bytes(pdf.output()))


# --------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------


def _docx_runs(par, text: str) -> None:
    pos = 0
    for m in INLINE_BOLD.finditer(text):
        if m.start() > pos:
            par.add_run(text[pos : m.start()])
        par.add_run(m.group(1)).bold = True
        pos = m.end()
    if pos < len(text):
        par.add_run(text[pos:])


def render_docx(src: Source, dest: Path) -> None:
    import docx
    from docx.shared import Pt

    d = docx.Document()
    style = d.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)
    cp = d.core_properties
    cp.title = str(src.meta["title"])
    cp.author = str(src.meta["partner"])
    cp.last_modified_by = str(src.meta["partner"])
    cp.subject = f"{src.meta['type']} ({src.meta['country']}, {src.meta['year']})"
    cp.keywords = "social innovation; BuiCaSuS"
    cp.language = src.lang
    cp.comments = ""
    cp.created = FIXED_DATE.replace(tzinfo=None)
    cp.modified = FIXED_DATE.replace(tzinfo=None)
    cp.revision = 1
    for number, blocks in enumerate(src.pages, start=1):
        if number > 1:
            d.add_page_break()
        for b in blocks:
            if b.kind in ("h1", "h2", "h3"):
                d.add_heading(plain(b.text), level=int(b.kind[1]))
            elif b.kind == "p":
                _docx_runs(d.add_paragraph(), b.text)
            elif b.kind in ("ul", "ol"):
                st = "List Bullet" if b.kind == "ul" else "List Number"
                for item in b.items:
                    _docx_runs(d.add_paragraph(style=st), item)
            elif b.kind == "table":
                t = d.add_table(rows=len(b.rows), cols=len(b.rows[0]))
                t.style = "Table Grid"
                for ri, row in enumerate(b.rows):
                    for ci, cell in enumerate(row):
                        c = t.cell(ri, ci)
                        c.text = plain(cell)
                        if ri == 0:
                            for run in c.paragraphs[0].runs:
                                run.bold = True
                d.add_paragraph()
    buf = io.BytesIO()
    d.save(buf)
    # python-docx stamps zip members with the current time: rewrite them.
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, zin.read(info.filename))
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, out.getvalue())


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

CHROME = {
    "en": {
        "site": "Social Innovation Knowledge Hub",
        "skip": "Skip to content",
        "menu": ["Home", "About the hub", "Resources", "Events", "News", "Contact"],
        "cookie": "We use cookies to measure visits and improve this site. You can accept all cookies or only the strictly necessary ones.",
        "accept": "Accept all",
        "reject": "Necessary only",
        "aside_title": "Latest news",
        "news": [
            "Call for speakers: regional meet-up on community energy",
            "New podcast episode: volunteering after retirement",
            "Office closed on public holidays",
        ],
        "newsletter": "Subscribe to our monthly newsletter",
        "legal": ["Privacy policy", "Cookie settings", "Accessibility statement", "Legal notice", "Sitemap"],
        "rights": "All rights reserved.",
        "crumb": "You are here",
    },
    "es": {
        "site": "Centro de Conocimiento de Innovación Social",
        "skip": "Saltar al contenido",
        "menu": ["Inicio", "Quiénes somos", "Recursos", "Agenda", "Noticias", "Contacto"],
        "cookie": "Utilizamos cookies propias y de terceros para analizar las visitas. Puede aceptarlas todas o solo las estrictamente necesarias.",
        "accept": "Aceptar todas",
        "reject": "Solo necesarias",
        "aside_title": "Últimas noticias",
        "news": [
            "Abierto el plazo de inscripción para el encuentro de voluntariado",
            "Nuevo episodio del pódcast sobre vivienda colaborativa",
            "Horario de verano de la oficina",
        ],
        "newsletter": "Suscríbase al boletín mensual",
        "legal": [
            "Política de privacidad",
            "Configuración de cookies",
            "Declaración de accesibilidad",
            "Aviso legal",
            "Mapa del sitio",
        ],
        "rights": "Todos los derechos reservados.",
        "crumb": "Está usted en",
    },
    "fr": {
        "site": "Centre de ressources innovation sociale",
        "skip": "Aller au contenu",
        "menu": ["Accueil", "Qui sommes-nous", "Ressources", "Agenda", "Actualités", "Contact"],
        "cookie": "Ce site utilise des cookies pour mesurer l'audience. Vous pouvez tout accepter ou vous limiter aux cookies strictement nécessaires.",
        "accept": "Tout accepter",
        "reject": "Cookies nécessaires uniquement",
        "aside_title": "Dernières actualités",
        "news": [
            "Appel à intervenants : rencontre régionale sur l'habitat partagé",
            "Nouvel épisode du podcast consacré au bénévolat",
            "Fermeture exceptionnelle des bureaux le vendredi",
        ],
        "newsletter": "Abonnez-vous à la lettre d'information",
        "legal": [
            "Politique de confidentialité",
            "Gestion des cookies",
            "Accessibilité : partiellement conforme",
            "Mentions légales",
            "Plan du site",
        ],
        "rights": "Tous droits réservés.",
        "crumb": "Vous êtes ici",
    },
    "sv": {
        "site": "Kunskapsnav för social innovation",
        "skip": "Hoppa till innehållet",
        "menu": ["Start", "Om oss", "Resurser", "Kalender", "Nyheter", "Kontakt"],
        "cookie": "Vi använder kakor för att förbättra webbplatsen och räkna besök. Du kan godkänna alla kakor eller bara de nödvändiga.",
        "accept": "Godkänn alla",
        "reject": "Endast nödvändiga",
        "aside_title": "Senaste nytt",
        "news": [
            "Sista dag för anmälan till höstens nätverksträff",
            "Nytt poddavsnitt om föreningsliv på landsbygden",
            "Kontoret har sommarstängt vecka 29–31",
        ],
        "newsletter": "Prenumerera på vårt nyhetsbrev",
        "legal": [
            "Integritetspolicy",
            "Kakinställningar",
            "Tillgänglighetsredogörelse",
            "Juridisk information",
            "Webbkarta",
        ],
        "rights": "Alla rättigheter förbehållna.",
        "crumb": "Du är här",
    },
    "lv": {
        "site": "Sociālās inovācijas zināšanu centrs",
        "skip": "Pāriet uz saturu",
        "menu": ["Sākums", "Par mums", "Resursi", "Pasākumi", "Jaunumi", "Kontakti"],
        "cookie": "Mēs izmantojam sīkdatnes, lai uzlabotu vietni un uzskaitītu apmeklējumus. Varat pieņemt visas sīkdatnes vai tikai nepieciešamās.",
        "accept": "Pieņemt visas",
        "reject": "Tikai nepieciešamās",
        "aside_title": "Jaunākās ziņas",
        "news": [
            "Pieteikšanās rudens tīklošanās pasākumam ir atvērta",
            "Jauna podkāsta epizode par brīvprātīgo darbu",
            "Biroja darba laiks svētku dienās",
        ],
        "newsletter": "Pierakstieties ikmēneša jaunumiem",
        "legal": [
            "Privātuma politika",
            "Sīkdatņu iestatījumi",
            "Piekļūstamības paziņojums",
            "Juridiskā informācija",
            "Vietnes karte",
        ],
        "rights": "Visas tiesības aizsargātas.",
        "crumb": "Jūs atrodaties šeit",
    },
}


def _inline_html(text: str) -> str:
    return INLINE_BOLD.sub(r"<strong>\1</strong>", html.escape(text, quote=False))


def blocks_to_html(blocks: list[Block], indent: str = "      ") -> list[str]:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"{indent}<{b.kind}>{_inline_html(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"{indent}<p>{_inline_html(b.text)}</p>")
        elif b.kind in ("ul", "ol"):
            out.append(f"{indent}<{b.kind}>")
            out += [f"{indent}  <li>{_inline_html(i)}</li>" for i in b.items]
            out.append(f"{indent}</{b.kind}>")
        elif b.kind == "table":
            out.append(f"{indent}<table>")
            out.append(
                f"{indent}  <thead><tr>" + "".join(f"<th>{_inline_html(c)}</th>" for c in b.rows[0]) + "</tr></thead>"
            )
            out.append(f"{indent}  <tbody>")
            for row in b.rows[1:]:
                out.append(f"{indent}    <tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>")
            out.append(f"{indent}  </tbody>")
            out.append(f"{indent}</table>")
    return out


def render_html(src: Source, dest: Path) -> None:
    c = CHROME[src.lang]
    title = html.escape(str(src.meta["title"]))
    slugs = ["index", "about", "resources", "events", "news", "contact"]
    blocks = [b for page in src.pages for b in page]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{src.lang}">',
        "<head>",
        '  <meta charset="utf-8">',
        '  <meta name="viewport" content="width=device-width, initial-scale=1">',
        f"  <title>{title} | {html.escape(c['site'])}</title>",
        f'  <meta name="description" content="{html.escape(str(src.meta.get("description", src.meta["title"])), quote=True)}">',
        f'  <meta name="author" content="{html.escape(str(src.meta["partner"]), quote=True)}">',
        '  <meta name="dcterms.modified" content="' + f"{src.meta['year']}" + '">',
        '  <link rel="stylesheet" href="/assets/site.css">',
        '  <script src="/assets/analytics.js" defer></script>',
        "</head>",
        "<body>",
        f'  <a class="skip-link" href="#content">{html.escape(c["skip"])}</a>',
        '  <div id="cookie-banner" class="cookie-banner" role="dialog" aria-live="polite">',
        f"    <p>{html.escape(c['cookie'])}</p>",
        f'    <button type="button" class="btn-accept">{html.escape(c["accept"])}</button>',
        f'    <button type="button" class="btn-reject">{html.escape(c["reject"])}</button>',
        "  </div>",
        '  <header class="site-header">',
        f'    <a class="logo" href="/{src.lang}/index.html">{html.escape(c["site"])}</a>',
        '    <nav class="main-menu" aria-label="menu">',
        "      <ul>",
    ]
    parts += [
        f'        <li><a href="/{src.lang}/{s}.html">{html.escape(m)}</a></li>'
        for s, m in zip(slugs, c["menu"], strict=True)
    ]
    parts += [
        "      </ul>",
        "    </nav>",
        "  </header>",
        '  <div class="breadcrumbs">'
        + f"{html.escape(c['crumb'])}: "
        + f'<a href="/{src.lang}/index.html">{html.escape(c["menu"][0])}</a> › '
        + f'<a href="/{src.lang}/resources.html">{html.escape(c["menu"][2])}</a> › {title}</div>',
        '  <main id="content">',
        "    <article>",
    ]
    parts += blocks_to_html(blocks)
    parts += [
        "    </article>",
        "  </main>",
        '  <aside class="sidebar">',
        f"    <h2>{html.escape(c['aside_title'])}</h2>",
        "    <ul>",
    ]
    parts += [
        f'      <li><a href="/{src.lang}/news/{i + 1}.html">{html.escape(n)}</a></li>' for i, n in enumerate(c["news"])
    ]
    parts += [
        "    </ul>",
        f'    <p><a href="/{src.lang}/newsletter.html">{html.escape(c["newsletter"])}</a></p>',
        "  </aside>",
        '  <footer class="site-footer">',
        "    <ul>",
    ]
    parts += [
        f'      <li><a href="/{src.lang}/legal/{i + 1}.html">{html.escape(item)}</a></li>'
        for i, item in enumerate(c["legal"])
    ]
    parts += [
        "    </ul>",
        f"    <p>© {src.meta['year']} {html.escape(c['site'])}. {html.escape(c['rights'])}</p>",
        "  </footer>",
        "</body>",
        "</html>",
        "",
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, "\n".join(parts).encode("utf-8"))


# --------------------------------------------------------------------------
# Markdown and plain text
# --------------------------------------------------------------------------


def render_md(src: Source, dest: Path) -> None:
    body = PAGE_MARKER.sub("", src.body)
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, body.encode("utf-8"))


def blocks_to_text(blocks: list[Block]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out += [plain(b.text).upper() if b.kind == "h1" else plain(b.text), ""]
        elif b.kind == "p":
            out += [plain(b.text), ""]
        elif b.kind in ("ul", "ol"):
            for n, item in enumerate(b.items, start=1):
                out.append(("- " if b.kind == "ul" else f"{n}. ") + plain(item))
            out.append("")
        elif b.kind == "table":
            for row in b.rows:
                out.append(" | ".join(plain(c) for c in row))
            out.append("")
    return out


def render_txt(src: Source, dest: Path) -> None:
    enc = str(src.meta.get("encoding", "utf-8")).lower()
    lines: list[str] = []
    for page in src.pages:
        lines += blocks_to_text(page)
    text = "\n".join(lines).strip() + "\n"
    newline = "\r\n" if enc in ("cp1252", "windows-1252", "latin-1", "iso-8859-1", "latin1") else "\n"
    try:
        data = text.replace("\n", newline).encode(enc)
    except UnicodeEncodeError as e:
        raise RenderError(f"{src.path.name}: text cannot be encoded as {enc}: {e}") from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(dest, data)


RENDERERS = {
    "pdf": render_pdf,
    "scanned-pdf": render_scanned_pdf,
    "docx": render_docx,
    "html": render_html,
    "md": render_md,
    "txt": render_txt,
}


def write_if_changed(dest: Path, data: bytes) -> None:
    if dest.exists() and dest.read_bytes() == data:
        return
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)


# --------------------------------------------------------------------------
# Catalog and gold questions
# --------------------------------------------------------------------------


def readme_entry() -> dict:
    return {
        "title": "About this demo corpus",
        "partner": "sihub",
        "country": "EU",
        "year": 2025,
        "type": "note",
        "lang": "en",
    }


def write_catalog(sources: list[Source]) -> dict:
    catalog = {}
    for s in sorted(sources, key=lambda s: s.out):
        catalog[s.out] = {
            "title": str(s.meta["title"]),
            "partner": str(s.meta["partner"]),
            "country": str(s.meta["country"]),
            "year": int(s.meta["year"]),
            "type": str(s.meta["type"]),
            "lang": str(s.meta["lang"]),
        }
    if (CORPUS / "README.md").exists():
        catalog["README.md"] = readme_entry()
    catalog = dict(sorted(catalog.items()))
    text = "# Generated by corpus_sources/render.py: do not edit by hand.\n" + yaml.safe_dump(
        catalog, allow_unicode=True, sort_keys=False, width=120
    )
    write_if_changed(CORPUS / "catalog.yaml", text.encode("utf-8"))
    return catalog


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u00ad", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def quick_page_texts(path: Path, fmt: str) -> list[str] | None:
    """Text per page (PDF) or one text (others), for the render-time fact check."""
    if fmt == "scanned-pdf":
        return None
    if fmt == "pdf":
        from pypdf import PdfReader

        return [p.extract_text() or "" for p in PdfReader(str(path)).pages]
    if fmt == "docx":
        import docx

        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for t in d.tables:
            for row in t.rows:
                parts += [c.text for c in row.cells]
        return ["\n".join(parts)]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    if fmt == "html":
        m = re.search(r"<main.*?</main>", text, re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", m.group(0) if m else text))
    return [text]


def merge_gold(sources: list[Source], catalog: dict, check_facts: bool) -> list[str]:
    problems: list[str] = []
    by_out = {s.out: s for s in sources}
    questions = []
    seen: set[str] = set()
    texts_cache: dict[str, list[str] | None] = {}
    for gf in sorted(GOLD.glob("*.jsonl")):
        for ln, line in enumerate(gf.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"gold/{gf.name}:{ln}"
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: invalid JSON ({e})")
                continue
            missing = [
                k for k in ("id", "question", "lang", "file", "page", "facts", "tags", "answerable") if k not in q
            ]
            if missing:
                problems.append(f"{where}: missing fields {missing}")
                continue
            qid = q["id"]
            where = f"{where} ({qid})"
            if qid in seen:
                problems.append(f"{where}: duplicate id")
            seen.add(qid)
            if q["lang"] not in LANGS:
                problems.append(f"{where}: lang {q['lang']!r}")
            if not isinstance(q["question"], str) or len(q["question"].strip()) < 8:
                problems.append(f"{where}: question too short")
            tags = q["tags"]
            if not isinstance(tags, list) or any(t not in TAGS for t in tags) or len(set(tags)) != len(tags):
                problems.append(f"{where}: tags {tags!r} (allowed {TAGS})")
                tags = []
            if q["answerable"] is True:
                f = q["file"]
                src = by_out.get(f)
                if f not in catalog or src is None:
                    problems.append(f"{where}: file {f!r} is not a rendered corpus file")
                else:
                    fmt = src.meta["format"]
                    npages = len(src.pages)
                    if fmt in ("pdf", "scanned-pdf"):
                        if not isinstance(q["page"], int) or not 1 <= q["page"] <= npages:
                            problems.append(f"{where}: page {q['page']!r} not in 1..{npages}")
                    elif q["page"] is not None:
                        problems.append(f"{where}: page must be null for {fmt}")
                    # Cross-lingual: the question's language is none of the document's languages.
                    cross = q["lang"] not in src.langs
                    if cross != ("crosslingual" in tags):
                        problems.append(
                            f"{where}: question lang {q['lang']} vs document lang {'+'.join(src.langs)}: "
                            f"'crosslingual' tag {'missing' if cross else 'wrong'}"
                        )
                facts = q["facts"]
                if (
                    not isinstance(facts, list)
                    or not 1 <= len(facts) <= 3
                    or not all(isinstance(x, str) and x.strip() for x in facts)
                ):
                    problems.append(f"{where}: facts must be 1-3 non-empty strings")
                elif check_facts and src is not None and f in catalog:
                    if f not in texts_cache:
                        texts_cache[f] = quick_page_texts(CORPUS / f, src.meta["format"])
                    texts = texts_cache[f]
                    if texts is not None:
                        page_text = (
                            texts[q["page"] - 1]
                            if src.meta["format"] == "pdf" and isinstance(q["page"], int) and q["page"] <= len(texts)
                            else " ".join(texts)
                        )
                        for fact in facts:
                            if norm(fact) not in norm(page_text):
                                problems.append(
                                    f"{where}: fact {fact!r} not found in {f}"
                                    + (f" page {q['page']}" if src.meta["format"] == "pdf" else "")
                                )
            elif q["answerable"] is False:
                if q["file"] is not None or q["page"] is not None or q["facts"] != [] or tags:
                    problems.append(f"{where}: unanswerable needs file null, page null, facts [], tags []")
            else:
                problems.append(f"{where}: answerable must be true or false")
            questions.append(q)
    questions.sort(key=lambda q: str(q.get("id")))
    QUESTIONS.parent.mkdir(parents=True, exist_ok=True)
    keys = ("id", "question", "lang", "file", "page", "facts", "tags", "answerable")
    text = "".join(
        json.dumps(
            {k: q[k] for k in keys if k in q} | {k: v for k, v in q.items() if k not in keys}, ensure_ascii=False
        )
        + "\n"
        for q in questions
    )
    write_if_changed(QUESTIONS, text.encode("utf-8"))
    return problems


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-check", action="store_true", help="skip checking gold facts against rendered text")
    args = ap.parse_args(argv)

    problems: list[str] = []
    sources: list[Source] = []
    outs: dict[str, str] = {}
    for path in sorted(DOCS.glob("*.md")):
        try:
            src = load_source(path)
        except (RenderError, yaml.YAMLError) as e:
            problems.append(str(e))
            continue
        if src.out in outs:
            problems.append(f"{path.name}: out {src.out!r} already used by {outs[src.out]}")
            continue
        outs[src.out] = path.name
        try:
            RENDERERS[src.meta["format"]](src, CORPUS / src.out)
        except RenderError as e:
            problems.append(str(e))
            continue
        sources.append(src)
        print(f"rendered {src.out:<55} {src.meta['format']:<12} {len(src.pages)} page(s)")

    catalog = write_catalog(sources)
    known = set(catalog) | {"catalog.yaml"}
    for f in sorted(CORPUS.rglob("*")):
        rel = f.relative_to(CORPUS).as_posix()
        if f.is_file() and rel not in known and not rel.endswith(".tmp"):
            problems.append(f"corpus/{rel}: not produced by any source (stale? delete it)")
    problems += merge_gold(sources, catalog, check_facts=not args.no_check)
    print(f"catalog: {len(catalog)} files; gold: {QUESTIONS.relative_to(ROOT)}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
