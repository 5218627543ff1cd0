"""The embedded index's SQLite file: the writer's connection, one read connection per thread,
read snapshots, write transactions, and the generation counter readers watch.

Every read runs inside one read transaction (a consistent snapshot); inside `pinned()` all reads
of the thread join the one transaction it holds (`Index.consistent`). `lock` guards the writer's
connection and what is kept in step with it (the FAISS vectors).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .folder import DB, write_failure
from .schema import migrate


class Database:
    """`sihub.db` of one index folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._local = threading.local()
        self.main = self._connect()
        migrate(self.main)
        self.data_version: int | None = None
        """SQLite's data_version when this process last looked (`changed`)."""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path / DB, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # No memory-mapped reads: the file's pages a process maps count in its resident memory
        # (up to the map's size, 215 MB of a 100k-chunk index after 100 questions), where pages
        # read into SQLite's own cache stay a few MB and the kernel keeps the file cached either
        # way. Search and ask times were the same both ways (bench/RESULTS.md, issue 22).
        return conn

    @property
    def is_pinned(self) -> bool:
        return bool(getattr(self._local, "pinned", 0))

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection of this thread, inside one read transaction (a consistent snapshot)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        if self.is_pinned:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def pinned(self) -> Iterator[sqlite3.Connection]:
        """One read transaction that every read of this thread joins until the block ends."""
        with self.read() as conn:
            self._local.pinned = 1
            try:
                yield conn
            finally:
                self._local.pinned = 0

    def current(self) -> sqlite3.Connection:
        """The connection whose state the vectors should follow: the thread's pinned snapshot
        inside `pinned()`, else the main connection (callers hold `lock`)."""
        return self._local.conn if self.is_pinned else self.main

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer's connection; a storage failure becomes one clear line."""
        db = self.main
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            _rollback(db)
            raise write_failure(self.path, exc) from exc
        except BaseException:
            _rollback(db)
            raise

    def generation(self, conn: sqlite3.Connection | None = None) -> int:
        """How many commits the index has had (at `conn`'s snapshot; the main connection's)."""
        conn = conn or self.main
        return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    @staticmethod
    def bump(db: sqlite3.Connection) -> None:
        """Count a commit (inside the caller's transaction)."""
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def changed(self) -> bool:
        """Whether another connection committed since the last look (and remember this one)."""
        version = self.main.execute("PRAGMA data_version").fetchone()[0]
        if version == self.data_version:
            return False
        self.data_version = version
        return True

    def meta(self, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.main.close()


def in_parts(values: list, size: int = 500) -> Iterator[tuple[list, str]]:
    """`values` in parts of `size`, each with the "?,?,…" of its `IN (…)` clause."""
    for start in range(0, len(values), size):
        part = list(values[start : start + size])
        yield part, ",".join("?" * len(part))


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends it by itself on some errors, e.g. disk full)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    """Write a meta record inside the caller's transaction."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


class SideFile:
    """A small SQLite file of its own (the gaps log, the answer votes): one connection a call,
    in one transaction, closed after; calls of this process one at a time. Subclasses give
    `SCHEMA`, the statements that make the tables when they are missing."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                conn.executescript(self.SCHEMA)
                with conn:
                    yield conn
            finally:
                conn.close()
