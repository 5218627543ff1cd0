"""What a reader returns: a document as pages of typed blocks, before chunking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BLOCK_SEP = "\n\n"


@dataclass
class Block:
    text: str
    kind: str = "para"
    """heading | para | item | table"""
    level: int = 0
    """Heading level (1 = top) for headings; 0 otherwise."""


@dataclass
class Page:
    number: int | None
    """1-based page index of the file; None for formats without pages."""
    blocks: list[Block] = field(default_factory=list)
    ocr: bool = False
    headings: list[tuple[int, str]] = field(default_factory=list)
    """Outline entries (level, title) that point at this page (PDF bookmarks)."""

    @property
    def text(self) -> str:
        """The page text; chunk char spans are offsets into this string."""
        return BLOCK_SEP.join(b.text for b in self.blocks)


@dataclass
class ParsedDocument:
    path: str
    title: str = ""
    pages: list[Page] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """One-line notes, e.g. pages skipped because OCR is unavailable."""

    @property
    def paged(self) -> bool:
        return any(p.number is not None for p in self.pages)


@dataclass(frozen=True)
class ReadOptions:
    """How readers behave; the defaults are what `sihub ingest` uses with default settings."""

    ocr: bool = True
    """Run Tesseract on PDF pages without a text layer (when it is installed)."""
    ocr_langs: str = "swe+lav+fra+spa+eng"
    ocr_timeout: float = 120.0
    """Seconds Tesseract may spend on one page image."""
    max_unzipped_mb: float = 500.0
    """DOCX: refuse archives that declare more uncompressed bytes than this (zip bombs)."""
