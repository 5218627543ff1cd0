"""Composing the extractive answer: the best spans of the evidence, cited.

The best spans, near-duplicates across documents removed, are grouped by document and written
as a short Markdown answer whose every line ends with `[n]`; `[n]` is `citations[n-1]`, and
each citation's `quote` is a verbatim slice of its chunk. When the verdict finds that the
passages do not answer, `not_found` says the documents hold nothing about it (and what is
missing) and offers the nearest documents as "maybe related" instead.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sihub.index.embedder import Embedder
from sihub.types import Answer, Citation, Hit

from . import terms
from .evidence import gather
from .i18n import label, lang_name
from .params import ANSWER
from .quote_cache import QuoteVectors
from .spans import MAX_QUOTE_CHARS, candidate_spans
from .state import Evidence, Sentence


def _near_duplicate(a: Sentence, b: Sentence, hits: list[Hit]) -> bool:
    """Overlapping spans of one passage, or near-identical text in two passages (a summary
    repeated in another document). Spans of one passage that do not overlap are different
    text, however alike their vectors (they share the passage's title and heading)."""
    if a.hit == b.hit:
        return a.start < b.end and b.start < a.end
    if a.vec is not None and b.vec is not None and float(a.vec @ b.vec) > 0.97:
        return True
    ka = terms.keys(hits[a.hit].chunk.text[a.start : a.end])
    kb = terms.keys(hits[b.hit].chunk.text[b.start : b.end])
    return bool(ka and kb) and len(ka & kb) / len(ka | kb) >= 0.7


def select(
    evidence: Evidence, hits: list[Hit], max_quotes: int = ANSWER.max_quotes, margin: float = ANSWER.margin
) -> list[Sentence]:
    """The best spans within `margin` of the top one, without overlaps or near-duplicates, two per chunk.

    When the question asks for an amount, a date or a figure, the best span that holds one is
    among them even if spans without one score higher.
    """
    pool = evidence.pool(margin, limit=len(evidence.sentences))
    chosen: list[Sentence] = []
    per_hit: dict[int, int] = {}
    for c in pool:
        if len(chosen) >= max_quotes:
            break
        # A span overlapping one already chosen (the next sentence pair of the same passage)
        # widens that quote rather than being dropped: "Three of them became regular services:"
        # then the list that names them.
        j = next((j for j, o in enumerate(chosen) if o.hit == c.hit and o.start < c.end and c.start < o.end), None)
        if j is not None:
            o = chosen[j]
            start, end = min(o.start, c.start), max(o.end, c.end)
            if end - start <= MAX_QUOTE_CHARS:
                chosen[j] = replace(o, start=start, end=end, fits=o.fits or c.fits)
            continue
        if per_hit.get(c.hit, 0) >= 2 or any(_near_duplicate(c, o, hits) for o in chosen):
            continue
        if evidence.kind and not c.fits:
            # The passage's own sentence with the figure asked for, if it scores nearly as well.
            c = next(
                (
                    x
                    for x in evidence.sentences
                    if x.hit == c.hit
                    and x.fits
                    and x.score >= c.score - ANSWER.kind_swap
                    and not any(_near_duplicate(x, o, hits) for o in chosen)
                ),
                c,
            )
        chosen.append(c)
        per_hit[c.hit] = per_hit.get(c.hit, 0) + 1
    # A quote that leads into a list ("Three of them became regular services:") goes on with it.
    chosen = [_with_list(c, hits[c.hit].chunk.text) for c in chosen]
    if evidence.kind and chosen and not any(c.fits for c in chosen):
        fitting = next((c for c in pool if c.fits and not any(_near_duplicate(c, o, hits) for o in chosen)), None)
        if fitting is not None:
            chosen = [*chosen[: max_quotes - 1], fitting]
    return chosen


def _with_list(c: Sentence, text: str) -> Sentence:
    """`c` widened over the lines that follow it when it ends with a colon, within MAX_QUOTE_CHARS."""
    if not text[c.start : c.end].rstrip().endswith(":"):
        return c
    end = c.end
    for s, e in candidate_spans(text):
        if s < c.end:
            continue
        if e - c.start > MAX_QUOTE_CHARS:
            break
        end = e
    return replace(c, end=end) if end > c.end else c


def merge_adjacent(text: str, picked: list[Sentence]) -> list[tuple[int, int, float]]:
    """A chunk's picked spans as quotes (start, end, score); spans that touch become one quote."""
    out: list[list[float]] = []
    for c in sorted(picked, key=lambda c: c.start):
        if out and not text[int(out[-1][1]) : c.start].strip(" \t"):
            out[-1][1] = max(out[-1][1], c.end)
            out[-1][2] = max(out[-1][2], c.score)
        else:
            out.append([c.start, c.end, c.score])
    return [(int(s), int(e), float(sc)) for s, e, sc in out]


def topic(question: str) -> str:
    """The question as the opening line names it: one line, without its question mark."""
    q = " ".join(question.split()).strip()
    q = re.sub(r"^[¿¡]+", "", q)
    return re.sub(r"\s*[?？!]+$", "", q)


def _one_line(text: str) -> str:
    """A quote on one line; the rows of a quoted table stay apart (" / ")."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    out = lines[0] if lines else ""
    for prev, line in zip(lines, lines[1:], strict=False):
        out += (" / " if " | " in prev and " | " in line else " ") + line
    return out


def make_citations(quotes: list[tuple[int, int, int, float]], hits: list[Hit]) -> list[Citation]:
    """Citations for (hit, start, end, score) quotes, grouped by document (best first), numbered 1..n."""
    best_doc: dict[str, float] = {}
    for i, _s, _e, score in quotes:
        f = hits[i].chunk.path
        best_doc[f] = max(best_doc.get(f, -1e9), score)

    def order(q: tuple[int, int, int, float]) -> tuple:
        c = hits[q[0]].chunk
        return (-best_doc[c.path], c.path, c.page or 0, c.ord, q[1])

    out = []
    for n, (i, s, e, score) in enumerate(sorted(quotes, key=order), start=1):
        h = hits[i]
        c = h.chunk
        out.append(Citation.from_hit(n, h, c.text[s:e], score))
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
            lines.append(
                f"**{c.title or c.file}** — {c.file} · {label(lang, 'lang_label', name=lang_name(c.lang, lang))}"
            )
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


def _quoted(names: list[str]) -> str:
    return ", ".join(f"“{m}”" for m in names)


def not_found(
    question: str,
    lang: str,
    hits: list[Hit],
    note: str | None = None,
    missing: list[str] | None = None,
    kind: str | None = None,
) -> Answer:
    """ "Not in the documents", saying what is missing (`missing` names, or no `kind` of figure)."""
    related = related_documents(hits)
    lines = [label(lang, "not_found")]
    if missing:
        lines[0] += " " + label(lang, "missing", names=_quoted(missing))
    elif kind:
        lines[0] += " " + label(lang, f"no_{kind}")
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
    followup_of: str | None = None,
    evidence: Evidence | None = None,
    max_quotes: int = ANSWER.max_quotes,
    vectors: QuoteVectors | None = None,
) -> Answer:
    """An extractive answer to `question` from `hits`, once the verdict (`verdict.py`) has found
    that they answer it ("not in the documents" when they hold no quotable span).

    `query` is what was searched for (a follow-up combined with the earlier question); it is
    what sentences are scored against. Without an embedder, sentences are scored by term
    overlap alone.
    """
    ev = evidence or gather(query or question, hits, embedder, vectors=vectors)
    if not ev.sentences:
        return not_found(question, language, hits)
    chosen = select(ev, hits, max_quotes=max_quotes)
    by_hit: dict[int, list[Sentence]] = {}
    for c in chosen:
        by_hit.setdefault(c.hit, []).append(c)
    quotes = [(i, s, e, sc) for i, cs in by_hit.items() for s, e, sc in merge_adjacent(hits[i].chunk.text, cs)]
    citations = make_citations(quotes, hits)
    text = render_extractive(question, language, citations, followup_of)
    return Answer(question, language, True, text, citations)
