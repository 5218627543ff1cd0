"""The data types that flow through every layer: ingest -> index -> assistant -> edges.

This module is a leaf: it imports nothing from the project.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """One source file as indexed."""

    path: str
    """The file path as ingested (relative to the ingest root when one is given)."""
    title: str
    lang: str
    """Main language (ISO 639-1), or "und" when unknown."""
    sha256: str
    langs: list[str] = field(default_factory=list)
    """All languages found in the chunks, most frequent first."""
    pages: int | None = None
    size: int = 0
    mtime: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    """Catalogue fields: partner, country, year, type (from catalog.yaml)."""
    id: int | None = None
    chunks: int = 0
    ingested_at: str | None = None
    reader: int = 1
    """The version of the reader that read it (`ingest.reader_version`)."""

    def to_json(self) -> dict[str, Any]:
        """The `sihub docs --json` / `GET /api/documents` form: file facts, then catalogue fields."""
        return {
            "id": self.id,
            "file": self.path,
            "title": self.title,
            "lang": self.lang,
            "langs": self.langs,
            "pages": self.pages,
            "chunks": self.chunks,
            "sha256": self.sha256,
            "ingested_at": self.ingested_at,
            **self.meta,
        }


@dataclass
class Chunk:
    """A passage of a document: the unit that is embedded, searched and cited."""

    path: str
    text: str
    """Exactly `page_text[start:end]` of the page the chunk comes from."""
    page: int | None = None
    """1-based page index of the file, None for formats without pages."""
    heading: str = ""
    """Heading path, outermost first, joined with " > "."""
    lang: str = "und"
    start: int = 0
    end: int = 0
    ocr: bool = False
    hash: str = ""
    """sha256 of the text that was embedded (heading + text): the embedding cache key."""
    ord: int = 0
    doc_id: int | None = None
    id: int | None = None

    def embed_text(self) -> str:
        """The text given to the embedder: the heading path gives the passage its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass
class Hit:
    """A chunk found by a search, with its scores."""

    chunk: Chunk
    score: float
    title: str = ""
    dense: float | None = None
    lexical: float | None = None
    doc_meta: dict[str, Any] = field(default_factory=dict)
    beside: bool = False
    """Not among the search's passages an answer was asked from, but weighed beside them: the
    passage next to one of them, or a deeper one holding a best sentence (see `ask.retrieve`)."""

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "chunk_id": c.id,
            "file": c.path,
            "title": self.title,
            "page": c.page,
            "lang": c.lang,
            "heading": c.heading,
            "text": c.text,
            "score": round(float(self.score), 6),
        }


@dataclass
class Citation:
    """One numbered source of an answer: `[n]` in the answer refers to `citations[n-1]`."""

    n: int
    file: str
    title: str
    page: int | None
    lang: str
    heading: str
    text: str
    """The whole chunk."""
    quote: str
    """The supporting sentence(s); always a verbatim substring of `text`."""
    score: float
    chunk_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_hit(cls, n: int, hit: Hit, quote: str, score: float) -> Citation:
        """Citation number `n` for a hit; `quote` must be a verbatim slice of the hit's chunk text."""
        c = hit.chunk
        return cls(
            n=n,
            file=c.path,
            title=hit.title,
            page=c.page,
            lang=c.lang,
            heading=c.heading,
            text=c.text,
            quote=quote,
            score=float(score),
            chunk_id=c.id,
            meta=hit.doc_meta,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(float(self.score), 6)
        d.pop("meta")
        return d


@dataclass
class Answer:
    """What `ask` returns: Markdown with `[n]` markers plus the citations they point at."""

    question: str
    language: str
    found: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    """Nearest documents offered as "maybe related" when nothing answers the question."""
    note: str | None = None
    """A visible remark, e.g. that the language model failed and this answer is extractive."""
    confidence: float | None = None
    """The answer verdict's probability that the documents answer the question (0..1)."""
    groups: list[dict[str, Any]] = field(default_factory=list)
    """A comparison's sections (`assistant.compare`): [{"key", "label", "found", "citations": [n, ...]}]."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "language": self.language,
            "found": self.found,
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
        }
        if self.confidence is not None:
            out["confidence"] = round(float(self.confidence), 4)
        if self.related:
            out["related"] = self.related
        if self.note:
            out["note"] = self.note
        if self.groups:
            out["groups"] = self.groups
        return out


@dataclass
class FileResult:
    """The outcome of ingesting one file."""

    path: str
    status: str
    """added | updated | unchanged | removed | failed | skipped | renamed"""
    reason: str = ""
    chunks: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embedded: int = 0
    """Number of chunk texts that went through the embedder (0 on a no-op re-ingest)."""

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        chunks = sum(r.chunks for r in self.results if r.status in ("added", "updated", "renamed"))
        return (
            f"added {self.count('added') + self.count('renamed')}, updated {self.count('updated')}, "
            f"unchanged {self.count('unchanged')}, removed {self.count('removed')}, "
            f"failed {self.count('failed')} ({chunks} chunks, {self.seconds:.1f} s)"
        )
