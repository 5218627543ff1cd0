"""The evidence: every quotable span of the passages found, scored against the question.

Every quotable span of the retrieved passages (`spans.py`: sentence pairs, tables and lists)
is embedded (with the passage's heading as context, so "It was created in 2002" still knows
what "it" is) and scored against the question by cosine similarity plus the share of the
question's content terms it contains, compared within its own language, plus a little of the
search's score of its passage. Whether the spans answer at all is the verdict's call
(`verdict.py`); which of them are quoted, the composer's (`compose.py`).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from functools import lru_cache

import numpy as np

from sihub.index.embedder import Embedder
from sihub.types import Hit

from . import kinds, terms
from .params import ANSWER
from .quote_cache import QuoteVectors
from .spans import embed_text, marked_units, quote_texts, section
from .state import Evidence, Sentence

# The kinds of answer that are a figure of something: the words next to it say of what.
FIGURES = frozenset({"money", "count", "score"})


def embed_spans(hits: list[Hit], embedder: Embedder, vectors: QuoteVectors) -> None:
    """Have the vectors of every quotable span of `hits` at hand in `vectors` (read back or computed now)."""
    vectors.embed(embedder, [t for h in hits for t in quote_texts(h)])


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
    vectors: QuoteVectors | None = None,
    place_docs: AbstractSet[str] | None = None,
) -> list[Sentence]:
    """Every quotable span of `hits`, scored against `query` (cosine + term overlap + figures +
    its passage's search score), best first.

    `lang_bias[i]` (retrieve.language_bias) is taken off the cosine of the spans of `hits[i]`
    when they are ranked: e5 rates sentences in the question's language higher for their
    language alone. `Sentence.sim` keeps the plain cosine. With `known_only`, only spans whose
    vectors are already remembered or stored are ranked (nothing is embedded). `translations`
    (`lexicon.Lexicon.translate`) let a span in another language share the question's terms.
    `vectors` remembers span vectors (the Assistant's, in front of the index's quotes.sqlite);
    a throw-away one when None. `place_docs` (`places_named_by`) are the documents that name the
    cities the question names: their spans get `ANSWER.place_bonus`.
    """
    qkeys = terms.keys(query)
    alt = translated_keys(translations)
    kind = kinds.asked(query)
    given = kinds.given_figures(query) if kind in ("count", "score") else frozenset()
    wanted_by_lang: dict[str, frozenset[str]] = {}

    def wanted(lang: str) -> frozenset[str]:
        if lang not in wanted_by_lang:
            wanted_by_lang[lang] = frozenset(qkeys | set(alt.get(lang, {}).values()))
        return wanted_by_lang[lang]

    cands: list[Sentence] = []
    for i, h in enumerate(hits):
        for s, e, whole in marked_units(h.chunk.text):
            cands.append(Sentence(i, s, e, whole=whole))
    if not cands:
        return []
    if embedder is not None:
        vectors = vectors if vectors is not None else QuoteVectors()
        if query_vec is None:
            query_vec = embedder.embed_queries([query])[0]
        texts = [embed_text(hits[c.hit], c.start, c.end) for c in cands]
        if known_only:
            have = vectors.known(embedder, texts)
            cands = [c for c, v in zip(cands, have, strict=True) if v is not None]
            if not cands:
                return []
            vecs = np.stack([v for v in have if v is not None]).astype(np.float32)
        else:
            vecs = vectors.embed(embedder, texts)
        sims = vecs @ np.asarray(query_vec, dtype=np.float32)
        for c, v, sim in zip(cands, vecs, sims, strict=True):
            c.vec, c.sim = v, float(sim)
    for c in cands:
        chunk = hits[c.hit].chunk.text
        text = chunk[c.start : c.end]
        c.lex = term_overlap(qkeys, text, alt.get(hits[c.hit].chunk.lang))
        c.fits = kinds.offers(text, kind, chunk, given)
        if kind in FIGURES and c.fits:
            c.unit = kinds.figure_of(text, wanted(hits[c.hit].chunk.lang), given)
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
        c.score = c.sim + ANSWER.lex_weight * own + (ANSWER.kind_bonus if kind and c.fits else 0.0)
        if several and c.whole:
            c.score += ANSWER.list_bonus
            if focus and focus in terms.keys(_lead(hits[c.hit], c)):
                c.score += ANSWER.focus_bonus
        if lang_bias is not None:
            c.score -= float(lang_bias[c.hit])
        c.score += ANSWER.passage_weight * min(max(hits[c.hit].score, 0.0), ANSWER.passage_cap)
        if place_docs and hits[c.hit].chunk.path in place_docs:
            c.score += ANSWER.place_bonus
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
    vectors: QuoteVectors | None = None,
    place_docs: AbstractSet[str] | None = None,
) -> Evidence:
    """The evidence `hits` offer for `query`: their spans ranked (`rank_spans`), the relevance
    of the passages the search found, and the question's names no passage addresses.

    The relevance uses the plain cosines it was calibrated on (no language-bias correction).
    """
    if embedder is not None and query_vec is None:
        query_vec = embedder.embed_queries([query])[0]
    cands = rank_spans(
        query, hits, embedder, query_vec, lang_bias, translations=translations, vectors=vectors, place_docs=place_docs
    )
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
    return best_sim + ANSWER.rel_lex * best_lex + ANSWER.rel_contrast * (best_sim - median)
