"""DOCX reader (python-docx): paragraphs and tables in body order, heading styles as headings."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument, ReadOptions

# Built-in heading styles in the languages partners' Word runs in ("Rubrik 1", "Titre 1", ...).
_HEADING_STYLE = re.compile(
    r"^(?:heading|rubrik|titre|título|titulo|virsraksts|überschrift|kop|otsikko|overskrift)\s*(\d)$", re.I
)
_TITLE_STYLE = re.compile(r"^(?:title|rubrik|titel|titre|título|titulo|nosaukums)$", re.I)
_MAX_RATIO = 200  # compressed XML rarely packs better than ~20:1; bombs pack 1000:1 and more


def _check_zip(data: bytes, opts: ReadOptions) -> None:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise BadInputError("not a valid DOCX (not a zip file)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadInputError(f"not a valid DOCX (broken zip: {str(exc)[:80]})") from exc
    names = {i.filename for i in infos}
    if "word/document.xml" not in names:
        raise BadInputError("not a valid DOCX (no word/document.xml inside)")
    total = sum(i.file_size for i in infos)
    limit = opts.max_unzipped_mb * 1024 * 1024
    if total > limit:
        raise BadInputError(f"refused: declares {total / 1e6:.0f} MB uncompressed (zip bomb?)")
    for i in infos:
        if i.file_size > 10 * 1024 * 1024 and i.file_size > _MAX_RATIO * max(i.compress_size, 1):
            raise BadInputError(f"refused: {i.filename} expands {i.file_size // max(i.compress_size, 1)}:1 (zip bomb?)")
    # The sizes above are what the zip claims. Inflate each part in bounded steps, so a part that
    # inflates past its claimed size fails its CRC check here, before python-docx reads it whole
    # (zipfile's read() of a whole part inflates everything first, a lying header costs gigabytes).
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for i in infos:
                with zf.open(i) as fh:
                    while fh.read(1 << 20):
                        pass
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise BadInputError(f"not a valid DOCX (broken zip: {str(exc)[:80]})") from exc


def read_docx(path: Path, data: bytes, opts: ReadOptions | None = None) -> ParsedDocument:
    opts = opts or ReadOptions()
    _check_zip(data, opts)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds on broken files
        raise BadInputError(f"not a valid DOCX ({type(exc).__name__}: {str(exc)[:100]})") from exc

    blocks: list[Block] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            block = _paragraph(item)
            if block is None:
                continue
            if block.kind == "heading" and block.level == 0:  # the Title style
                title = title or block.text
                block.level = 1
            blocks.append(block)
        elif isinstance(item, Table):
            text = _table(item)
            if text:
                blocks.append(Block(text, "table"))
    try:
        core = (document.core_properties.title or "").strip()
    except Exception:  # noqa: BLE001
        core = ""
    title = core or title or next((b.text for b in blocks if b.kind == "heading"), "")
    if not blocks:
        raise BadInputError("no text found in this DOCX")
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])


def _style_names(par: Any) -> list[str]:
    names = []
    try:
        style = par.style
        while style is not None and len(names) < 5:
            names += [str(style.name or ""), str(style.style_id or "")]
            style = style.base_style
    except Exception:  # noqa: BLE001 - a broken style table reads as plain paragraphs
        pass
    return names


def _outline_level(par: Any) -> int | None:
    """w:outlineLvl on the paragraph or its style (0 = top), the language-neutral heading mark."""
    try:
        for el in (par._p.pPr, par.style.element.pPr if par.style is not None else None):
            if el is None:
                continue
            found = el.xpath("./w:outlineLvl/@w:val")
            if found and int(found[0]) < 9:
                return int(found[0])
    except Exception:  # noqa: BLE001
        return None
    return None


def _paragraph(par: Any) -> Block | None:
    text = re.sub(r"[ \t\u00a0]+", " ", par.text or "").replace("\u00ad", "").strip()
    if not text:
        return None
    names = _style_names(par)
    for name in names:
        compact = name.replace(" ", "")
        m = _HEADING_STYLE.match(name) or _HEADING_STYLE.match(compact)
        if m and len(text) < 300:
            return Block(text, "heading", max(1, int(m.group(1))))
        if _TITLE_STYLE.match(name) and len(text) < 300:
            return Block(text, "heading", 0)
    level = _outline_level(par)
    if level is not None and len(text) < 300:
        return Block(text, "heading", level + 1)
    is_list = any("list" in n.lower() for n in names)
    try:
        is_list = is_list or par._p.pPr is not None and par._p.pPr.numPr is not None
    except Exception:  # noqa: BLE001
        pass
    return Block(text, "item" if is_list else "para")


def _table(table: Any) -> str:
    rows = []
    try:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell repeats itself across the span
                    continue
                seen.add(id(cell._tc))
                cells.append(re.sub(r"\s+", " ", cell.text).strip())
            if any(cells):
                rows.append(" | ".join(cells))
    except Exception:  # noqa: BLE001 - irregular tables: keep the rows read so far
        pass
    return "\n".join(rows)
