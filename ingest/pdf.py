"""PDF reader (pypdf): text page by page, page numbers kept."""

from __future__ import annotations

import io
import re
from pathlib import Path

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument


def read_pdf(path: Path, data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001
                ok = 0
            if not ok:
                raise BadInputError("encrypted PDF (needs a password)")
        pages_raw = [p.extract_text() or "" for p in reader.pages]
    except BadInputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise BadInputError(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    title = ""
    try:
        meta = reader.metadata
        title = (meta.title or "").strip() if meta else ""
    except Exception:  # noqa: BLE001 - broken metadata is not fatal
        title = ""
    pages = []
    for i, raw in enumerate(pages_raw, start=1):
        paras = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", raw)]
        pages.append(Page(i, [Block(p) for p in paras if p]))
    doc = ParsedDocument(str(path), title=title, pages=pages)
    if not any(p.blocks for p in pages):
        raise BadInputError("no text layer in this PDF (scanned?) and OCR is not available")
    return doc
