"""Extractive answers: the sentences of the top passages that answer the question, cited.

Every quotable span of the retrieved passages (`spans.py`: sentence pairs, tables and lists)
is embedded (with the passage's heading as context, so "It was created in 2002" still knows
what "it" is) and scored against the question by cosine similarity plus the share of the
question's content terms it contains, compared within its own language. The best
sentences, near-duplicates across documents removed, are grouped by document and written as a
short Markdown answer whose every line ends with `[n]`; `[n]` is `citations[n-1]`, and each
citation's `quote` is a verbatim slice of its chunk.

Whether the passages answer at all is the verdict's call (`verdict.py`); when they do not, the
answer says the documents hold nothing about it and offers the nearest documents as "maybe
related" instead of passing weak passages off as an answer.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from index.embedder import Embedder
from sihub.types import Answer, Citation, Hit

from . import kinds, terms
from .i18n import label, lang_name
from .quote_cache import QuoteVectors
from .spans import MAX_QUOTE_CHARS, candidate_spans, embed_text, marked_units, quote_texts, section

# Weight of term overlap next to cosine similarity in a sentence's score. e5 cosines of a
# question against related and unrelated sentences sit within ~0.1 of each other, so a
# share of shared terms (0..1) moves the ranking without swamping it.
LEX_WEIGHT = 0.05
# Added to a span that holds what the question asks for: an amount, a date, a figure (kinds.py).
KIND_BONUS = 0.02
# Sentences quoted in an answer, at most.
MAX_QUOTES = 5
# Added to a table or a list quoted whole when the question asks for several things ("Which
# functions…", "Vilka teman…"): its rows and items are what is asked for (bench/answers.py:
# 0.05 and 0.08 give the same answers on the gold questions, 0.03 two fewer).
LIST_BONUS = 0.05
# Added besides to a table or list whose header, lead-in or heading names what the question asks
# several of ("¿Qué funciones…" -> a table headed "Función | Contenido"): of the lists of a
# passage, that one answers (bench/answers.py: 0.02 and 0.04 give the same answers).
FOCUS_BONUS = 0.03
# How far below a passage's best span a span of the same passage that holds the figure asked
# for may score and still be quoted instead.
KIND_SWAP = 0.03
# How far below the best span a span may score and still be quoted. The passage score
# (PASSAGE_WEIGHT) spreads the scores by up to 0.045: bench/answers.py, answerable gold
# questions cited at 0.05 / 0.06 / 0.07 / 0.10: 103 / 104 / 104 / 104; at 0.06 an answer quotes
# 4.2 passages on average instead of 3.9.
MARGIN = 0.06
# Weight of the search's score of a span's passage (its hybrid score: standardised cosine plus
# the bonuses of its shared words, translated words and names; capped at PASSAGE_CAP) in the
# span's score. A sentence's cosine alone is a weak judge between sentences a few hundredths
# apart; the passage's score adds what the search knew about it (bench/answers.py, 116
# answerable gold questions: 0.005 / 0.01 / 0.015 / 0.02 / 0.03 / 0.05 cite 102 / 102 / 103 /
# 103 / 100 / 97 against 101 without it).
PASSAGE_WEIGHT = 0.015
PASSAGE_CAP = 3.0
# Relevance = best cosine + REL_LEX x best term share + REL_CONTRAST x (best - median cosine): a
# summary of the evidence shown beside answers in bench/answers.py (the verdict decides).
REL_LEX = 0.2
REL_CONTRAST = 0.5


@dataclass
class Sentence:
    """A candidate sentence: `hits[hit].chunk.text[start:end]`, with its scores."""

    hit: int
    start: int
    end: int
    sim: float = 0.0
    lex: float = 0.0
    score: float = 0.0
    fits: bool = True
    """Whether the span holds the kind of answer the question asks for (see kinds.py)."""
    whole: bool = False
    """Whether the span is a table or a list quoted whole (`spans.blocks`)."""
    vec: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Evidence:
    """What the passages offer for a question: scored sentences, best first, and a relevance."""

    sentences: list[Sentence]
    relevance: float
    """See `relevance()`."""
    bias: np.ndarray | None = field(default=None, repr=False)
    """Per hit, the language bias taken off its spans' cosines (`retrieve.language_bias`)."""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """The question's words in the index's other languages (`lexicon.Lexicon.translate`)."""
    kind: str | None = None
    """The kind of answer the question asks for: "money", "time", "score", "count" or None (kinds.py)."""

    def pool(self, margin: float = MARGIN, limit: int = 2 * MAX_QUOTES) -> list[Sentence]:
        """The spans an answer may quote: the best ones, within `margin` of the top one."""
        if not self.sentences:
            return []
        floor = self.sentences[0].score - margin
        return [c for c in self.sentences[:limit] if c.score >= floor]

    @property
    def kind_missing(self) -> bool:
        """The question asks for an amount, a date or a figure and no quotable span holds one."""
        return self.kind is not None and not any(c.fits for c in self.pool())

    def passages(self, limit: int) -> list[int]:
        """Indices of the hits holding the best spans, best first, at most `limit`."""
        return list(dict.fromkeys(c.hit for c in self.sentences))[:limit]

    def for_hits(self, order: list[int]) -> Evidence:
        """This evidence over `[hits[i] for i in order]`: spans of other hits left out."""
        where = {old: new for new, old in enumerate(order)}
        kept = [replace(c, hit=where[c.hit]) for c in self.sentences if c.hit in where]
        return replace(self, sentences=kept)


# ---- sentence embeddings, cached ------------------------------------------------------------------

# Quote-unit vectors by text: an LRU in front of the index's quotes.sqlite (see quote_cache.py),
# which the Assistant attaches when it opens an index.
_vectors = QuoteVectors()


def embed_spans(hits: list[Hit], embedder: Embedder) -> None:
    """Have the vectors of every quotable span of `hits` at hand (read back or computed now)."""
    _vectors.embed(embedder, [t for h in hits for t in quote_texts(h)])


# ---- scoring -----------------------------------------------------------------------------------


def term_overlap(question_keys: AbstractSet[str], sentence: str, alt: dict[str, str] | None = None) -> float:
    """Weighted share of the question's content terms that the sentence contains (0..1); a term
    also counts when the sentence holds its translation `alt[term]` (keys both)."""
    if not question_keys:
        return 0.0
    have = terms.keys(sentence)
    alt = alt or {}
    weights = _weights(frozenset(question_keys))
    return sum(w for k, w in weights.items() if k in have or alt.get(k) in have) / sum(weights.values())


@lru_cache(maxsize=1024)
def _weights(question_keys: frozenset[str]) -> dict[str, float]:
    return {k: terms.weight(k) for k in question_keys}


def translated_keys(translations: dict[str, dict[str, str]] | None) -> dict[str, dict[str, str]]:
    """Per language, {question term key: key of its translation} (`lexicon.Lexicon.translate`)."""
    return {
        lang: {terms.key(w): terms.key(t) for w, t in words.items() if terms.key(w) != terms.key(t)}
        for lang, words in (translations or {}).items()
    }


def rank_spans(
    query: str,
    hits: list[Hit],
    embedder: Embedder | None,
    query_vec: np.ndarray | None = None,
    lang_bias: np.ndarray | None = None,
    known_only: bool = False,
    translations: dict[str, dict[str, str]] | None = None,
) -> list[Sentence]:
    """Every quotable span of `hits`, scored against `query` (cosine + term overlap + figures +
    its passage's search score), best first.

    `lang_bias[i]` (retrieve.language_bias) is taken off the cosine of the spans of `hits[i]`
    when they are ranked: e5 rates sentences in the question's language higher for their
    language alone. `Sentence.sim` keeps the plain cosine. With `known_only`, only spans whose
    vectors are already remembered or stored are ranked (nothing is embedded). `translations`
    (`lexicon.Lexicon.translate`) let a span in another language share the question's terms.
    """
    qkeys = terms.keys(query)
    alt = translated_keys(translations)
    kind = kinds.asked(query)
    given = kinds.given_figures(query) if kind in ("count", "score") else frozenset()
    cands: list[Sentence] = []
    for i, h in enumerate(hits):
        for s, e, whole in marked_units(h.chunk.text):
            cands.append(Sentence(i, s, e, whole=whole))
    if not cands:
        return []
    if embedder is not None:
        if query_vec is None:
            query_vec = embedder.embed_queries([query])[0]
        texts = [embed_text(hits[c.hit], c.start, c.end) for c in cands]
        if known_only:
            have = _vectors.known(embedder, texts)
            cands = [c for c, v in zip(cands, have, strict=True) if v is not None]
            if not cands:
                return []
            vecs = np.stack([v for v in have if v is not None]).astype(np.float32)
        else:
            vecs = _vectors.embed(embedder, texts)
        sims = vecs @ np.asarray(query_vec, dtype=np.float32)
        for c, v, sim in zip(cands, vecs, sims, strict=True):
            c.vec, c.sim = v, float(sim)
    for c in cands:
        chunk = hits[c.hit].chunk.text
        text = chunk[c.start : c.end]
        c.lex = term_overlap(qkeys, text, alt.get(hits[c.hit].chunk.lang))
        c.fits = kinds.offers(text, kind, chunk, given)
    # Term overlap ranks spans against the best overlap in their own language: a Latvian
    # sentence cannot share the words of a French question, so raw overlap would rank every
    # French sentence that restates the question above the Latvian one that answers it.
    best_lex: dict[str, float] = {}
    for c in cands:
        code = hits[c.hit].chunk.lang
        best_lex[code] = max(best_lex.get(code, 0.0), c.lex)
    several = kinds.asks_several(query)
    focus = kinds.several_of(query) if several else None
    for c in cands:
        own = c.lex - best_lex[hits[c.hit].chunk.lang]
        c.score = c.sim + LEX_WEIGHT * own + (KIND_BONUS if kind and c.fits else 0.0)
        if several and c.whole:
            c.score += LIST_BONUS
            if focus and focus in terms.keys(_lead(hits[c.hit], c)):
                c.score += FOCUS_BONUS
        if lang_bias is not None:
            c.score -= float(lang_bias[c.hit])
        c.score += PASSAGE_WEIGHT * min(max(hits[c.hit].score, 0.0), PASSAGE_CAP)
    cands.sort(key=lambda c: -c.score)
    return cands


def _lead(hit: Hit, c: Sentence) -> str:
    """What introduces a table or a list: its section heading and its first line."""
    first = hit.chunk.text[c.start : c.end].lstrip().split("\n", 1)[0]
    return f"{section(hit)}\n{first}"


def gather(
    query: str,
    hits: list[Hit],
    embedder: Embedder | None,
    query_vec: np.ndarray | None = None,
    lang_bias: np.ndarray | None = None,
    translations: dict[str, dict[str, str]] | None = None,
) -> Evidence:
    """The evidence `hits` offer for `query`: their spans ranked (`rank_spans`), the relevance
    of the passages the search found, and the question's names no passage addresses.

    The relevance uses the plain cosines it was calibrated on (no language-bias correction).
    """
    if embedder is not None and query_vec is None:
        query_vec = embedder.embed_queries([query])[0]
    cands = rank_spans(query, hits, embedder, query_vec, lang_bias, translations=translations)
    if not cands:
        return Evidence([], 0.0)
    # Relevance is calibrated on the passages the search found; those beside them add spans
    # that would lower the median and so lift every question's relevance.
    found = [c for c in cands if not hits[c.hit].beside]
    return Evidence(cands, relevance(found or cands), kind=kinds.asked(query))


def relevance(cands: list[Sentence]) -> float:
    """How strongly the passages bear on the question (a summary; the verdict decides).

    The best span's cosine alone does not separate on-topic from off-topic questions: e5
    cosines sit in a narrow band whose level shifts with the language. Two things lift an
    answerable question clear of that band: the passages share its terms (the best share
    of question terms in any span), and the best span stands out from the rest (its cosine
    above the median span's). Weights and threshold come from bench/answers.py.
    """
    sims = sorted(c.sim for c in cands)
    best_sim, median = sims[-1], sims[len(sims) // 2]
    best_lex = max(c.lex for c in cands)
    return best_sim + REL_LEX * best_lex + REL_CONTRAST * (best_sim - median)


# ---- selection ---------------------------------------------------------------------------------


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


def select(evidence: Evidence, hits: list[Hit], max_quotes: int = MAX_QUOTES, margin: float = MARGIN) -> list[Sentence]:
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
                    and x.score >= c.score - KIND_SWAP
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


# ---- rendering ---------------------------------------------------------------------------------


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
    max_quotes: int = MAX_QUOTES,
) -> Answer:
    """An extractive answer to `question` from `hits`, once the verdict (`verdict.py`) has found
    that they answer it ("not in the documents" when they hold no quotable span).

    `query` is what was searched for (a follow-up combined with the earlier question); it is
    what sentences are scored against. Without an embedder, sentences are scored by term
    overlap alone.
    """
    ev = evidence or gather(query or question, hits, embedder)
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
