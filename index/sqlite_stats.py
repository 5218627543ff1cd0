"""The embedded index's statistics the ranking uses: per chunk language, how many chunks and the
sum of their vectors (`lang_vectors`, kept in the writer's transaction), read back as shares
and mean vectors, cached until the index changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from .sqlite_db import Database


class Statistics:
    """Per-language chunk counts and vector sums of one index."""

    def __init__(self, db: Database, state: Callable[[], Hashable]) -> None:
        self.db = db
        self._state = state  # what the cached values are keyed by (changes with every commit)
        self._cache: dict[str, tuple[Hashable, Any]] = {}

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        key = self._state()
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        self._cache[name] = (key, value)
        return value

    def language_shares(self) -> dict[str, float]:
        """Share of the chunks written in each language (cached until the index changes)."""

        def compute() -> dict[str, float]:
            with self.db.read() as conn:
                rows = conn.execute("SELECT lang, COUNT(*) FROM chunks GROUP BY lang").fetchall()
            total = sum(n for _, n in rows) or 1
            return {str(lang): n / total for lang, n in rows}

        return self._cached("shares", compute)

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        """Per chunk language: (number of chunks, mean of their vectors), cached until the index
        changes; empty while an older index waits for a writer to fill the sums in."""

        def compute() -> dict[str, tuple[int, np.ndarray]]:
            with self.db.read() as conn:
                state = conn.execute("SELECT value FROM meta WHERE key = 'lang_vectors'").fetchone()
                ready = bool(state) and state[0] == "ready"
                rows = conn.execute("SELECT lang, n, sum FROM lang_vectors").fetchall() if ready else []
            return {
                str(lang): (int(n), (np.frombuffer(blob, dtype=np.float64) / n).astype(np.float32))
                for lang, n, blob in rows
                if n > 0
            }

        return self._cached("means", compute)

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self.db.read() as conn:
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(docs), int(chunks)

    # ---- writing (inside the writer's transaction) -------------------------------------------

    @staticmethod
    def add(db: sqlite3.Connection, items: list[tuple[str, np.ndarray]], sign: int = 1) -> None:
        """Add (sign=-1: take away) chunk vectors to the per-language sums."""
        groups: dict[str, list[np.ndarray]] = {}
        for lang, vec in items:
            groups.setdefault(str(lang), []).append(np.asarray(vec, dtype=np.float64))
        for lang, vecs in groups.items():
            row = db.execute("SELECT n, sum FROM lang_vectors WHERE lang = ?", (lang,)).fetchone()
            n = (row[0] if row else 0) + sign * len(vecs)
            total = (np.frombuffer(row[1], dtype=np.float64) if row else 0.0) + sign * np.sum(vecs, axis=0)
            if n <= 0:
                db.execute("DELETE FROM lang_vectors WHERE lang = ?", (lang,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO lang_vectors (lang, n, sum) VALUES (?, ?, ?)",
                    (lang, n, np.asarray(total, dtype=np.float64).tobytes()),
                )

    @classmethod
    def fill(cls, db: sqlite3.Connection) -> None:
        """Sum every chunk's vector again (an index a migration left 'pending')."""
        db.execute("DELETE FROM lang_vectors")
        rows = db.execute("SELECT c.lang, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash")
        while batch := rows.fetchmany(10_000):
            cls.add(db, [(lang, np.frombuffer(v, dtype=np.float32)) for lang, v in batch])
        db.execute("UPDATE meta SET value = 'ready' WHERE key = 'lang_vectors'")

    @staticmethod
    def pending(db: sqlite3.Connection) -> bool:
        state = db.execute("SELECT value FROM meta WHERE key = 'lang_vectors'").fetchone()
        return bool(state) and state[0] == "pending"
