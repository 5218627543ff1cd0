"""PDF reader (pypdf): text page by page, page numbers kept, layout hints used.

pypdf gives text fragments with their position, font and size. From them we rebuild lines,
drop running headers and footers, join hyphenated line breaks, group lines into paragraphs
(vertical gaps, indents, short last lines), spot headings (bigger or bold type, outline entries)
and table rows (cells far apart on one line). Pages without a text layer go through OCR.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument, ReadOptions
from .ocr import INSTALL_HINT, ocr_image, page_image, tesseract_path
from .textutil import join_lines, lines_to_blocks, mark_headings

_BOLD = re.compile(r"bold|black|heavy|semibold|demi|cmbx|,b$|-b$", re.I)
_BULLET = re.compile(r"^(?:[•◦▪▫‣∙·●○■□–—*-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+\S")
# "Page 3 of 8", "Lapa 3 no 8", "Sida 3 av 8", "Página 3 de 8", "Page 3 sur 8", "3 / 8", "- 3 -", "3".
_COUNTER = re.compile(
    r"^[-–—\s]*(?:(?:page|p\.|lapa|lpp\.?|sida|s\.|página|pág\.?|pagina|seite)[\s.:]*)?\d{1,4}"
    r"(?:[\s.,]*(?:/|of|no|av|de|sur|von|från|iš)[\s.,]*\d{1,4})?[-–—\s.]*$",
    re.I,
)


@dataclass
class _Line:
    text: str
    x: float = 0.0
    y: float = 0.0
    size: float = 0.0
    bold: bool = False
    cells: list[str] = field(default_factory=list)
    """Text of each cell when the line looks like a table row (2+ far-apart pieces)."""
    low: float | None = None
    """Baseline of the row's lowest line, for a table row whose cells wrap (else `y`)."""

    @property
    def bottom(self) -> float:
        return self.y if self.low is None else self.low


def read_pdf(path: Path, data: bytes, opts: ReadOptions | None = None) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    opts = opts or ReadOptions()
    if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF" not in data[:1024]:
        raise BadInputError("not a PDF (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported crypto counts as "needs a password"
                ok = 0
            if not ok:
                raise BadInputError("encrypted PDF (needs a password)")
        raw_pages = list(reader.pages)
        lines = [_page_lines(p) for p in raw_pages]
    except BadInputError:
        raise
    except LimitReachedError as exc:
        raise BadInputError("refused: a compressed stream inflates past the size limit (decompression bomb?)") from exc
    except Exception as exc:  # noqa: BLE001 - on a damaged file pypdf raises nearly anything (NotImplementedError, DeprecationError, ...)
        raise BadInputError(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not raw_pages:
        raise BadInputError("unreadable PDF (no pages)")

    title = _metadata_title(reader)
    outline = _outline(reader)
    _drop_running_lines(lines)
    body = _body_size(lines)
    size_levels = _heading_sizes(lines, body)
    max_outline = max((lvl for entries in outline.values() for lvl, _ in entries), default=0)

    pages: list[Page] = []
    warnings: list[str] = []
    need_ocr: list[int] = []
    for i, page_lines in enumerate(lines, start=1):
        page = Page(i, headings=[(lvl, t) for lvl, t in outline.get(i, [])])
        if sum(ch.isalnum() for ln in page_lines for ch in ln.text) < 3:
            need_ocr.append(i)
        else:
            page.blocks = _blocks(page_lines, body, size_levels, page.headings, max_outline)
        pages.append(page)

    ocr_missing: list[int] = []
    for i in need_ocr:
        image = page_image(raw_pages[i - 1])
        if image is None:
            if lines[i - 1]:  # a page with a word or two and no picture: keep what is there
                pages[i - 1].blocks = _blocks(lines[i - 1], body, size_levels, [], max_outline)
            continue
        if not opts.ocr or not tesseract_path():
            ocr_missing.append(i)
            continue
        try:
            text = ocr_image(image, opts.ocr_langs, opts.ocr_timeout)
        except Exception as exc:  # noqa: BLE001 - one page failing OCR must not lose the others
            warnings.append(f"page {i}: OCR failed ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        blocks = mark_headings(lines_to_blocks(text))
        if blocks:
            pages[i - 1].blocks = blocks
            pages[i - 1].ocr = True
        else:
            warnings.append(f"page {i}: scanned page, OCR found no text")
    _drop_running_blocks([p for p in pages if p.ocr])
    if ocr_missing:
        which = _page_list(ocr_missing)
        if not opts.ocr:
            warnings.append(f"{which} scanned (no text layer), skipped: OCR is turned off (SIHUB_OCR)")
        else:
            warnings.append(f"{which} scanned (no text layer), skipped: {INSTALL_HINT}")

    doc = ParsedDocument(str(path), title=title, pages=pages, warnings=warnings)
    if not any(p.blocks for p in pages):
        if ocr_missing:
            reason = "OCR is turned off" if not opts.ocr else "OCR is not available: " + INSTALL_HINT
            raise BadInputError(f"no text layer in this PDF (scanned?) and {reason}")
        raise BadInputError("no text found in this PDF" + (" (OCR read nothing)" if need_ocr else ""))
    if not doc.title:
        doc.title = next((b.text for p in pages for b in p.blocks if b.kind == "heading" and b.level == 1), "")
    return doc


def _page_list(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    if len(numbers) > 6:
        return f"{len(numbers)} pages ({', '.join(map(str, numbers[:5]))}, …)"
    return "pages " + ", ".join(map(str, numbers))


# ---------------------------------------------------------------------------- lines


def _page_lines(page: Any) -> list[_Line]:
    """Lines of a page in content order, each with the position and type of its first piece."""
    frags: list[tuple[str, float, float, float, bool]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if not text:
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) or 1.0
        name = ""
        try:
            name = str(font.get("/BaseFont", "")) if font else ""
        except Exception:  # noqa: BLE001
            name = ""
        frags.append((text, x, y, abs(size * scale), bool(_BOLD.search(name))))

    page.extract_text(visitor_text=visit)
    lines: list[_Line] = []
    cur: _Line | None = None
    pieces: list[tuple[str, float, float, float]] = []  # (text, x, est. end x, size) of the line

    def close() -> None:
        nonlocal cur, pieces
        if cur is not None:
            cur.text = re.sub(r"[ \t\u00a0]+", " ", cur.text).strip()
            if cur.text:
                cur.cells = _cells(pieces)
                lines.append(cur)
        cur, pieces = None, []

    for text, x, y, size, bold in frags:
        for k, part in enumerate(text.split("\n")):
            if k > 0:
                close()
            if not part:
                continue
            if cur is None:
                cur = _Line("")
            if part.strip():
                if not cur.text.strip():
                    cur.x, cur.y, cur.size, cur.bold = x, y - k * size * 1.2, size, bold
                    if k > 0:
                        cur.x = x
                pieces.append((part.strip(), x, x + 0.45 * size * len(part.strip()), size))
            cur.text += part
    close()
    return _join_wrapped_rows(lines)


# A table cell wrapped over more lines than this is taken for a column of text, not a cell.
_MAX_CELL_LINES = 6
_WORDY = re.compile(r"[^\W\d_]{3}")


def _join_wrapped_rows(lines: list[_Line]) -> list[_Line]:
    """Table rows whose cells wrap, rebuilt as one line with cells.

    Many PDF writers draw such a row cell by cell: "WP3", then "Learning from each other:" /
    "replicating and scaling" one line lower, then "France (Avise)" back up at the row's top,
    further right. Read in that order, the row falls apart into short paragraphs. A run of
    lines that goes down within a column and back up to the row's top in the next column
    (further right, same type size, at most `_MAX_CELL_LINES` lines a column) is one row: its
    cells are the columns' lines joined. A run counts only beside a table row (a line with
    cells) or with three columns or more, so that two columns of text are left alone.
    """
    out: list[_Line] = []
    i = 0
    while i < len(lines):
        j, columns = _row_run(lines, i) if any(ch.isalnum() for ch in lines[i].text) else (i + 1, [])
        row = None
        if len(columns) >= 2:
            beside_table = (out and out[-1].cells) or (j < len(lines) and lines[j].cells)
            if len(columns) >= 3 or beside_table:
                row = _row_line(lines[i:j], columns)
                if sum(bool(_WORDY.search(c)) for c in row.cells) < 2:
                    row = None  # labels of a drawing ("P", "Q", "x1"), not a row of words
        if row is None:
            out.append(lines[i])
            i += 1
        else:
            out.append(row)
            i = j
    return out


def _row_run(lines: list[_Line], i: int) -> tuple[int, list[list[_Line]]]:
    """The end of the run of row lines from `i`, and its columns (lines grouped by column)."""
    first = lines[i]
    size = max(first.size, 1.0)
    if i and _continues(lines[i - 1], first, size):
        return i + 1, [[first]]  # the line goes on from the one above: text, not a row's start
    # A cell's text is centred in its row: a one-line cell sits half the row's height below
    # the top of a cell of several lines.
    reach = 0.5 * _MAX_CELL_LINES * 1.6 * size
    top, low = first.y, first.y
    columns = [[first]]
    j = i + 1
    while j < len(lines):
        ln, last = lines[j], columns[-1][-1]
        if abs(ln.size - first.size) > 0.6 or not any(ch.isalnum() for ch in ln.text):
            break
        if _continues(last, ln, size) and len(columns[-1]) < _MAX_CELL_LINES:
            columns[-1].append(ln)  # the cell goes on one line lower
        elif ln.x > last.x + 2 * size and low - 0.5 <= ln.y <= top + reach and ln.y > last.y - 0.5:
            columns.append([ln])  # back up, further right: the next cell of the row
        else:
            break
        top, low = max(top, ln.y), min(low, ln.y)
        j += 1
    if j < len(lines) and _continues(columns[-1][-1], lines[j], size):
        return i + 1, [[first]]  # a column longer than a cell: text, not a row
    return j, columns


def _continues(a: _Line, b: _Line, size: float) -> bool:
    """Whether `b` is the next line of `a`'s column (same left edge, one line lower)."""
    return abs(b.x - a.x) < 1.0 and 0 < a.y - b.y <= 1.6 * size


def _row_line(lines: list[_Line], columns: list[list[_Line]]) -> _Line:
    cells: list[str] = []
    for col in columns:
        cells.append(join_lines([ln.cells[0] if ln.cells else ln.text for ln in col]))
        cells.extend(c for ln in col for c in ln.cells[1:])  # a wrapped cell's last line met the next cell
    first = lines[0]
    return _Line(
        " ".join(cells),
        x=min(ln.x for ln in lines),
        y=max(ln.y for ln in lines),
        size=first.size,
        bold=first.bold,
        cells=cells,
        low=min(ln.y for ln in lines),
    )


def _cells(pieces: list[tuple[str, float, float, float]]) -> list[str]:
    """Split a line into table cells where a piece starts far right of where the last one ended."""
    if len(pieces) < 2:
        return []
    cells = [pieces[0][0]]
    end = pieces[0][2]
    for text, x, est_end, size in pieces[1:]:
        if x > end + 2.5 * max(size, 1.0):
            cells.append(text)
        else:
            cells[-1] += ("" if cells[-1].endswith("-") else " ") + text
        end = max(end, est_end)
    return [re.sub(r"\s+", " ", c).strip() for c in cells] if len(cells) >= 2 else []


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _norm_heading(text: str) -> str:
    """Outline titles often lack the printed section number: "Foo" for "1.2 Foo"."""
    return re.sub(r"^(?:\d+(?:\.\d+)*\.?|[ivxlc]+\.|[a-z]\))\s+", "", _norm(text))


def _drop_running_lines(pages: list[list[_Line]]) -> None:
    """Remove page counters and lines repeated at the top or bottom of most pages."""
    edge = 3

    def edges(lines: list[_Line]) -> list[_Line]:
        by_y = sorted(lines, key=lambda ln: -ln.y)
        return by_y[:edge] + by_y[-edge:]

    shape = lambda t: re.sub(r"\d+", "#", _norm(t))  # noqa: E731 - "Report 2023, p. 4" ~ "Report 2023, p. 5"
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({shape(ln.text) for ln in edges(lines)})
    n = len(pages)
    need = max(2, math.ceil(0.5 * n)) if n >= 2 else 10**9
    for lines in pages:
        drop = set()
        for ln in edges(lines):
            if _COUNTER.match(ln.text) or (counts[shape(ln.text)] >= need and len(ln.text) < 200):
                drop.add(id(ln))
        kept = [ln for ln in lines if id(ln) not in drop]
        if kept or all(_COUNTER.match(ln.text) for ln in lines):
            lines[:] = kept  # a page that is nothing but its repeated line keeps it


def _drop_running_blocks(pages: list[Page]) -> None:
    """For OCR pages: the same test on the first and last two paragraphs of each page."""
    shape = lambda t: re.sub(r"\d+", "#", _norm(t))  # noqa: E731
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({shape(b.text) for b in page.blocks[:2] + page.blocks[-2:]})
    need = max(2, math.ceil(0.5 * len(pages)))
    for page in pages:
        edge = {id(b) for b in page.blocks[:2] + page.blocks[-2:]}
        page.blocks = [
            b
            for b in page.blocks
            if id(b) not in edge
            or not (len(b.text) < 160 and (_COUNTER.match(b.text) or counts[shape(b.text)] >= need))
        ]


def _body_size(pages: list[list[_Line]]) -> float:
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            sizes[round(ln.size * 2) / 2] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _heading_sizes(pages: list[list[_Line]], body: float) -> list[float]:
    """Type sizes clearly above the body size that only short lines use: level 1 = largest."""
    chars: Counter[float] = Counter()
    total = 0
    for lines in pages:
        for ln in lines:
            total += len(ln.text)
            if ln.size >= body * 1.12 and len(ln.text) < 160:
                chars[round(ln.size * 2) / 2] += len(ln.text)
    # A size carrying a third of all text is body text of a second kind, not headings.
    return sorted((s for s, c in chars.items() if c < total / 3), reverse=True)


# ---------------------------------------------------------------------------- outline


def _metadata_title(reader: Any) -> str:
    try:
        meta = reader.metadata
        title = str(meta.title or "") if meta else ""
    except Exception:  # noqa: BLE001 - broken metadata is not fatal
        return ""
    title = title.replace("\x00", "").strip()
    # Generators often put the file name or "untitled" there: not a title.
    if not title or re.fullmatch(r"(?i)(untitled|microsoft word - .*|.*\.(docx?|pdf|tex|odt))", title):
        return ""
    return title


def _outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """Outline entries by 1-based page: (level, title)."""
    out: dict[int, list[tuple[int, str]]] = {}

    def walk(items: Any, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                number = reader.get_destination_page_number(item) + 1
                title = str(item.title or "").strip()
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped
                continue
            if title and number >= 1:
                out.setdefault(number, []).append((level, title))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001
        return {}
    return out


# ---------------------------------------------------------------------------- blocks


def _blocks(
    lines: list[_Line], body: float, size_levels: list[float], outline: list[tuple[int, str]], max_outline: int
) -> list[Block]:
    heading_of = _match_outline(lines, outline)
    font_level = {s: i + 1 for i, s in enumerate(size_levels)}
    # Line spacing inside a paragraph: the low end of the gaps between lines of the same size
    # (paragraph breaks and headings make the larger gaps).
    gaps = sorted(
        a.bottom - b.y
        for a, b in zip(lines, lines[1:], strict=False)
        if 0 < a.bottom - b.y < 3 * max(a.size, 1) and abs(a.size - b.size) < 0.6
    )
    spacing = gaps[len(gaps) // 4] if gaps else body * 1.2
    lengths = sorted(len(ln.text) for ln in lines if abs(ln.size - body) < 0.6)
    full = lengths[int(len(lengths) * 0.8)] if lengths else 80
    left = min((ln.x for ln in lines if abs(ln.size - body) < 0.6), default=0.0)

    # Decide each line's role.
    roles: list[tuple[str, int]] = []
    for i, ln in enumerate(lines):
        if i in heading_of:
            roles.append(("heading", heading_of[i]))
            continue
        size_key = round(ln.size * 2) / 2
        gap_before = lines[i - 1].bottom - ln.y if i else spacing * 3
        short = len(ln.text) < 150 and not re.search(r"[.,;]$", ln.text) and any(c.isalpha() for c in ln.text)
        if size_key in font_level and short and not ln.cells:
            roles.append(("heading", font_level[size_key] + max_outline))
        elif (
            ln.bold
            and short
            and not ln.cells
            and len(ln.text) < 0.8 * full
            and (gap_before > spacing * 1.3 or gap_before < 0)
            and not _BULLET.match(ln.text)
        ):
            roles.append(("heading", len(size_levels) + 1 + max_outline))
        elif ln.cells:
            roles.append(("table", 0))
        elif _BULLET.match(ln.text):
            roles.append(("item", 0))
        else:
            roles.append(("para", 0))

    # A row whose cells did not separate, between two table rows, is a table row too.
    for i in range(1, len(roles) - 1):
        if roles[i][0] == "para" and roles[i - 1][0] == roles[i + 1][0] == "table":
            if _close(lines[i - 1], lines[i], spacing * 3) and _close(lines[i], lines[i + 1], spacing * 3):
                roles[i] = ("table", 0)

    # A cell wrapped over two lines: its first line comes alone, before the row it belongs to.
    skip: set[int] = set()
    for i in range(len(lines) - 1):
        a, b = lines[i], lines[i + 1]
        if roles[i][0] == "table" and not a.cells and b.cells and abs(a.x - b.x) < 2 and _close(a, b, spacing * 2):
            b.cells[0] = join_lines([a.text, b.cells[0]])
            skip.add(i)
    lines = [ln for i, ln in enumerate(lines) if i not in skip]
    roles = [r for i, r in enumerate(roles) if i not in skip]

    blocks: list[Block] = []
    buf: list[str] = []
    kind, level = "para", 0

    def flush() -> None:
        nonlocal buf
        if buf:
            text = "\n".join(buf) if kind == "table" else join_lines(buf)
            if text.strip():
                blocks.append(Block(text.strip(), kind, level))
        buf = []

    prev: _Line | None = None
    for ln, (role, lvl) in zip(lines, roles, strict=True):
        text = " | ".join(ln.cells) if role == "table" and ln.cells else ln.text
        if prev is None:
            new = True
        elif role != kind or role == "item" or (role == "heading" and lvl != level):
            # A wrapped bullet item continues on indented lines without a bullet.
            new = not (kind == "item" and role == "para" and ln.x > left + 0.5 * body and _close(prev, ln, spacing))
            if not new:
                role, lvl = "item", 0
        elif role == "heading":
            new = not _close(prev, ln, spacing * 1.6) or abs(prev.size - ln.size) > 0.6
        elif role == "table":
            # Rows of one shape (as many cells) stay one table across a taller row.
            new = not _close(prev, ln, spacing * (4 if prev.cells and len(prev.cells) == len(ln.cells) else 3))
        else:
            gap = prev.bottom - ln.y
            indent = ln.x > prev.x + 0.8 * ln.size and abs(prev.x - left) < 2
            ended = re.search(r"[.!?:…»”\"]$", prev.text) and len(prev.text) < 0.75 * full
            new = (
                gap > spacing * 1.4
                or gap < -spacing * 0.5
                or abs(prev.size - ln.size) > 0.6
                or bool(indent)
                or bool(ended)
            )
        if new:
            flush()
            kind, level = role, lvl
        buf.append(text)
        prev = ln
    flush()
    return blocks


def _close(a: _Line, b: _Line, limit: float) -> bool:
    return 0 <= a.bottom - b.y <= limit + 0.5


def _match_outline(lines: list[_Line], outline: list[tuple[int, str]]) -> dict[int, int]:
    """Line index -> outline level for lines (or runs of wrapped lines) that print an outline title."""
    found: dict[int, int] = {}
    for level, title in outline:
        want = _norm_heading(title)
        for i, ln in enumerate(lines):
            if i in found:
                continue
            got = _norm_heading(ln.text)
            j = i
            while got != want and want.startswith(got) and len(got) >= 3 and j + 1 < len(lines) and j - i < 4:
                j += 1
                got = _norm_heading(ln.text + " " + " ".join(x.text for x in lines[i + 1 : j + 1]))
            if got == want:
                for k in range(i, j + 1):
                    found[k] = level
                break
    return found
