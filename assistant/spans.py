"""Quotable spans of a passage: what an extractive answer may quote, and the text each is
embedded with.

A span is a pair of consecutive sentences (one sentence carries too little: the lead-in of a
list item, the subject of "It was created in 2002"), or a table or an introduced list as a
whole. Each is embedded with the document title, the section heading and, for a table row,
the table's header row, so that it is scored in its context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sihub.ingest import split_sentences
from sihub.types import Chunk, Document, Hit

# Longest quote (characters): a table or list quoted whole, or overlapping sentence pairs of
# one passage merged into one quote.
MAX_QUOTE_CHARS = 600

_HAS_DIGIT = re.compile(r"\d")
_LIST_MARKER = re.compile(r"\W*(?:\d{1,3}|[a-zA-Z])[.)]\W*")


def candidate_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a chunk worth quoting: not bare headings, not stray fragments."""
    out = []
    for s, e in split_sentences(text):
        sent = text[s:e]
        if _LIST_MARKER.fullmatch(sent):
            continue  # "4." of a numbered list, cut off from its item
        words = len(sent.split())
        if words < 3 and not _HAS_DIGIT.search(sent):
            continue
        if words < 5 and not _HAS_DIGIT.search(sent) and not sent.rstrip().endswith((".", "!", "?", ":")):
            continue  # a heading line
        out.append((s, e))
    return out


def units(text: str) -> list[tuple[int, int]]:
    """Quotable spans of a chunk: each pair of consecutive candidate sentences (one when alone),
    and each table or introduced list as a whole (`blocks`).

    Two sentences carry what one often lacks: the lead-in of a list item, the subject
    ("It was created in 2002") of the sentence after it.
    """
    return [(s, e) for s, e, _ in marked_units(text)]


def marked_units(text: str) -> list[tuple[int, int, bool]]:
    """`units` as (start, end, whole): whole for a table or a list (`blocks`)."""
    spans = candidate_spans(text)
    if len(spans) > 1:
        spans = [(spans[j][0], spans[j + 1][1]) for j in range(len(spans) - 1)]
    whole = blocks(text)
    marked = {span: False for span in spans} | {span: True for span in whole}
    return [(s, e, w) for (s, e), w in marked.items()]


_ITEM = re.compile(r"[ \t]*(?:[-•*–▪·]|\d{1,2}[.)])\s")


def _lines(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, after_blank) of each non-blank line; `after_blank`: a blank line precedes it."""
    out, pos, blank = [], 0, False
    for raw in text.split("\n"):
        end = pos + len(raw.rstrip())
        if raw.strip():
            out.append((pos + len(raw) - len(raw.lstrip()), end, blank))
            blank = False
        else:
            blank = True
        pos += len(raw) + 1
    return out


def _windows(starts: list[int], ends: list[int], first: int) -> list[tuple[int, int]]:
    """Runs of whole rows (rows j.., ending at ends[j]) of at most MAX_QUOTE_CHARS, from `first`,
    each of two rows or more."""
    out, j = [], 0
    begin = first
    while j < len(ends):
        k = j
        while k + 1 < len(ends) and ends[k + 1] - begin <= MAX_QUOTE_CHARS:
            k += 1
        if k > j or (begin < starts[j] and ends[j] - begin <= MAX_QUOTE_CHARS):
            out.append((begin, ends[k]))
        j = k + 1
        if j < len(starts):
            begin = starts[j]
    return out


def blocks(text: str) -> list[tuple[int, int]]:
    """Tables (consecutive " | " rows), lists introduced by a line ending with ":", and lists of
    three items or more (with the short title line above them, if any) as quotable spans of up
    to MAX_QUOTE_CHARS (longer ones in runs of whole rows). A row or an item alone is
    terse and scores below prose that only shares the topic, while the question ("Which functions
    would the centre have?", "What steps does the cycle take?") asks for the whole of it."""
    lines = _lines(text)
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        s, e, _ = lines[i]
        if " | " in text[s:e]:
            j = i
            while j + 1 < len(lines) and not lines[j + 1][2] and " | " in text[lines[j + 1][0] : lines[j + 1][1]]:
                j += 1
            if j > i:
                rows = lines[i : j + 1]
                out += _windows([r[0] for r in rows], [r[1] for r in rows], s)
            i = j + 1
            continue
        if not _ITEM.match(text, s):
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and _ITEM.match(text, lines[j + 1][0]):
            j += 1
        items = lines[i : j + 1]
        lead, least = s, 3
        if i > 0:
            ps, pe, _ = lines[i - 1]
            above = text[ps:pe]
            if above.endswith(":"):  # "By May three projects were launched:" (its last sentence)
                lead, least = ps + ([a for a, _ in split_sentences(above)] or [0])[-1], 2
            elif len(above.split()) <= 8 and not above.endswith((".", "!", "?")) and " | " not in above:
                lead = ps  # a title line: "The five-step cycle"
        if len(items) >= least:
            out += _windows([r[0] for r in items], [r[1] for r in items], lead)[:1]
        i = j + 1
    return out


def _table_header(text: str, start: int) -> str:
    """The first row of the table a span starting at `start` sits in ("" outside tables or on it)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if " | " not in text[line_start : line_end if line_end >= 0 else len(text)]:
        return ""
    head = line_start
    while head > 0:
        prev = text.rfind("\n", 0, head - 1) + 1
        if " | " not in text[prev : head - 1]:
            break
        head = prev
    if head == line_start:
        return ""
    return text[head : text.find("\n", head)]


def section(hit: Hit) -> str:
    """The heading of the passage's own section (the last of its heading path)."""
    return hit.chunk.heading.split(" > ")[-1] if hit.chunk.heading else ""


def embed_text(hit: Hit, start: int, end: int) -> str:
    """A span with its document title and section heading, so that it is embedded in context;
    a table row also with its table's header row ("Model | Description | Example of fit")."""
    context = ". ".join(x for x in (hit.title, section(hit), _table_header(hit.chunk.text, start)) if x)
    text = hit.chunk.text[start:end]
    return f"{context}: {text}" if context else text


def quote_texts(hit: Hit) -> list[str]:
    """What `gather` embeds for a passage: each quotable span, in context (for the warm-up)."""
    return [embed_text(hit, s, e) for s, e in units(hit.chunk.text)]


def indexed_quote_texts(index: Any) -> Iterator[tuple[Document, list[str]]]:
    """Per document, newest ingest first: the document and the texts `evidence.gather` embeds for its chunks."""
    docs = sorted(index.documents(), key=lambda d: (d.ingested_at or "", d.path), reverse=True)
    for d in docs:
        yield d, document_quote_texts(d, index.chunks_of(d.path))


def document_quote_texts(doc: Document, chunks: list[Chunk]) -> list[str]:
    """The texts `evidence.gather` embeds for a document's chunks (in order), each once.

    Besides each chunk alone, each pair of touching chunks of a page as the search joins
    them (`merge_adjacent`), under either chunk's heading: spans across the seam
    of a joined passage are quote units too.
    """
    hits = [Hit(chunk=c, score=0.0, title=doc.title, doc_meta=doc.meta) for c in chunks]
    texts: list[str] = []
    for h in hits:
        texts.extend(quote_texts(h))
    for a, b in zip(hits, hits[1:], strict=False):
        for pair in ([a, b], [b, a]):
            joined = merge_adjacent(pair)
            if len(joined) == 1:
                texts.extend(quote_texts(joined[0]))
    return list(dict.fromkeys(texts))


def merge_adjacent(hits: list[Hit]) -> list[Hit]:
    """Join hits that are consecutive chunks of one page into one passage, at the better rank.

    Only chunks whose spans touch or overlap are joined, so the merged text is still exactly
    `page_text[start:end]`; the merged hit keeps the id and score of its best-ranked chunk.
    """
    out: list[Hit] = []
    ords: list[tuple[int, int]] = []  # first and last chunk ord of each passage in `out`
    for h in hits:
        out.append(h)
        ords.append((h.chunk.ord, h.chunk.ord))
        i = len(out) - 1
        joined = True
        while joined:  # a chunk between two passages joins all three
            joined = False
            for j in range(len(out)):
                if j != i and _touch(out[j], ords[j], out[i], ords[i]):
                    keep, drop = min(i, j), max(i, j)
                    out[keep] = _join(out[keep], ords[keep], out[drop], ords[drop])
                    ords[keep] = (min(ords[i][0], ords[j][0]), max(ords[i][1], ords[j][1]))
                    del out[drop], ords[drop]
                    i, joined = keep, True
                    break
    return out


def _touch(a: Hit, ao: tuple[int, int], b: Hit, bo: tuple[int, int]) -> bool:
    if a.chunk.path != b.chunk.path or a.chunk.page != b.chunk.page:
        return False
    if ao[1] + 1 == bo[0]:
        return b.chunk.start <= a.chunk.end
    if bo[1] + 1 == ao[0]:
        return a.chunk.start <= b.chunk.end
    return False


def _join(keep: Hit, ko: tuple[int, int], other: Hit, oo: tuple[int, int]) -> Hit:
    first, second = (keep.chunk, other.chunk) if ko[0] < oo[0] else (other.chunk, keep.chunk)
    text = first.text + second.text[first.end - second.start :] if second.end > first.end else first.text
    chunk = replace(keep.chunk, text=text, start=first.start, end=max(first.end, second.end))
    return replace(keep, chunk=chunk)
