"""Which passage of a document leads it in a search: the page with the fact, not the summary.

A search ranks passages, and several passages of one document often stand among the best: a
summary or introduction page that names the topic throughout, and the page where one sentence
gives what was asked. The fused score prefers the first (a passage's vector blends all it says).
Two rules reorder passages inside each document, never the documents themselves:

- `prefer_sentence_pages`: the passage whose best sentence is nearest the question leads, read
  from the sentence vectors the ingest stores for the answers;
- `prefer_fact_pages`: a passage holding the amount, date or figure the question asks for goes
  before a leading passage that holds none.
"""

from __future__ import annotations

import numpy as np

from sihub.index.embedder import Embedder
from sihub.types import Hit

from . import kinds
from .fusion import FusionParams
from .quote_cache import QuoteVectors
from .spans import quote_texts

# How many of the best candidates the two rules look at.
FACT_DEPTH = 50


def _documents(hits: list[Hit], scores: np.ndarray) -> list[list[int]]:
    """The documents with two or more passages among the `FACT_DEPTH` best: each one's
    positions in `hits`, best first."""
    by_doc: dict[str, list[int]] = {}
    for i in np.argsort(-scores, kind="stable")[:FACT_DEPTH]:
        by_doc.setdefault(hits[i].chunk.path, []).append(int(i))
    return [idx for idx in by_doc.values() if len(idx) > 1]


def prefer_sentence_pages(
    hits: list[Hit],
    scores: np.ndarray,
    qvec: np.ndarray,
    bias: np.ndarray,
    embedder: Embedder,
    vectors: QuoteVectors,
    params: FusionParams,
) -> np.ndarray:
    """Within each document, put the passage whose best sentence is nearest the question ahead
    of the document's best passage when that sentence's cosine (less its language's bias) beats
    the best passage's own best sentence by more than `params.sentence_margin`: a passage's
    vector blends all it says, so a summary page that names the topic throughout outranks the
    page where one sentence gives the fact. Only vectors the index stores are read (the ingest
    computes every quotable span's); documents keep their places, as in `prefer_fact_pages`."""
    if params.sentence_margin is None or len(hits) < 2:
        return scores
    scores = np.array(scores, dtype=np.float64)
    several = _documents(hits, scores)
    if not several:
        return scores
    wanted = [i for idx in several for i in idx]
    texts = {i: quote_texts(hits[i]) for i in wanted}
    found = iter(vectors.known(embedder, [t for i in wanted for t in texts[i]]))
    q = np.asarray(qvec, dtype=np.float32)
    best: dict[int, float] = {}
    for i in wanted:
        sims = [float(v @ q) for v in (next(found) for _ in texts[i]) if v is not None]
        if sims:
            best[i] = max(sims) - float(bias[i])
    for idx in several:
        lead = idx[0]
        if lead not in best:
            continue
        top = max((i for i in idx if i in best), key=lambda i: best[i])
        if top != lead and best[top] - best[lead] > params.sentence_margin:
            scores[top] = scores[lead] + 1e-6
    return scores


def prefer_fact_pages(hits: list[Hit], scores: np.ndarray, question: str, params: FusionParams) -> np.ndarray:
    """Within each document, put a passage that holds what the question asks for (an amount, a
    date, a figure: `kinds.asked`) ahead of the document's best passage when that one holds none
    and scores at most `params.fact_margin` above it: a summary page that names the topic gives
    way to the page with the fact. Documents keep their places: the fact passage takes its
    document's best score (a hair above), nothing else moves."""
    kind = kinds.asked(question) if params.fact_margin > 0 else None
    if kind is None or len(hits) < 2:
        return scores
    given = kinds.given_figures(question)
    scores = np.array(scores, dtype=np.float64)
    for idx in _documents(hits, scores):
        best = idx[0]

        def holds(i: int) -> bool:
            c = hits[i].chunk
            return kinds.offers(c.text, kind, f"{c.heading}\n{c.text}", given)

        if holds(best):
            continue
        fact = next((i for i in idx[1:] if scores[best] - scores[i] <= params.fact_margin and holds(i)), None)
        if fact is not None:
            scores[fact] = scores[best] + 1e-6
    return scores
