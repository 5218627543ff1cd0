"""What a Milvus reader holds between writes: the document registry and the language statistics.

Readers keep only chunks of the version the registry names for their document (`live`), so a
document being replaced shows whole, old or new. The registry is read again when the writer has
published a change (the `generation` record moved).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sihub.types import Document

from . import milvus_schema as ms
from .milvus_client import Collections


class Registry:
    """Documents by id and path, the chunk version readers see of each, per-language statistics."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.generation = -1
        self.docs: dict[int, Document] = {}
        self.vers: dict[int, int] = {}
        self.by_path: dict[str, int] = {}
        self.answered: set[int] = set()
        """Documents whose answer rows are in (`milvus_answers.py`)."""
        self.langs: dict[str, tuple[int, np.ndarray]] = {}
        """Per chunk language: number of chunks and the sum of their vectors (float64)."""
        self.tokens: dict[str, int] | None = {}
        """Per chunk language: the words of their analysed text (`lex`), for BM25's mean chunk
        length; None for statistics written before they were counted (`MilvusIndex` counts them)."""
        self.terms_counted = False
        """Whether the `terms` collection holds the chunk count of every term (`milvus_terms.py`);
        not yet in an index built before it, until a writer counts them."""

    def refresh(self, cols: Collections) -> bool:
        """Read the registry again if the writer published since; True when it did."""
        gen = int(cols.meta("generation") or 0)
        if gen == self.generation:
            return False
        rows = cols.query("documents", "", ["id", "path", "ver", "doc"])
        self.docs = {int(r["id"]): ms.row_doc(r) for r in rows}
        self.vers = {int(r["id"]): int(r["ver"]) for r in rows}
        self.by_path = {d.path: i for i, d in self.docs.items()}
        self.answered = {int(r["id"]) for r in rows if ms.row_answers(r)}
        stats = cols.meta("langs") or {}
        self.langs = {
            lang: (int(v["n"]), np.asarray(v["sum"], dtype=np.float64)) for lang, v in stats.items() if int(v["n"]) > 0
        }
        counted = all("tokens" in v for lang, v in stats.items() if lang in self.langs)
        self.tokens = {lang: int(stats[lang]["tokens"]) for lang in self.langs} if counted else None
        self.terms_counted = bool(cols.meta("term_counts"))
        self.generation = gen
        return True

    def live(self, doc_id: Any, ver: Any) -> bool:
        """Whether a chunk of `doc_id` at version `ver` is the one readers see."""
        return self.vers.get(int(doc_id)) == int(ver)

    def put(self, doc: Document, ver: int, answers: bool) -> None:
        assert doc.id is not None
        self.docs[doc.id] = copy(doc)
        self.vers[doc.id] = ver
        self.by_path[doc.path] = doc.id
        if answers:
            self.answered.add(doc.id)
        else:
            self.answered.discard(doc.id)

    def drop(self, doc: Document) -> None:
        assert doc.id is not None
        self.docs.pop(doc.id, None)
        self.vers.pop(doc.id, None)
        self.by_path.pop(doc.path, None)
        self.answered.discard(doc.id)

    def count(self, added: list[tuple[str, np.ndarray, str]], removed: list[tuple[str, np.ndarray, str]]) -> None:
        """Add chunks' (language, vector, analysed text) to the statistics and take others away.
        Statistics without word counts (`tokens` None) stay without until a writer recounts them."""
        for items, sign in ((added, 1), (removed, -1)):
            for lang, vec, lex in items:
                lang = str(lang)
                n, s = self.langs.get(lang, (0, np.zeros(self.dim, dtype=np.float64)))
                self.langs[lang] = (n + sign, s + sign * np.asarray(vec, dtype=np.float64))
                if self.tokens is not None:
                    self.tokens[lang] = self.tokens.get(lang, 0) + sign * len(str(lex).split())
        self.langs = {k: v for k, v in self.langs.items() if v[0] > 0}
        if self.tokens is not None:
            self.tokens = {k: self.tokens.get(k, 0) for k in self.langs}

    def langs_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {lang: {"n": n, "sum": [float(x) for x in s]} for lang, (n, s) in self.langs.items()}
        if self.tokens is not None:
            for lang in out:
                out[lang]["tokens"] = self.tokens.get(lang, 0)
        return out


def copy(doc: Document) -> Document:
    return Document(**{**doc.__dict__, "meta": dict(doc.meta), "langs": list(doc.langs)})
