"""How many chunks hold each analysed term, kept in Milvus as FTS5's vocabulary keeps it.

The lexical ranking (`bm25.py`) needs each query term's chunk count. Counting them by search
(one BM25 search per term, as many hits as Milvus returns) cost seconds per term at 100k chunks
(bench/RESULTS.md); the embedded index reads them from FTS5's vocabulary table. Here the `terms`
collection holds them: one row per term of the live chunks' `lex` (its FTS5 tokens, `bm25.tokens`)
with the number of live chunks holding it, read by primary key.

The hub's one writer changes the counts (`count`) while a document's `pending` record is set —
after its new chunks are written and its version flipped, before it publishes — so a killed
writer leaves them to the next, which recounts them from the live chunks (`recount`, in
`Writer.recover`). Between a writer's change and its publication readers may see counts a
document ahead of the registry: statistics, briefly off by one document, never left so.

An index built before this collection (no `term_counts` record in `meta`) gets it empty on open;
its first writer (`sihub ingest`, `sihub warm`, an upload) counts them once, and until then
readers count by search as before (`MilvusIndex.term_counts`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from . import bm25
from .milvus_client import BATCH, Collections
from .milvus_schema import PLACEHOLDER

KEY_MAX = 512
"""Longest term (UTF-8 bytes) kept as its own key; a longer one is keyed by its sha256."""


def term_key(term: str) -> str:
    """A term's primary key: the term, or for a very long one `#` and its sha256 (no analysed
    term holds a `#`, so the two never meet)."""
    if len(term.encode("utf-8")) <= KEY_MAX:
        return term
    return "#" + hashlib.sha256(term.encode("utf-8")).hexdigest()


def chunk_terms(lexes: Iterable[str]) -> Counter[str]:
    """Per term key, how many of these analysed chunk texts (`lex`) hold the term."""
    out: Counter[str] = Counter()
    for lex in lexes:
        out.update({term_key(t) for t in bm25.tokens(str(lex))})
    return out


class TermCounts:
    """The `terms` collection of one hub: reads for searches, writes for the hub's one writer."""

    def __init__(self, cols: Collections) -> None:
        self.cols = cols
        self.known: dict[str, int] = {}
        """The writer's copy of the counts it read or wrote: while it holds the lease no one
        else changes them, so a term met again costs no read."""

    def read(self, terms: list[str]) -> dict[str, int]:
        """Chunks holding each of these terms (FTS5 tokens), 0 for a term none holds."""
        keys = {t: term_key(t) for t in dict.fromkeys(terms)}
        got = {
            str(r["id"]): int(r["chunks"]) for r in self.cols.get("terms", list(set(keys.values())), ["id", "chunks"])
        }
        return {t: got.get(k, 0) for t, k in keys.items()}

    def count(self, added: Iterable[str], removed: Iterable[str]) -> None:
        """Add the terms of chunks added and take those of chunks removed (their `lex`)."""
        delta = chunk_terms(added)
        delta.subtract(chunk_terms(removed))
        delta = Counter({k: n for k, n in delta.items() if n})
        if not delta:
            return
        unknown = [k for k in delta if k not in self.known]
        try:
            got = {str(r["id"]): int(r["chunks"]) for r in self.cols.get("terms", unknown, ["id", "chunks"])}
            self.known.update({k: got.get(k, 0) for k in unknown})
            new = {k: self.known[k] + n for k, n in delta.items()}
            self._write(new)
        except BaseException:
            self.known = {}  # some writes may have gone through: read them again
            raise
        self.known.update(new)

    def recount(self, lexes: Iterable[str]) -> None:
        """Make the counts those of these chunks (the live ones: after a killed writer, or once
        for an index built before the counts were kept)."""
        wanted = chunk_terms(lexes)
        have = {str(r["id"]): int(r["chunks"]) for r in self.cols.query("terms", "", ["id", "chunks"])}
        self._write(
            {**{k: 0 for k in have if k not in wanted}, **{k: n for k, n in wanted.items() if have.get(k) != n}}
        )

    def all(self) -> dict[str, int]:
        """Every stored count by key (for `consistency_problems`)."""
        return {str(r["id"]): int(r["chunks"]) for r in self.cols.query("terms", "", ["id", "chunks"])}

    def _write(self, counts: dict[str, int]) -> None:
        self.cols.upsert("terms", [{"id": k, "chunks": n, "v": PLACEHOLDER} for k, n in counts.items() if n > 0])
        gone = [k for k, n in counts.items() if n <= 0]
        for start in range(0, len(gone), BATCH):
            self.cols.delete("terms", ids=gone[start : start + BATCH])
