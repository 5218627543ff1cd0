"""A persistent embedding cache in front of an embedder, shared by throw-away indexes.

`sihub eval` builds a fresh index per evaluation set, and many sets share the same
documents (the same articles in five languages, the same paragraphs behind two query
languages). Wrapping the embedder in `CachedEmbedder` means each distinct text goes
through the model once, ever: vectors are kept in one SQLite file per embedder id,
keyed by the sha256 of the prompt kind and the text.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from pathlib import Path

import numpy as np

from .embedder import Embedder


def cache_path(folder: Path, embedder_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_id).strip("_")
    return Path(folder) / f"embeddings-{safe}.sqlite"


class CachedEmbedder:
    """An Embedder that looks every text up in an SQLite file before asking the model."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.exact_batches = bool(getattr(inner, "exact_batches", False))
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _cached(self, kind: str, texts: list[str], encode) -> np.ndarray:  # noqa: ANN001
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [hashlib.sha256(f"{kind}\0{t}".encode()).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            uniq = list(dict.fromkeys(keys))
            for start in range(0, len(uniq), 500):
                part = uniq[start : start + 500]
                q = f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(part))})"
                for key, blob in self._db.execute(q, part):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == self.dim:
                        found[key] = vec
        todo = {k: t for k, t in zip(keys, texts, strict=False) if k not in found}
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            mat = encode(list(todo.values()))
            rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in zip(todo, mat, strict=False)]
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", rows)
            for k, v in zip(todo, mat, strict=False):
                found[k] = np.asarray(v, dtype=np.float32)
        return np.ascontiguousarray(np.stack([found[k] for k in keys]), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._cached("query", list(texts), self.inner.embed_queries)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._cached("passage", list(texts), self.inner.embed_passages)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)
