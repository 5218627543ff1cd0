"""Hybrid ranking: calibrated dense and lexical scores, weighted by how much each can help.

Plain reciprocal-rank fusion treats the two lists alike, so on a cross-lingual question
the lexical list (matching only stray names and numbers) drags good dense hits down. Here
every candidate chunk (the union of both top lists) gets *both* scores — its cosine from
its stored vector and its BM25 from the FTS index — and each is put on a per-question scale
before they are added:

- dense: standardised against the best candidates (how many spreads a chunk stands above
  the mean of the top `pool`), so one model's compressed cosine range does not matter, and a
  question where the embedding sees nothing special yields small differences;
- lexical, for chunks in the question's language: standardised the same way, so a BM25
  score that stands out (a rare exact term, a name, people's own wording) can outvote the
  embedding — this is what carries questions people wrote in the documents' language. Its
  weight shrinks with the share of the collection in other languages: in a mixed hub a
  strong same-language word match is as much "same language" as "same topic";
- lexical, for chunks in another language: only language-neutral tokens (names, acronyms,
  numbers, cognates) can match there, so it counts as a bounded bonus (BM25 relative to the
  question's best, times a small weight) that can break near-ties of the dense score but
  never overturn it.

In a collection that mixes languages three more signals count (each neutral in a
one-language collection):

- language-bias correction: the embedder scores passages in the question's language higher
  whatever they say; each chunk's cosine is corrected by the question's similarity to the mean
  vector of its language (kept by the index), a constant in a one-language index;
- names and codes (capitalised words, acronyms, numbers) matched in every language's stemmed
  form, weighted by how rare they are in the index, as a bonus for other-language chunks;
- a country the question names ("the Latvian centre", "Spānijas ceļvedis"): a soft bonus for
  chunks of documents catalogued under that country, never a filter;
- the question's words as each other language writes them (`lexicon.py`): their BM25 in that
  language, relative to its best chunk, as a bonus for chunks of that language.

And in any collection, an identifier the question quotes whole (a code, a law number, an
address; `index/lexical.py`) puts the chunks that hold it ahead, in proportion to its rarity.

All weights live in `FusionParams`; they were measured on the 17 dev sets
(`bench/quality.py`), where the result was flat around these values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionParams:
    same_lang: float = 1.0
    """Weight of the standardised lexical score for chunks in the question's language."""
    other_lang: float = 0.5
    """Weight of the bounded lexical bonus (0..1) for chunks in another language."""
    unknown_lang: float = 0.5
    """Weight of the standardised lexical score when the question's or chunk's language is unknown."""
    pool: int = 50
    """Scores are standardised against this many best candidates."""
    share_power: float = 2.0
    """The same-language weight is scaled by (share of the collection in the question's
    language) ** share_power: in a one-language collection it counts fully; in a hub where
    most documents are in other languages, a strong word match mostly says "same language"
    and would push aside the answer written in another language."""
    lang_center: float = 1.0
    """Language-bias correction of the dense score: cos(q, p) - lang_center * q·mean_L, where
    mean_L is the mean vector of the index's chunks in p's language. A multilingual embedder
    scores every passage in the question's language a little higher (a shared "language"
    direction); subtracting each language's mean removes it. In a one-language index it is a
    constant shift, so the ranking does not change."""
    center_prior: float = 50.0
    """A language's mean is shrunk towards the mean of all chunks as if it had this many more
    chunks, so a handful of chunks in a rare (or misdetected) language is barely moved."""
    names: float = 0.15
    """Weight of the name/code bonus (0..1: the share of the question's rarity-weighted names,
    acronyms and codes a chunk contains, matched in every language)."""
    names_everywhere: bool = False
    """Give the name bonus to chunks in the question's language too (else only to others)."""
    country: float = 1.0
    """Bonus for chunks of documents from the one country the question names (catalogue field)."""
    place: float = 1.0
    """Bonus for chunks that name the city the question names, in any language's form of its name
    (the gazetteer of `places.py`: "Lionā" in a Latvian question, "Lyon" in a French report),
    times the city's rarity in the index (as for names). A question about a place over documents
    of other places reads much the same to an embedder; the city's name is what tells them apart,
    and other languages write it differently. Gold questions (120), gold page in the top 5 at
    0 / 0.5 / 1.0: 106 / 106 / 107 (MRR@10 0.728 / 0.723 / 0.723; bench/RESULTS.md, issue 20)."""
    place_doc: float = 1.0
    """Share of `place`'s bonus for the other candidate passages of a document that names the city
    in one of them: a report names its city on its first page, not on the page of each figure it
    gives about it, so a question naming the city found only that first page. A passage of
    another document gets none; a collection of one-passage documents (the public sets) cannot
    move. Gold questions, dev / test, at 0 / 0.5 / 1.0: gold page first 41 / 41 / 42 of 66 and
    37 / 37 / 37 of 63, in the top 5 58 / 58 / 58 and 49 / 50 / 50; cited right in the answers
    0.848 / 0.794 at 0, 0.848 / 0.810 at 1.0 (bench/RESULTS.md, 2026-12-08)."""
    sentence_margin: float | None = 0.0
    """Within a document, a passage whose best sentence is nearer the question than the leading
    passage's best sentence by more than this (cosine, less the language's bias) leads instead
    (`pages.prefer_sentence_pages`); None: the fused order stands."""
    identifier: float = 6.0
    """Bonus for chunks that hold an identifier the question quotes whole (a programme or grant
    code, a law number, an e-mail or web address; not a date or a period: `index/lexical.py`),
    times the identifier's rarity in the index (1 for a code one passage
    holds, towards 0 for one that most hold). Standardised dense and lexical scores of the
    leading candidates spread over about 3 to 5 units, so a unique code quoted verbatim ranks
    its passage first, while a code that many passages hold moves them much less."""
    fact_margin: float = 1.0
    """Within one document, a passage holding what the question asks for (an amount, a date, a
    figure) is put ahead of the document's best passage when that one holds none and leads by
    at most this much (`pages.prefer_fact_pages`); documents keep their places, so the
    public sets (one passage per document) cannot move."""
    translated: float = 1.5
    """Weight of the bonus (0..1: BM25 relative to the best chunk of the same language) for chunks
    in another language that hold the question's words as that language writes them
    (`lexicon.py`; nothing before the warm-up has computed the index's word vectors). Gold
    questions' answers (bench/answers.py), cited at 0.5 / 1.0 / 1.5 / 2.0 / 2.5: 85.3 / 84.5 /
    87.1 / 87.1 / 86.2% (86.2% without), and with the answer's passage weight at 1.0 / 1.5 / 2.0:
    87.1 / 88.8 / 87.1%. Hybrid nDCG@10 (bench/RESULTS.md): gold 0.743 -> 0.778, xquadr en-es
    0.947 -> 0.954 and es-en 0.930 -> 0.947, the ntrex sets within +-0.03 (62 queries each),
    one-language sets unchanged."""
    translated_alone: float = 2.0
    """`translated`'s weight when (almost) none of the collection is in the question's language
    (share below `alone_share`): no passage can then share the question's own words, so its words
    as the passages' language writes them are the lexical search's one sure signal, and no
    same-language passage is pushed aside by weighing them more. Measured with
    `bench/fusion_sweep.py` on the 17 public dev sets (all cross-lingual ones are of this kind),
    mean MRR@10 at 1.5 / 1.75 / 2.0 / 2.5 / 3.0: 0.8778 / 0.8798 / 0.8809 / 0.8785 / 0.8775, six
    sets +0.004 to +0.012 at 2.0, none below -0.001. The hub's own questions meet documents in
    their language and keep `translated` (2.0 there cost the gold answers 0.08 cited on dev)."""
    alone_share: float = 0.01
    """Below this share of the collection in the question's language, `translated_alone` applies."""


@dataclass
class Candidates:
    """Parallel arrays over the candidate chunks of one question."""

    ids: np.ndarray
    dense: np.ndarray
    """Cosine similarity with the question."""
    lexical: np.ndarray
    """BM25 (higher is better; 0 when no query term occurs in the chunk)."""
    langs: list[str]
    names: np.ndarray | None = None
    """Name/code bonus input (0..1), see FusionParams.names."""
    country: np.ndarray | None = None
    """1.0 for chunks from the country the question names, else 0."""
    place: np.ndarray | None = None
    """1.0 for chunks that name the city the question names (in any language's form), else 0."""
    translated: np.ndarray | None = None
    """Translated-words bonus input (0..1), see FusionParams.translated."""
    identifiers: np.ndarray | None = None
    """Whole-identifier bonus input (0..1), see FusionParams.identifier."""


def standardise(x: np.ndarray, pool: int) -> np.ndarray:
    """(x - mean of the top `pool`) / their standard deviation; zeros when they are all equal."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x
    top = np.sort(x)[::-1][: max(2, pool)]
    sd = float(top.std())
    if sd <= 1e-9:
        return np.zeros_like(x)
    return (x - float(top.mean())) / sd


def relative(x: np.ndarray) -> np.ndarray:
    """x relative to its maximum (0..1); zeros when nothing is positive."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0, None)
    best = float(x.max()) if len(x) else 0.0
    return x / best if best > 0 else np.zeros_like(x)


def fuse(c: Candidates, query_lang: str, params: FusionParams, lang_share: float = 1.0) -> np.ndarray:
    """The hybrid score of every candidate (higher is better).

    `lang_share` is the share of the collection written in the question's language.
    """
    if len(c.ids) == 0:
        return np.zeros(0)
    same_weight = params.same_lang * min(1.0, max(0.0, lang_share)) ** params.share_power
    dense = standardise(c.dense, params.pool)
    lex_z = standardise(c.lexical, params.pool)
    lex_rel = relative(c.lexical)
    unknown_q = query_lang in ("", "und")
    bonus = np.empty(len(c.ids), dtype=np.float64)
    for i, lang in enumerate(c.langs):
        if unknown_q or lang in ("", "und"):
            bonus[i] = params.unknown_lang * lex_z[i]
        elif lang == query_lang:
            bonus[i] = same_weight * lex_z[i]
        else:
            bonus[i] = params.other_lang * lex_rel[i]
    if c.names is not None and params.names:
        other = np.array([unknown_q or lang != query_lang for lang in c.langs])
        bonus += params.names * c.names * (1.0 if params.names_everywhere else other)
    translated = params.translated_alone if lang_share < params.alone_share else params.translated
    if c.translated is not None and translated:
        other = np.array([not unknown_q and lang not in ("", "und", query_lang) for lang in c.langs])
        bonus += translated * c.translated * other
    if c.identifiers is not None and params.identifier:
        bonus += params.identifier * c.identifiers
    if c.place is not None and params.place:
        bonus += params.place * c.place
    if c.country is not None and params.country:
        bonus += params.country * c.country
    return dense + bonus


def rrf(lists: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion of ranked id lists (kept as the measured baseline)."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for r, i in enumerate(ranked):
            scores[i] = scores.get(i, 0.0) + 1.0 / (k + r + 1)
    return scores
