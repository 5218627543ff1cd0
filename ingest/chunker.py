"""Structure-aware chunking: headings and paragraphs first, then sentences, within a token budget.

A chunk never crosses a page of a PDF or a heading, never cuts a sentence (unless one
sentence alone exceeds the budget), and its text is exactly `page.text[start:end]`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sihub.types import Chunk

from .lang import detect, dominant, word_count
from .model import BLOCK_SEP, ParsedDocument

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENT_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+")
_ABBREV = {
    "e.g",
    "i.e",
    "etc",
    "vs",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "no",
    "nr",
    "art",
    "fig",
    "p",
    "pp",
    "vol",
    "st",
    "sr",
    "sra",
    "dña",
    "ca",
    "approx",
    "inc",
    "ltd",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "bl.a",
    "t.ex",
    "s.k",
    "m.m",
    "o.s.v",
    "p.ex",
    "cf",
    "env",
    "mme",
    "mlle",
    "n.º",
    "núm",
    "pág",
    "utt",
    "u.c",
    "piem",
    "t.sk",
    "g",
    "lpp",
}


@dataclass
class ChunkerConfig:
    target_words: int = 220
    max_tokens: int = 480
    overlap: int = 1

    def as_dict(self) -> dict[str, int]:
        return {"target_words": self.target_words, "max_tokens": self.max_tokens, "overlap": self.overlap}


def split_sentences(text: str, base: int = 0) -> list[tuple[int, int]]:
    """Spans (start, end) of sentences in `text`, offset by `base`; lines are boundaries too."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in re.finditer(r"[^\n]+", text):
        lstart, ltext = line.start(), line.group()
        cur = 0
        for m in _SENT_END.finditer(ltext):
            before = ltext[cur : m.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            nxt = ltext[m.end() : m.end() + 1]
            if last in _ABBREV or (len(last) == 1 and last.isalpha()) or (nxt and nxt.islower()):
                continue
            end = m.end()
            seg = ltext[cur:end].rstrip()
            if seg.strip():
                s = cur + (len(ltext[cur:end]) - len(ltext[cur:end].lstrip()))
                spans.append((base + lstart + s, base + lstart + cur + len(seg)))
            cur = end
        seg = ltext[cur:]
        if seg.strip():
            s = cur + (len(seg) - len(seg.lstrip()))
            spans.append((base + lstart + s, base + lstart + len(ltext.rstrip())))
        pos = line.end()
    del pos
    return spans


def chunk_document(
    doc: ParsedDocument,
    config: ChunkerConfig | None = None,
    count_tokens: Callable[[str], int] | None = None,
    doc_lang: str | None = None,
) -> list[Chunk]:
    cfg = config or ChunkerConfig()
    count = count_tokens or (lambda s: int(word_count(s) * 1.6) + 2)
    if doc_lang is None:
        sample = BLOCK_SEP.join(p.text for p in doc.pages)[:6000]
        doc_lang = detect(sample, fallback="und")
    chunks: list[Chunk] = []
    stack: list[tuple[int, str]] = []  # heading path, carried across pages

    for page in doc.pages:
        text = page.text
        sections: list[_Section] = []
        offset = 0
        for block in page.blocks:
            if block.kind == "heading":
                level = max(1, block.level or 1)
                stack = [h for h in stack if h[0] < level] + [(level, block.text.strip())]
                sections.append(_Section([h for _, h in stack], (offset, offset + len(block.text))))
            else:
                if not sections:
                    sections.append(_Section([h for _, h in stack], None))
                sections[-1].units.extend(split_sentences(block.text, offset))
            offset += len(block.text) + len(BLOCK_SEP)
        for group in _merge_small(sections, text, cfg, count):
            heading = " > ".join(_common_path(group))
            units = [u for i, sec in enumerate(group) for u in ([sec.head] if i and sec.head else []) + sec.units]
            for s, e in _pack(units, text, cfg, count):
                chunks.append(_make_chunk(doc.path, text[s:e], s, e, page.number, heading, page.ocr, doc_lang))
    for i, c in enumerate(chunks):
        c.ord = i
    return chunks


@dataclass
class _Section:
    path: list[str]
    head: tuple[int, int] | None
    """Span of the heading block that opens the section on this page, if any."""
    units: list[tuple[int, int]] = field(default_factory=list)
    """Sentence spans of the section's text."""

    def words(self, text: str) -> int:
        return sum(word_count(text[s:e]) for s, e in self.units)


def _merge_small(
    sections: list[_Section], text: str, cfg: ChunkerConfig, count: Callable[[str], int]
) -> list[list[_Section]]:
    """Group consecutive sections so that a tiny one (a heading with a line or two under it)
    joins its neighbour in one chunk, when both fit in one chunk. Sections without text go."""
    small = max(1, cfg.target_words // 3)
    groups: list[list[_Section]] = []
    words: list[int] = []
    for sec in (s for s in sections if s.units):
        w = sec.words(text)
        if groups:
            last = groups[-1]
            both = words[-1] + w
            if (
                (words[-1] < small or w < small)
                and both <= cfg.target_words
                and count(text[last[0].units[0][0] : sec.units[-1][1]]) <= cfg.max_tokens
            ):
                last.append(sec)
                words[-1] = both
                continue
        groups.append([sec])
        words.append(w)
    return groups


def _common_path(group: list[_Section]) -> list[str]:
    path = group[0].path
    for sec in group[1:]:
        n = 0
        while n < min(len(path), len(sec.path)) and path[n] == sec.path[n]:
            n += 1
        path = path[:n]
    return path or group[0].path


def _pack(
    units: list[tuple[int, int]], text: str, cfg: ChunkerConfig, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Pack sentence spans into chunks of balanced length (about `target_words`, never a tiny
    tail), within `max_tokens`, each chunk repeating the last `overlap` sentences of the one before."""
    spans = _split_long(units, text, cfg, count)
    if not spans:
        return []
    sizes = [word_count(text[s:e]) for s, e in spans]
    total = sum(sizes)
    target = total / max(1, math.ceil(total / max(1, cfg.target_words)))
    out: list[tuple[int, int]] = []
    i = 0
    n = len(spans)
    while i < n:
        j = i
        words = 0
        while j < n:
            w = sizes[j]
            if j > i and words + w / 2 > target:
                break
            if j > i and count(text[spans[i][0] : spans[j][1]]) > cfg.max_tokens:
                break
            words += w
            j += 1
        out.append((spans[i][0], spans[j - 1][1]))
        if j >= n:
            break
        # Next chunk starts `overlap` sentences back, but always moves forward.
        i = max(i + 1, j - cfg.overlap)
    return out


def _split_long(
    spans: list[tuple[int, int]], text: str, cfg: ChunkerConfig, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Cut any single sentence that alone exceeds the token budget at word boundaries."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if word_count(text[s:e]) * 3 < cfg.max_tokens or count(text[s:e]) <= cfg.max_tokens:
            out.append((s, e))
            continue
        words = [(m.start() + s, m.end() + s) for m in re.finditer(r"\S+", text[s:e])]
        step = max(20, cfg.target_words)
        for k in range(0, len(words), step):
            part = words[k : k + step]
            out.append((part[0][0], part[-1][1]))
    return out


def _make_chunk(
    path: str, text: str, start: int, end: int, page: int | None, heading: str, ocr: bool, doc_lang: str
) -> Chunk:
    lang = detect(text, fallback=doc_lang, min_letters=40)
    if lang not in ("sv", "lv", "fr", "es", "en") and doc_lang != "und" and word_count(text) < 30:
        lang = doc_lang
    chunk = Chunk(path=path, text=text, page=page, heading=heading, lang=lang, start=start, end=end, ocr=ocr)
    chunk.hash = hashlib.sha256(chunk.embed_text().encode("utf-8")).hexdigest()
    return chunk


def document_languages(chunks: list[Chunk]) -> list[str]:
    return dominant([c.lang for c in chunks])
