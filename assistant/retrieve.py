"""Retrieval: turn a question into ranked Hits from the index."""

from __future__ import annotations

from dataclasses import dataclass

from index.embedder import Embedder
from index.store import Index
from sihub.types import Hit


@dataclass
class Query:
    text: str
    lang: str = "und"


def search(index: Index, embedder: Embedder, query: Query, k: int = 10, mode: str = "dense") -> list[Hit]:
    """Dense search over FAISS (the foundation; hybrid ranking builds on it)."""
    if not query.text.strip() or k <= 0:
        return []
    if mode == "lexical":
        scored = index.search_lexical(query.text, k, query.lang)
        hits = index.hits_for(scored)
        for h in hits:
            h.lexical = h.score
        return hits
    qvec = embedder.embed_queries([query.text])[0]
    hits = index.hits_for(index.search_dense(qvec, k))
    for h in hits:
        h.dense = h.score
    return hits
