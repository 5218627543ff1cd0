"""The hub's catalogue of best practices: every document with its catalogue fields and a short
extractive abstract, filtered by country, partner, type, year, language and free text, with
the count of documents for each value of each field (issue 23, item 1).

The abstract is the document's most central sentences, in its own language, in the order they
are written: each sentence is a bag of its content-word keys (`terms.keys`) weighted by how
rare the key is among the document's sentences (tf-idf); the most central sentences are those
closest (cosine) to the document's mean sentence. It needs nothing but the stored chunks (no
model), so a whole catalogue is summarised in well under a second per hundred documents, and
each abstract is kept by the document's content hash until the document changes.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sihub.errors import BadInputError
from sihub.ingest import split_sentences
from sihub.types import Chunk, Document

from .terms import fold, keys

FIELDS = ("country", "partner", "type", "year", "lang")
"""The fields a catalogue is filtered and counted by."""


@dataclass(frozen=True)
class AbstractParams:
    """How abstracts are cut. Chosen by reading the abstracts of the hub's corpus (35 partner
    documents in five languages): two or three sentences read as a summary, sentences of fewer
    than six words are mostly headings or table cells, and the first 60 chunks hold the
    introduction of even the longest report."""

    sentences: int = 3
    """Sentences in an abstract (at most)."""
    max_chars: int = 480
    """An abstract stops adding sentences once it is this long (a third long sentence is left out)."""
    min_words: int = 6
    """Shorter sentences (headings, table cells, list stubs) are never picked."""
    max_words: int = 80
    """Longer "sentences" are runs of text without stops (tables, lists read as one line)."""
    chunks: int = 60
    """Chunks read per document, from its start."""


@dataclass
class Query:
    """A catalogue query: each field's accepted values (any of them), and words the title,
    file, partner or abstract must all contain."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def of(cls, text: str | None = None, **values: Any) -> Query:
        """From option values: `country="LV"`, `lang="lv,en"` (alternatives), `year=2021`; None is no filter."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise BadInputError(f"unknown catalogue field(s): {', '.join(sorted(unknown))} (use {', '.join(FIELDS)})")
        fields: dict[str, list[str]] = {}
        for name, value in values.items():
            items = value if isinstance(value, (list, tuple)) else str(value).split(",") if value is not None else []
            got = [str(v).strip() for v in items if str(v).strip()]
            if got:
                fields[name] = got
        return cls(fields, (text or "").strip())


def values_of(doc: Document, name: str) -> list[str]:
    """The values a document has for catalogue field `name` (several for `lang`)."""
    if name == "lang":
        return [x for x in dict.fromkeys(doc.langs or [doc.lang]) if x and x != "und"]
    value = doc.meta.get(name)
    return [] if value in (None, "") else [str(value)]


def _field_matches(doc: Document, name: str, wanted: list[str]) -> bool:
    have = {v.casefold() for v in values_of(doc, name)}
    return any(w.casefold() in have for w in wanted)


def _text_matches(doc: Document, abstract: str, words: list[str]) -> bool:
    hay = fold(" ".join([doc.title, doc.path, abstract, *(str(v) for v in doc.meta.values())]))
    return all(w in hay for w in words)


class Catalogue:
    """The documents of an index as a catalogue; abstracts are computed once per document version."""

    def __init__(self, params: AbstractParams | None = None) -> None:
        self.params = params or AbstractParams()
        self._abstracts: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def abstract(self, doc: Document, chunks_of: Any) -> str:
        """The abstract of `doc`; `chunks_of(path)` reads its chunks when it is not known yet."""
        key = (doc.path, doc.sha256)
        with self._lock:
            if key in self._abstracts:
                return self._abstracts[key]
        text = abstract(chunks_of(doc.path)[: self.params.chunks], self.params)
        with self._lock:
            if len(self._abstracts) > 10_000:
                self._abstracts.clear()
            self._abstracts[key] = text
        return text

    def browse(self, docs: list[Document], chunks_of: Any, query: Query | None = None) -> dict[str, Any]:
        """The documents that match `query` (each as `entry`), the count of documents for each
        value of each field, and the total.

        A field's counts are taken over the documents that match every *other* part of the
        query, so each count says how many documents choosing that value would show."""
        query = query or Query()
        words = [fold(w) for w in query.text.split()]
        abstracts = {d.path: self.abstract(d, chunks_of) for d in docs}
        by_text = [d for d in docs if not words or _text_matches(d, abstracts[d.path], words)]

        def matching(skip: str | None) -> list[Document]:
            return [d for d in by_text if all(_field_matches(d, n, w) for n, w in query.fields.items() if n != skip)]

        facets: dict[str, dict[str, int]] = {}
        for name in FIELDS:
            counts = Counter(v for d in matching(name) for v in values_of(d, name))
            facets[name] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        shown = matching(None)
        return {
            "documents": [entry(d, abstracts[d.path]) for d in shown],
            "facets": facets,
            "total": len(docs),
        }


def entry(doc: Document, abstract_text: str) -> dict[str, Any]:
    """A document as the catalogue shows it: `Document.to_json` with the abstract and the
    catalogue fields always present (None where the catalogue does not say)."""
    out = doc.to_json()
    for name in ("country", "partner", "type", "year"):
        out.setdefault(name, None)
    out["abstract"] = abstract_text
    return out


def _sentences(chunks: list[Chunk], params: AbstractParams) -> list[str]:
    """The document's whole sentences, in order, each once (chunks overlap by a sentence)."""
    seen: set[str] = set()
    out: list[str] = []
    for c in chunks:
        for s, e in split_sentences(c.text):
            text = " ".join(c.text[s:e].split()).lstrip("-–•*·▪ ")  # a list item's marker is no part of it
            words = len(text.split())
            if text in seen or not params.min_words <= words <= params.max_words:
                continue
            if not text.rstrip("\"'”»)").endswith((".", "!", "?", "…")):
                continue  # a heading, a list stub or a cell
            seen.add(text)
            out.append(text)
    return out


def abstract(chunks: list[Chunk], params: AbstractParams | None = None) -> str:
    """The most central sentences of these chunks (see the module's docstring), in document order."""
    params = params or AbstractParams()
    sentences = _sentences(chunks, params)
    if len(sentences) <= 1:
        return sentences[0] if sentences else ""
    bags = [keys(s) for s in sentences]
    df = Counter(k for bag in bags for k in bag)
    n = len(sentences)
    idf = {k: math.log((1 + n) / (1 + d)) + 1.0 for k, d in df.items()}
    vectors = []
    for bag in bags:
        norm = math.sqrt(sum(idf[k] ** 2 for k in bag)) or 1.0
        vectors.append({k: idf[k] / norm for k in bag})
    centre: Counter[str] = Counter()
    for v in vectors:
        centre.update(v)
    centre_norm = math.sqrt(sum(x * x for x in centre.values())) or 1.0
    scores = [sum(w * centre[k] for k, w in v.items()) / centre_norm for v in vectors]
    ranked = sorted(range(n), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    length = 0
    for i in ranked:
        if len(chosen) >= params.sentences:
            break
        if chosen and length + len(sentences[i]) > params.max_chars:
            continue
        chosen.append(i)
        length += len(sentences[i]) + 1
    return " ".join(sentences[i] for i in sorted(chosen))
