"""Hybrid ranking: calibrated dense and lexical scores, weighted by how much each can help.

Plain reciprocal-rank fusion treats the two lists alike, so on a cross-lingual question
the lexical list (matching only stray names and numbers) drags good dense hits down. Here
every candidate chunk (the union of both top lists) gets *both* scores — its cosine from
its stored vector and its BM25 from the FTS index — and the two are put on one scale per
question before they are added:

- dense: how far a chunk's cosine stands above the typical candidate, in units of the
  spread of the top candidates (so one model's compressed cosine range does not matter);
- lexical: the BM25 score relative to the best lexical score of the question, scaled by how
  much of the question's term weight the best match covers;
- the lexical weight of a chunk depends on whether it is written in the question's language:
  in the same language exact-word overlap is strong evidence; in another language only
  language-neutral tokens (names, acronyms, numbers) can match, so it counts much less.

All weights live in `FusionParams`; `bench/quality.py` measures them on the dev sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionParams:
    same_lang: float = 1.0
    """Weight of the calibrated lexical score for chunks in the question's language."""
    other_lang: float = 0.2
    """Weight for chunks in another language (only names, numbers, cognates can match there)."""
    unknown_lang: float = 0.5
    """Weight when the question's or the chunk's language is unknown (e.g. a bare name or code)."""
    dense_pool: int = 20
    """Dense scores are calibrated against this many best candidates."""


@dataclass
class Candidates:
    """Parallel arrays over the candidate chunks of one question."""

    ids: np.ndarray
    dense: np.ndarray
    """Cosine similarity with the question."""
    lexical: np.ndarray
    """BM25 (higher is better; 0 when no query term occurs in the chunk)."""
    langs: list[str]


def calibrate_dense(cos: np.ndarray, pool: int) -> np.ndarray:
    """(cos - median of the top pool) / (best - median): best = 1, typical top candidate = 0."""
    if len(cos) == 0:
        return cos
    top = np.sort(cos)[::-1][: max(2, pool)]
    mid = float(np.median(top))
    spread = float(top[0] - mid)
    if spread <= 1e-6:
        return np.zeros_like(cos)
    return (cos - mid) / spread


def calibrate_lexical(bm25: np.ndarray) -> np.ndarray:
    """BM25 relative to the question's best BM25 (0..1)."""
    if len(bm25) == 0:
        return bm25
    best = float(bm25.max())
    if best <= 0:
        return np.zeros_like(bm25)
    return np.clip(bm25, 0, None) / best


def lexical_weights(langs: list[str], query_lang: str, params: FusionParams) -> np.ndarray:
    out = np.empty(len(langs), dtype=np.float64)
    for i, lang in enumerate(langs):
        if query_lang in ("", "und") or lang in ("", "und"):
            out[i] = params.unknown_lang
        elif lang == query_lang:
            out[i] = params.same_lang
        else:
            out[i] = params.other_lang
    return out


def fuse(c: Candidates, query_lang: str, params: FusionParams) -> np.ndarray:
    """The hybrid score of every candidate (higher is better)."""
    if len(c.ids) == 0:
        return np.zeros(0)
    d = calibrate_dense(np.asarray(c.dense, dtype=np.float64), params.dense_pool)
    lex = calibrate_lexical(np.asarray(c.lexical, dtype=np.float64))
    return d + lexical_weights(c.langs, query_lang, params) * lex


def rrf(lists: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal-rank fusion of ranked id lists (kept as the measured baseline)."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for r, i in enumerate(ranked):
            scores[i] = scores.get(i, 0.0) + 1.0 / (k + r + 1)
    return scores
