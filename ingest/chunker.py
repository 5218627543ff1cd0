"""Structure-aware chunking: headings and paragraphs first, then sentences, within a token budget.

A chunk never crosses a page of a PDF or a heading, never cuts a sentence (unless one
sentence alone exceeds the budget), and its text is exactly `page.text[start:end]`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sihub.types import Chunk

from .lang import detect, dominant, word_count
from .model import BLOCK_SEP, ParsedDocument

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENT_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+")
_ABBREV = {
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "no", "nr", "art", "fig", "p", "pp", "vol",
    "st", "sr", "sra", "dña", "ca", "approx", "inc", "ltd", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "bl.a", "t.ex", "s.k", "m.m", "o.s.v", "p.ex", "cf", "env", "mme", "mlle",
    "n.º", "núm", "pág", "utt", "u.c", "piem", "t.sk", "g", "lpp",
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
        # Units: (start, end, heading path) of every sentence of every non-heading block.
        units: list[tuple[int, int, str]] = []
        offset = 0
        for block in page.blocks:
            if block.kind == "heading":
                level = max(1, block.level or 1)
                stack = [h for h in stack if h[0] < level] + [(level, block.text.strip())]
            else:
                path = " > ".join(h for _, h in stack)
                for s, e in split_sentences(block.text, offset):
                    units.append((s, e, path))
            offset += len(block.text) + len(BLOCK_SEP)
        for group in _group_by_heading(units):
            for s, e in _pack(group, text, cfg, count):
                heading = group[0][2]
                chunks.append(_make_chunk(doc.path, text[s:e], s, e, page.number, heading, page.ocr, doc_lang))
    for i, c in enumerate(chunks):
        c.ord = i
    return chunks


def _group_by_heading(units: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    groups: list[list[tuple[int, int, str]]] = []
    for u in units:
        if groups and groups[-1][-1][2] == u[2]:
            groups[-1].append(u)
        else:
            groups.append([u])
    return groups


def _pack(
    units: list[tuple[int, int, str]], text: str, cfg: ChunkerConfig, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Greedy packing of sentence spans into chunks of about `target_words`, with overlap."""
    spans = _split_long([(s, e) for s, e, _ in units], text, cfg, count)
    out: list[tuple[int, int]] = []
    i = 0
    n = len(spans)
    while i < n:
        j = i
        words = 0
        while j < n:
            w = word_count(text[spans[j][0] : spans[j][1]])
            if j > i and words + w > cfg.target_words:
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
    # A short tail chunk that is fully covered by the overlap of the previous one adds nothing.
    return out


def _split_long(
    spans: list[tuple[int, int]], text: str, cfg: ChunkerConfig, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Cut any single sentence that alone exceeds the token budget at word boundaries."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if count(text[s:e]) <= cfg.max_tokens:
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
