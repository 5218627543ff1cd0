"""Vectors of quote units: read from the index, kept in memory (LRU), computed only when missing.

An extractive answer scores every quotable span of its passages (see `evidence.gather`) by
the cosine of the span's vector with the question's. The ingest computes the vector of every
span's text and stores it with the document (`index/answer_data.py`), so an answer reads
them back by the sha256 of the text it would embed; a text the index does not hold (a
document ingested before schema 4, a title changed since) is embedded then and remembered in
memory.

`repair` is `sihub warm`: it fills in the rows an index built before schema 4 lacks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sihub.index.answer_data import quote_key
from sihub.index.embedder import Embedder
from sihub.index.sync import answers_for

from .spans import document_quote_texts

# The per-index cache file of earlier versions (vectors now live in the index): removed by
# `ingest --rebuild` and `sihub warm`.
LEGACY_FILE = "quotes.sqlite"

log = logging.getLogger("sihub.quotes")

# Vectors kept in memory, about 1.4 kB each (~6 MB): an answer weighs a few hundred spans, and
# reading one back from the index is an indexed lookup (20,000 held 27 MB at 100k chunks for a
# hit rate the index's read matches; bench/RESULTS.md, issue 22).
REMEMBERED = 4_096


def remove_legacy_file(index: str | Path) -> None:
    """Delete the quote cache file an earlier version kept beside the index, if any."""
    base = Path(index) / LEGACY_FILE
    for p in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", p, exc)


class QuoteVectors:
    """Quote-unit vectors by text: an in-memory LRU in front of the attached index's stored ones.

    One per `Assistant` (`Assistant.vectors`), which attaches the index it opens. Keys are
    content addresses under the embedder's id, so whatever index answers, a vector is right.
    """

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._lru: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.index: Any = None
        self.embedded = 0
        """Texts this process sent to an embedder (for tests and benchmarks)."""

    def attach(self, index: Any) -> None:
        """Read stored vectors from `index` (an `Index`; None: none)."""
        self.index = index

    def clear(self) -> None:
        """Forget the in-memory vectors (the stored ones stay)."""
        with self._lock:
            self._lru.clear()

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        """Vectors of `texts` as `embedder.embed_passages` gives them: remembered, stored, or computed."""
        engine = str(getattr(embedder, "id", "?"))
        keys = [quote_key(t) for t in texts]
        got = self._lookup(engine, keys)
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        if missing:
            wanted = set(missing)
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k in wanted}
            vecs = np.asarray(embedder.embed_passages(list(todo.values())), dtype=np.float32)
            self.embedded += len(todo)
            got.update(self._remember(engine, dict(zip(todo, vecs, strict=True))))
        if not keys:
            return np.zeros((0, int(getattr(embedder, "dim", 0))), dtype=np.float32)
        return np.stack([got[k] for k in keys]).astype(np.float32)

    def known(self, embedder: Embedder, texts: list[str]) -> list[np.ndarray | None]:
        """Vectors of `texts` that are remembered or stored (None for the others): nothing is computed."""
        keys = [quote_key(t) for t in texts]
        got = self._lookup(str(getattr(embedder, "id", "?")), keys)
        return [got.get(k) for k in keys]

    def _lookup(self, engine: str, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The vectors of `keys` that are remembered, or stored in the index (then remembered)."""
        got: dict[bytes, np.ndarray] = {}
        with self._lock:
            for k in keys:
                v = self._lru.get((engine, k))
                if v is not None:
                    self._lru.move_to_end((engine, k))
                    got[k] = v
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        index = self.index
        if missing and index is not None and engine == index.manifest["embedder"]["id"]:
            got.update(self._remember(engine, index.quote_vectors(missing)))
        return got

    def _remember(self, engine: str, vecs: dict[bytes, np.ndarray]) -> dict[bytes, np.ndarray]:
        with self._lock:
            for k, v in vecs.items():
                self._lru[(engine, k)] = v
                self._lru.move_to_end((engine, k))
            while len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return vecs


# ---- repair (`sihub warm`) -------------------------------------------------------------------------


@dataclass
class WarmReport:
    documents: int = 0
    """Documents whose answer rows were filled in."""
    units: int = 0
    """Distinct quote units among them."""
    cached: int = 0
    """Of those, already in the index."""
    embedded: int = 0
    words_embedded: int = 0
    stopped: bool = False
    seconds: float = 0.0
    problem: str | None = None
    """Why nothing could be filled in, if so."""

    def summary(self) -> str:
        if not self.documents and not self.problem and not self.stopped:
            return f"nothing to fill in: the index holds what answers need ({self.seconds:.1f} s)"
        text = (
            f"{self.documents} documents filled in, {self.units} quote units: {self.cached} were stored, "
            f"{self.embedded} embedded; {self.words_embedded} words embedded ({self.seconds:.1f} s)"
        )
        if self.stopped:
            text += "; stopped early"
        if self.problem:
            text += f"; {self.problem}"
        return text


def repair(
    index: Any,
    embedder: Embedder,
    *,
    stop_event: threading.Event | None = None,
    progress: Callable[[int, int | None], Any] | None = None,
) -> WarmReport:
    """Fill in the answer rows (`index/answer_data.py`) of the documents of `index` (writable)
    that lack them, one document per transaction; stops between documents once `stop_event`
    is set. `progress(documents_done, documents_total)`."""
    t0 = time.perf_counter()
    report = WarmReport()
    todo = index.answers_missing()
    for path in todo:
        if stop_event is not None and stop_event.is_set():
            report.stopped = True
            break
        doc = index.document(path)
        if doc is None:
            continue
        data = answers_for(index, embedder, doc, index.chunks_of(path), document_quote_texts)
        if index.put_answers(path, data):
            report.documents += 1
            report.units += len(data.quotes)
            report.embedded += data.embedded
            report.cached += len(data.quotes) - data.embedded
            report.words_embedded += len(data.word_vectors)
        if progress:
            progress(report.documents, len(todo))
    if report.documents:
        index.prune_embeddings()
        index.save()
    report.seconds = time.perf_counter() - t0
    return report
