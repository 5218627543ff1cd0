"""The embedded index's FAISS vectors, kept in step with SQLite by generation.

SQLite holds every chunk's vector (the `embeddings` table, keyed by the chunk text's hash) and
counts its commits (`meta.generation`). FAISS is a cache of those vectors in memory, saved
atomically as `vectors-<generation>.faiss`; when the newest file lags the database (a crash
between the two, another process's commits), `reconcile` adds and removes ids until FAISS
holds exactly the chunk ids SQLite holds. The FAISS index type follows the size (`vectors.choose`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .folder import fsync_dir, write_manifest, writing
from .sqlite_db import Database, in_parts
from .vectors import FLAT, VectorIndex, VectorSpec, choose


class VectorGenerations:
    """The FAISS index of one folder and the generation of SQLite it holds."""

    def __init__(self, path: Path, db: Database, dim: int, manifest: dict[str, Any]) -> None:
        self.path = path
        self.db = db
        self.dim = dim
        self.manifest = manifest
        self.index = VectorIndex(dim)
        self.generation = -1
        """The SQLite generation the vectors in memory stand for."""
        self.retyped = False

    @property
    def spec(self) -> VectorSpec:
        return self.index.spec

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def files(self) -> list[tuple[int, Path]]:
        """(generation, path) of the FAISS files in the folder, oldest first."""
        out = []
        for p in self.path.glob("vectors-*.faiss"):
            try:
                out.append((int(p.stem.split("-", 1)[1]), p))
            except ValueError:
                continue
        return sorted(out)

    def load(self) -> None:
        """Read the newest FAISS file, then bring it to the database's generation."""
        with self.db.lock:
            files = self.files()
            gen = self.db.generation()
            if files:
                fgen, fpath = files[-1]
                loaded = VectorIndex.read(str(fpath), self.dim)
                if loaded is not None:
                    recorded = VectorSpec.from_json(self.manifest.get("vectors"))
                    if recorded.type == loaded.spec.type and recorded.type != FLAT:
                        loaded.spec = recorded  # keeps trained_on, nprobe as chosen
                    self.index = loaded
                    self.generation = fgen
            if self.generation != gen:
                self.reconcile()
            self.db.changed()

    def reconcile(self) -> None:
        """Make the FAISS ids equal the chunk ids in SQLite, adding stored vectors as needed."""
        db = self.db.main
        with self.db.lock:
            db.execute("BEGIN")
            try:
                gen = self.db.generation(db)
                db_ids = np.array([r[0] for r in db.execute("SELECT id FROM chunks")], dtype=np.int64)
                have = self.index.ids()
                extra = np.setdiff1d(have, db_ids, assume_unique=True)
                missing = np.setdiff1d(db_ids, have, assume_unique=True)
                if len(have) == 0 and len(missing):
                    # Nothing loaded (first open, or the FAISS file lost): build the type the
                    # size calls for, straight from the stored vectors.
                    spec = choose(len(missing), VectorSpec.from_json(self.manifest.get("vectors")))
                    self.index = VectorIndex.build(self.dim, spec, missing, self.stored_batches)
                    self.retyped = True
                else:
                    self.index.remove(extra)
                    for part_ids, vecs in self.stored_batches(missing):
                        self.index.add(part_ids, vecs)
                self.generation = gen
            finally:
                db.execute("COMMIT")

    def stored_batches(self, ids: np.ndarray, size: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(chunk ids, float32 vectors) from the embedding table, `size` ids at a time.

        Always read through the main connection at its latest state: this rebuilds FAISS to the
        newest generation, even when called from inside a reader's pinned (older) snapshot.
        """
        for start in range(0, len(ids), size):
            found, vecs = self.stored(np.asarray(ids[start : start + size]).tolist(), self.db.main)
            if len(found):
                yield found, vecs

    def stored(self, ids: list[int], conn: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The stored float32 vectors of these chunk ids (those that exist), for exact scoring.

        Called with the database's lock held; inside a pinned read it reads the thread's
        snapshot unless a connection is given.
        """
        if conn is None:
            conn = self.db.current()
        rows = []
        for part, marks in in_parts(ids, 30_000):
            rows += conn.execute(
                f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash WHERE c.id IN ({marks})", part
            ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        found = np.array([r[0] for r in rows], dtype=np.int64)
        return found, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)

    def search(
        self, query: np.ndarray, k: int, ids: np.ndarray | None = None, nprobe: int | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine), reranked exactly from the stored vectors."""
        with self.db.lock:
            return self.index.search(query, k, ids, exact=self.stored, nprobe=nprobe)

    def copies(self, ids: list[int]) -> np.ndarray | None:
        """The vectors of these chunk ids from FAISS, where it holds them as stored (a flat
        index holding every one of them), else None (`VectorIndex.copies`)."""
        with self.db.lock:
            return self.index.copies(np.asarray(ids, dtype=np.int64))

    def add(self, ids: list[int], vecs: np.ndarray) -> None:
        self.index.add(np.array(ids, dtype=np.int64), vecs)

    def remove(self, ids: list[int]) -> None:
        self.index.remove(np.array(ids, dtype=np.int64))

    def _fit(self) -> None:
        """Switch the FAISS index type when the size calls for another one (writer only)."""
        spec = choose(self.index.ntotal, self.index.spec)
        if spec == self.index.spec and not self.retyped:
            return
        if spec != self.index.spec:
            ids = self.index.ids()
            self.index = VectorIndex.build(self.dim, spec, np.sort(ids), self.stored_batches)
        self.manifest["vectors"] = self.index.spec.to_json()
        write_manifest(self.path, self.manifest)

    def save(self) -> None:
        """Write the FAISS file for the current generation (atomically) and drop older ones."""
        with self.db.lock:
            gen = self.db.generation()
            target = self.path / f"vectors-{gen}.faiss"
            retyped = self.retyped or choose(self.index.ntotal, self.index.spec) != self.index.spec
            if retyped:
                with writing(self.path):
                    self._fit()
            if retyped or not target.exists():
                tmp = self.path / f".vectors-{gen}.{os.getpid()}.tmp"
                try:
                    with writing(self.path):
                        self.index.write(str(tmp))
                        with open(tmp, "rb") as fh:
                            os.fsync(fh.fileno())
                        os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
                fsync_dir(self.path)
                self.retyped = False
            for g, p in self.files():
                if g != gen:
                    p.unlink(missing_ok=True)
