"""Extractive answers: the sentences of the top passages that answer the question, cited.

Every candidate sentence of the retrieved passages is embedded (with the passage's heading as
context, so "It was created in 2002" still knows what "it" is) and scored against the question
by cosine similarity plus the share of the question's content terms it contains. The best
sentences, near-duplicates across documents removed, are grouped by document and written as a
short Markdown answer whose every line ends with `[n]`; `[n]` is `citations[n-1]`, and each
citation's `quote` is a verbatim slice of its chunk.

When the best evidence stays under the calibrated threshold (`Settings.answer_threshold`,
see `bench/answers.py`), the answer says the documents hold nothing about it and offers the
nearest documents as "maybe related" instead of passing weak passages off as an answer.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from index.embedder import Embedder
from ingest import split_sentences
from sihub.types import Answer, Citation, Hit

from . import terms
from .i18n import label, lang_name

# Weight of term overlap next to cosine similarity in a sentence's score. e5 cosines of a
# question against related and unrelated sentences sit within ~0.1 of each other, so a
# share of shared terms (0..1) moves the ranking without swamping it.
LEX_WEIGHT = 0.1
# Sentences kept in an answer, and how far below the best one a sentence may score.
MAX_QUOTES = 4
MARGIN = 0.03
# The default relevance threshold (calibrated by bench/answers.py; see Settings.answer_threshold).
THRESHOLD = 0.84


@dataclass
class Sentence:
    """A candidate sentence: `hits[hit].chunk.text[start:end]`, with its scores."""

    hit: int
    start: int
    end: int
    sim: float = 0.0
    lex: float = 0.0
    score: float = 0.0
    vec: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Evidence:
    """What the passages offer for a question: scored sentences, best first, and a relevance."""

    sentences: list[Sentence]
    relevance: float
    """max(score) over the sentences: compared with the answer threshold."""


# ---- sentence embeddings, cached per process ----------------------------------------------------


class _VectorCache:
    """An LRU of sentence vectors keyed by (embedder id, text): a follow-up re-reads the same chunks."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._d: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        eid = getattr(embedder, "id", "?")
        out: list[np.ndarray | None] = []
        missing: list[str] = []
        with self._lock:
            for t in texts:
                v = self._d.get((eid, t))
                if v is not None:
                    self._d.move_to_end((eid, t))
                else:
                    missing.append(t)
                out.append(v)
        if missing:
            todo = list(dict.fromkeys(missing))
            vecs = embedder.embed_passages(todo)
            got = dict(zip(todo, vecs, strict=True))
            with self._lock:
                for t, v in got.items():
                    self._d[(eid, t)] = v
                while len(self._d) > self.size:
                    self._d.popitem(last=False)
            out = [v if v is not None else got[t] for v, t in zip(out, texts, strict=True)]
        if not out:
            return np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)
        return np.stack(out).astype(np.float32)


_vectors = _VectorCache()


# ---- scoring -----------------------------------------------------------------------------------

_HAS_DIGIT = re.compile(r"\d")


def candidate_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a chunk worth quoting: not bare headings, not stray fragments."""
    out = []
    for s, e in split_sentences(text):
        sent = text[s:e]
        words = len(sent.split())
        if words < 3 and not _HAS_DIGIT.search(sent):
            continue
        if words < 5 and not _HAS_DIGIT.search(sent) and not sent.rstrip().endswith((".", "!", "?", ":")):
            continue  # a heading line
        out.append((s, e))
    return out


def _embed_text(hit: Hit, sentence: str) -> str:
    heading = hit.chunk.heading.split(" > ")[-1] if hit.chunk.heading else ""
    context = hit.title if not heading else heading
    return f"{context}: {sentence}" if context and context not in sentence else sentence


def term_overlap(question_keys: set[str], sentence: str) -> float:
    """Weighted share of the question's content terms that the sentence contains (0..1)."""
    if not question_keys:
        return 0.0
    have = terms.keys(sentence)
    total = sum(terms.weight(k) for k in question_keys)
    return sum(terms.weight(k) for k in question_keys if k in have) / total


def gather(
    query: str,
    hits: list[Hit],
    embedder: Embedder | None,
    query_vec: np.ndarray | None = None,
) -> Evidence:
    """Score every candidate sentence of `hits` against `query` (cosine + term overlap)."""
    qkeys = terms.keys(query)
    cands: list[Sentence] = []
    for i, h in enumerate(hits):
        for s, e in candidate_spans(h.chunk.text):
            cands.append(Sentence(i, s, e))
    if not cands:
        return Evidence([], 0.0)
    if embedder is not None:
        if query_vec is None:
            query_vec = embedder.embed_queries([query])[0]
        texts = [_embed_text(hits[c.hit], hits[c.hit].chunk.text[c.start : c.end]) for c in cands]
        vecs = _vectors.embed(embedder, texts)
        sims = vecs @ np.asarray(query_vec, dtype=np.float32)
        for c, v, sim in zip(cands, vecs, sims, strict=True):
            c.vec, c.sim = v, float(sim)
    for c in cands:
        c.lex = term_overlap(qkeys, hits[c.hit].chunk.text[c.start : c.end])
        c.score = c.sim + LEX_WEIGHT * c.lex
    cands.sort(key=lambda c: -c.score)
    return Evidence(cands, cands[0].score)


# ---- selection ---------------------------------------------------------------------------------


def _near_duplicate(a: Sentence, b: Sentence, hits: list[Hit]) -> bool:
    if a.vec is not None and b.vec is not None and float(a.vec @ b.vec) > 0.97:
        return True
    ka = terms.keys(hits[a.hit].chunk.text[a.start : a.end])
    kb = terms.keys(hits[b.hit].chunk.text[b.start : b.end])
    return bool(ka and kb) and len(ka & kb) / len(ka | kb) >= 0.7


def select(evidence: Evidence, hits: list[Hit], max_quotes: int = MAX_QUOTES, margin: float = MARGIN) -> list[Sentence]:
    """The best sentences within `margin` of the top one, without near-duplicates, two per chunk at most."""
    if not evidence.sentences:
        return []
    floor = evidence.sentences[0].score - margin
    chosen: list[Sentence] = []
    per_hit: dict[int, int] = {}
    for c in evidence.sentences:
        if c.score < floor or len(chosen) >= max_quotes:
            break
        if per_hit.get(c.hit, 0) >= 2 or any(_near_duplicate(c, o, hits) for o in chosen):
            continue
        chosen.append(c)
        per_hit[c.hit] = per_hit.get(c.hit, 0) + 1
    return chosen


def _quote_span(text: str, picked: list[Sentence]) -> tuple[int, int]:
    """One verbatim span for a chunk's picked sentences: both when at most one sentence apart."""
    picked = sorted(picked, key=lambda c: c.start)
    if len(picked) == 1:
        return picked[0].start, picked[0].end
    spans = split_sentences(text)
    starts = [s for s, _ in spans]
    first, last = picked[0], picked[-1]
    try:
        gap = starts.index(last.start) - starts.index(first.start)
    except ValueError:
        gap = 99
    if gap <= 2:
        return first.start, last.end
    best = max(picked, key=lambda c: c.score)
    return best.start, best.end


# ---- rendering ---------------------------------------------------------------------------------


def topic(question: str) -> str:
    """The question as the opening line names it: one line, without its question mark."""
    q = " ".join(question.split()).strip()
    q = re.sub(r"^[¿¡]+", "", q)
    return re.sub(r"\s*[?？!]+$", "", q)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def make_citations(picks: dict[int, tuple[int, int]], hits: list[Hit], scores: dict[int, float]) -> list[Citation]:
    """Citations for the picked chunks, grouped by document (best document first), numbered 1..n."""
    best_doc: dict[str, float] = {}
    for i in picks:
        f = hits[i].chunk.path
        best_doc[f] = max(best_doc.get(f, -1e9), scores[i])
    order = sorted(
        picks, key=lambda i: (-best_doc[hits[i].chunk.path], hits[i].chunk.path, hits[i].chunk.page or 0, hits[i].chunk.ord)
    )
    out = []
    for n, i in enumerate(order, start=1):
        h, (s, e) = hits[i], picks[i]
        c = h.chunk
        out.append(
            Citation(
                n=n, file=c.path, title=h.title, page=c.page, lang=c.lang, heading=c.heading, text=c.text,
                quote=c.text[s:e], score=float(scores[i]), chunk_id=c.id, meta=h.doc_meta,
            )
        )
    return out


def render_extractive(question: str, lang: str, citations: list[Citation], followup_of: str | None = None) -> str:
    if followup_of:
        lines = [label(lang, "opening_followup", previous=topic(followup_of), topic=topic(question))]
    else:
        lines = [label(lang, "opening", topic=topic(question))]
    doc = None
    doc_lang = None
    for c in citations:
        if c.file != doc:
            doc, doc_lang = c.file, c.lang
            lines.append("")
            lines.append(f"**{c.title or c.file}** — {c.file} · {label(lang, 'lang_label', name=lang_name(c.lang, lang))}")
        where = [label(lang, "page", page=c.page)] if c.page else []
        if c.lang != doc_lang:
            where.append(lang_name(c.lang, lang))
        prefix = f"({', '.join(where)}) " if where else ""
        lines.append(f"- {prefix}“{_one_line(c.quote)}” [{c.n}]")
    return "\n".join(lines)


def related_documents(hits: list[Hit], limit: int = 3) -> list[dict]:
    """The nearest documents (best passage of each), for "maybe related"."""
    out, seen = [], set()
    for h in hits:
        if h.chunk.path in seen:
            continue
        seen.add(h.chunk.path)
        out.append({"file": h.chunk.path, "title": h.title, "page": h.chunk.page, "score": round(float(h.score), 6)})
        if len(out) == limit:
            break
    return out


def not_found(question: str, lang: str, hits: list[Hit], note: str | None = None) -> Answer:
    related = related_documents(hits)
    lines = [label(lang, "not_found")]
    if related:
        lines += ["", label(lang, "related")]
        for r in related:
            where = r["file"] + (", " + label(lang, "page", page=r["page"]) if r["page"] else "")
            lines.append(f"- {r['title'] or r['file']} — {where}")
    return Answer(question, lang, False, "\n".join(lines), [], related=related, note=note)


def compose(
    question: str,
    language: str,
    hits: list[Hit],
    embedder: Embedder | None = None,
    *,
    query: str | None = None,
    threshold: float = THRESHOLD,
    followup_of: str | None = None,
    evidence: Evidence | None = None,
    max_quotes: int = MAX_QUOTES,
) -> Answer:
    """An extractive answer to `question` from `hits` (or "not in the documents").

    `query` is what was searched for (a follow-up combined with the earlier question); it is
    what sentences are scored against. Without an embedder, sentences are scored by term
    overlap alone (and the threshold is then a share of terms).
    """
    ev = evidence or gather(query or question, hits, embedder)
    if not ev.sentences or ev.relevance < threshold:
        return not_found(question, language, hits)
    chosen = select(ev, hits, max_quotes=max_quotes)
    by_hit: dict[int, list[Sentence]] = {}
    for c in chosen:
        by_hit.setdefault(c.hit, []).append(c)
    picks = {i: _quote_span(hits[i].chunk.text, cs) for i, cs in by_hit.items()}
    scores = {i: max(c.score for c in cs) for i, cs in by_hit.items()}
    citations = make_citations(picks, hits, scores)
    text = render_extractive(question, language, citations, followup_of)
    return Answer(question, language, True, text, citations)
