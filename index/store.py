"""The on-disk index: a folder with `manifest.json`, a FAISS file and an SQLite database.

SQLite is the source of truth: documents, chunks, the embedding of every chunk text (keyed by
its hash) and the lexical index, all changed in one transaction per document. The FAISS file
is a cache of the vectors, saved atomically as `vectors-<generation>.faiss`; when it lags the
database (a crash between the two), opening the index reconciles it from the stored vectors.
So a crash at any moment leaves the last committed state, readable.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sihub import __version__
from sihub.errors import IndexLockedError, IndexMismatchError, IndexMissingError, SihubError
from sihub.types import Chunk, Document, Hit

from . import answer_data, bm25, lexical
from .answer_data import AnswerData
from .schema import SCHEMA_VERSION, migrate
from .vectors import FLAT, VectorIndex, VectorSpec, choose

T = TypeVar("T")

MANIFEST = "manifest.json"
DB = "sihub.db"
LOCK = "write.lock"

# The lexical search's budget: when the query's terms are held by more chunks than this in all
# (FTS5 would rank every one of them), the rarest terms within it choose the candidates, and
# LEXICAL_CANDIDATES x k of those, scored on the whole query, give the top k (`search_lexical`).
# Measured at 100k chunks against exact FTS5 ranking, 100 mixed-language questions (bench/RESULTS.md,
# issue 22): budget 5,000 kept 0.90 of the top 10 and 0.66 of the top 100; 20,000 kept 1.00 and
# 0.97; 50,000 is exact for most questions there. An index under ~20,000 chunks is always exact.
LEXICAL_POSTINGS = 20_000
LEXICAL_CANDIDATES = 2

_CHUNK_COLS = 'c.id, c.doc_id, c.ord, c.page, c.heading, c.lang, c.start, c."end", c.ocr, c.text, c.hash'


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_failure(path: Path, exc: BaseException) -> SihubError:
    """One clear line for a write to the index folder that failed (disk full, read-only, no permission)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    low = text.lower()
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or any(
        w in low for w in ("disk is full", "no space", "file too large", "quota")
    ):
        reason = "disk full (no space left for the index); free some space and run the ingest again"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
        w in low for w in ("readonly", "read-only", "permission denied")
    ):
        reason = "the folder is read-only or permission is denied"
    elif "disk i/o error" in low:
        reason = "disk I/O error (is the disk full?)"
    else:
        reason = (text.splitlines() or [type(exc).__name__])[0][:200]
    return SihubError(f"cannot write to the index at {path}: {reason}")


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write (SQLite, FAISS, the file system) into one SihubError line."""
    try:
        yield
    except SihubError:
        raise
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        raise _write_failure(path, exc) from exc


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends it by itself on some errors, e.g. disk full)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class Index:
    """Documents, chunks and vectors of one folder. Open with `Index.open`."""

    def __init__(self, path: Path, manifest: dict[str, Any], writable: bool) -> None:
        self.path = path
        self.manifest = manifest
        self.dim = int(manifest["embedder"]["dim"])
        self.writable = writable
        self._lock = threading.RLock()
        self._local = threading.local()
        self._lock_fh = None
        if writable:
            self._acquire_write_lock()
        self._db = self._connect()
        migrate(self._db)
        if writable:
            self._upgrade()
        self._vectors = VectorIndex(self.dim)
        self._retyped = False
        self._generation = -1
        self._data_version = None
        self._load_vectors()

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        embedder_id: str,
        dim: int | None = None,
        chunker: dict[str, Any] | None = None,
        writable: bool = False,
        create: bool = False,
    ) -> Index:
        """Open (or with `create`, make) the index at `path` for the given embedder.

        Raises IndexMismatchError when the folder was built with another embedder or schema,
        IndexMissingError when there is none and `create` is false.
        """
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.exists():
            if not create:
                raise IndexMissingError(f"no index at {path}: run `sihub ingest corpus/` (or --index DIR) first")
            if dim is None:
                raise SihubError("creating an index needs the embedder dimension")
            manifest = {
                "schema": SCHEMA_VERSION,
                "sihub": __version__,
                "embedder": {"id": embedder_id, "dim": int(dim)},
                "chunker": chunker or {},
                "lexical": lexical.ANALYZER_VERSION,
                "vectors": {"type": "flat-ip"},
                "created_at": _now(),
            }
            with _writing(path):
                path.mkdir(parents=True, exist_ok=True)
                write_atomic(mpath, json.dumps(manifest, indent=2).encode())
        else:
            try:
                manifest = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise IndexMismatchError(
                    f"index manifest {mpath} is unreadable ({exc}): run `sihub ingest --rebuild PATH...`"
                ) from exc
            cls.check_manifest(manifest, path, embedder_id, chunker if writable else None, reanalyse=writable)
        return cls(path, manifest, writable)

    @staticmethod
    def check_manifest(
        manifest: dict[str, Any],
        path: Path,
        embedder_id: str,
        chunker: dict[str, Any] | None,
        reanalyse: bool = False,
    ) -> None:
        """Raise IndexMismatchError when the index at `path` was built in a way this sihub cannot
        read. With `reanalyse` (a writer), another lexical analyzer is allowed: the writer
        re-analyses the stored passages when it opens the index (`_upgrade`)."""
        fix = f"run `sihub ingest --rebuild --index {path} PATH...`"
        schema = manifest.get("schema")
        if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:  # older ones migrate on open
            raise IndexMismatchError(
                f"index at {path} has schema {manifest.get('schema')}, this sihub reads schema {SCHEMA_VERSION}: {fix}"
            )
        built = manifest.get("embedder", {}).get("id")
        if built != embedder_id:
            raise IndexMismatchError(
                f"index at {path} was built with embedder {built!r}, settings ask for {embedder_id!r}: {fix}"
            )
        if manifest.get("lexical") != lexical.ANALYZER_VERSION and not reanalyse:
            raise IndexMismatchError(
                f"index at {path} has lexical analyzer {manifest.get('lexical')!r}, "
                f"this sihub uses {lexical.ANALYZER_VERSION!r}: run `sihub ingest --index {path} PATH...` "
                "(it re-analyses the stored passages, no model work)"
            )
        if chunker is not None and manifest.get("chunker") != chunker:
            raise IndexMismatchError(
                f"index at {path} was cut with chunker settings {manifest.get('chunker')}, "
                f"settings ask for {chunker}: {fix}"
            )

    @staticmethod
    def destroy(path: str | Path) -> None:
        """Remove an index folder's files (for `--rebuild`); other files are left alone.

        Refused with IndexLockedError while another process writes to the index.
        """
        path = Path(path)
        if not path.exists():
            return
        with _writing(path), open(path / LOCK, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise IndexLockedError(
                    f"another ingest is writing to {path} ({holder}); wait for it to finish"
                ) from None
            for name in os.listdir(path):
                if name in (MANIFEST, DB, f"{DB}-wal", f"{DB}-shm") or name.startswith("vectors-"):
                    (path / name).unlink(missing_ok=True)

    def _acquire_write_lock(self) -> None:
        with _writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            fh = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise IndexLockedError(
                f"another ingest is writing to {self.path} ({holder}); wait for it to finish"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._lock_fh = fh
        # Temporary files of a writer that was killed mid-save: only a lock holder writes them.
        for stale in [*self.path.glob(".vectors-*.tmp"), *self.path.glob(f".{MANIFEST}.*.tmp")]:
            stale.unlink(missing_ok=True)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer's connection; a storage failure becomes one clear line."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            _rollback(db)
            raise _write_failure(self.path, exc) from exc
        except BaseException:
            _rollback(db)
            raise

    def _upgrade(self) -> None:
        """After the migrations (writer only): fill tables a migration left pending, record the schema."""
        state = self._db.execute("SELECT value FROM meta WHERE key = 'lang_vectors'").fetchone()
        if state and state[0] == "pending":
            with self._lock, self._transaction() as db:
                db.execute("DELETE FROM lang_vectors")
                rows = db.execute("SELECT c.lang, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash")
                while batch := rows.fetchmany(10_000):
                    items = [(lang, np.frombuffer(v, dtype=np.float32)) for lang, v in batch]
                    self._add_lang_vectors(db, items)
                db.execute("UPDATE meta SET value = 'ready' WHERE key = 'lang_vectors'")
        if self.manifest.get("lexical") != lexical.ANALYZER_VERSION:
            self._reanalyse()
        if self.manifest.get("schema") != SCHEMA_VERSION or self.manifest.get("lexical") != lexical.ANALYZER_VERSION:
            self.manifest["schema"] = SCHEMA_VERSION
            self.manifest["lexical"] = lexical.ANALYZER_VERSION
            write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2).encode())

    def _reanalyse(self) -> None:
        """Fill the lexical index again from the stored passages with this sihub's analyzer (an
        index built by an older one): one transaction, no model work."""
        with self._lock, self._transaction() as db:
            db.execute("DELETE FROM chunks_fts")
            rows = db.execute("SELECT id, heading, text, lang FROM chunks")
            while batch := rows.fetchmany(5_000):
                db.executemany(
                    "INSERT INTO chunks_fts (rowid, lex) VALUES (?, ?)",
                    [(i, lexical.analyze(f"{heading}\n{text}", lang)) for i, heading, text, lang in batch],
                )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path / DB, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA mmap_size=268435456")
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection of this thread, inside one read transaction (a consistent snapshot).

        Inside `consistent()` every read of the thread joins the one transaction it holds.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        if getattr(self._local, "pinned", 0):
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def consistent(self, read: Callable[[], T], attempts: int = 5) -> T:
        """Run `read()` (searches, then fetching the hits) against one committed state.

        SQLite reads of this thread share one snapshot, and the result is kept only if the
        FAISS vectors were at that snapshot's generation from start to end; when another
        process committed in between, it runs again. Readers so see a document's old or new
        chunks, never none or a mix, while an ingest replaces it.
        """
        if getattr(self._local, "pinned", 0):
            return read()
        result: T
        for _ in range(attempts):
            self.refresh()
            with self._read() as conn:
                self._local.pinned = 1
                try:
                    gen = self._db_generation(conn)
                    if gen != self._generation:
                        continue
                    result = read()
                    if self._generation == gen:
                        return result
                finally:
                    self._local.pinned = 0
        return read()

    def close(self) -> None:
        with self._lock:
            try:
                if self.writable:
                    self.save()
            finally:
                self._db.close()
                if self._lock_fh:
                    fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
                    self._lock_fh.close()
                    self._lock_fh = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- vectors ---------------------------------------------------------------------------

    def _db_generation(self, conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def _vector_files(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.path.glob("vectors-*.faiss"):
            try:
                out.append((int(p.stem.split("-", 1)[1]), p))
            except ValueError:
                continue
        return sorted(out)

    def _load_vectors(self) -> None:
        with self._lock:
            files = self._vector_files()
            gen = self._db_generation(self._db)
            if files:
                fgen, fpath = files[-1]
                loaded = VectorIndex.read(str(fpath), self.dim)
                if loaded is not None:
                    recorded = VectorSpec.from_json(self.manifest.get("vectors"))
                    if recorded.type == loaded.spec.type and recorded.type != FLAT:
                        loaded.spec = recorded  # keeps trained_on, nprobe as chosen
                    self._vectors = loaded
                    self._generation = fgen
            if self._generation != gen:
                self._reconcile()
            self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]

    def _reconcile(self) -> None:
        """Make the FAISS ids equal the chunk ids in SQLite, adding stored vectors as needed."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                gen = self._db_generation(self._db)
                db_ids = np.array([r[0] for r in self._db.execute("SELECT id FROM chunks")], dtype=np.int64)
                have = self._vectors.ids()
                extra = np.setdiff1d(have, db_ids, assume_unique=True)
                missing = np.setdiff1d(db_ids, have, assume_unique=True)
                if len(have) == 0 and len(missing):
                    # Nothing loaded (first open, or the FAISS file lost): build the type the
                    # size calls for, straight from the stored vectors.
                    spec = choose(len(missing), VectorSpec.from_json(self.manifest.get("vectors")))
                    self._vectors = VectorIndex.build(self.dim, spec, missing, self._stored_batches)
                    self._retyped = True
                else:
                    self._vectors.remove(extra)
                    for part_ids, vecs in self._stored_batches(missing):
                        self._vectors.add(part_ids, vecs)
                self._generation = gen
            finally:
                self._db.execute("COMMIT")

    def _stored_batches(self, ids: np.ndarray, size: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(chunk ids, float32 vectors) from the embedding table, `size` ids at a time.

        Always read through the main connection at its latest state: this rebuilds FAISS to the
        newest generation, even when called from inside a reader's pinned (older) snapshot.
        """
        for start in range(0, len(ids), size):
            found, vecs = self._stored_vectors(np.asarray(ids[start : start + size]).tolist(), self._db)
            if len(found):
                yield found, vecs

    def _stored_vectors(self, ids: list[int], conn: sqlite3.Connection | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The stored float32 vectors of these chunk ids (those that exist), for exact scoring.

        Called with `self._lock` held; inside `consistent()` it reads the thread's snapshot
        unless a connection is given.
        """
        if conn is None:
            conn = self._local.conn if getattr(self._local, "pinned", 0) else self._db
        rows = []
        for part, marks in _in_parts(ids, 30_000):
            rows += conn.execute(
                f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash WHERE c.id IN ({marks})", part
            ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        found = np.array([r[0] for r in rows], dtype=np.int64)
        return found, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)

    def _fit_vectors(self) -> None:
        """Switch the FAISS index type when the size calls for another one (writer only)."""
        spec = choose(self._vectors.ntotal, self._vectors.spec)
        if spec == self._vectors.spec and not self._retyped:
            return
        if spec != self._vectors.spec:
            ids = self._vectors.ids()
            self._vectors = VectorIndex.build(self.dim, spec, np.sort(ids), self._stored_batches)
        self.manifest["vectors"] = self._vectors.spec.to_json()
        write_atomic(self.path / MANIFEST, json.dumps(self.manifest, indent=2).encode())

    def refresh(self) -> bool:
        """Pick up commits made by another process (e.g. an ingest while serving). True if changed."""
        if self.writable:
            return False
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return False
            self._data_version = version
            if self._db_generation(self._db) == self._generation:
                return False
            self._reconcile()
            return True

    def save(self) -> None:
        """Write the FAISS file for the current generation (atomically) and drop older ones."""
        if not self.writable:
            return
        with self._lock:
            gen = self._db_generation(self._db)
            target = self.path / f"vectors-{gen}.faiss"
            retyped = self._retyped or choose(self._vectors.ntotal, self._vectors.spec) != self._vectors.spec
            if retyped:
                with _writing(self.path):
                    self._fit_vectors()
            if retyped or not target.exists():
                tmp = self.path / f".vectors-{gen}.{os.getpid()}.tmp"
                try:
                    with _writing(self.path):
                        self._vectors.write(str(tmp))
                        with open(tmp, "rb") as fh:
                            os.fsync(fh.fileno())
                        os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
                _fsync_dir(self.path)
                self._retyped = False
            for g, p in self._vector_files():
                if g != gen:
                    p.unlink(missing_ok=True)

    # ---- writing ---------------------------------------------------------------------------

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored embeddings for these chunk hashes (the embedding cache)."""
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        with self._read() as conn:
            for part, marks in _in_parts(hashes):
                for h, blob in conn.execute(f"SELECT hash, vec FROM embeddings WHERE hash IN ({marks})", part):
                    out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: AnswerData | None = None
    ) -> Document:
        """Insert or replace a document with its chunks (and what answers need of them, when
        given: `answer_data.py`) in one transaction, then update FAISS."""
        self._require_writable()
        with self._lock:
            with self._transaction() as db:
                # A replaced document keeps its id: links to /files/{id} stay valid.
                old_id, old_ids = self._delete_doc_rows(db, doc.path)
                cur = db.execute(
                    "INSERT INTO documents (id, path, title, lang, langs, pages, sha256, size, mtime, meta, ingested_at, reader) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        old_id,
                        doc.path,
                        doc.title,
                        doc.lang,
                        json.dumps(doc.langs),
                        doc.pages,
                        doc.sha256,
                        doc.size,
                        doc.mtime,
                        json.dumps(doc.meta, ensure_ascii=False),
                        _now(),
                        doc.reader,
                    ),
                )
                doc_id = int(cur.lastrowid)
                db.executemany(
                    "INSERT OR IGNORE INTO embeddings (hash, vec) VALUES (?, ?)",
                    [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()],
                )
                new_ids: list[int] = []
                for c in chunks:
                    cur = db.execute(
                        'INSERT INTO chunks (doc_id, ord, page, heading, lang, start, "end", ocr, text, hash) '
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (doc_id, c.ord, c.page, c.heading, c.lang, c.start, c.end, int(c.ocr), c.text, c.hash),
                    )
                    c.id, c.doc_id = int(cur.lastrowid), doc_id
                    new_ids.append(c.id)
                    db.execute(
                        "INSERT INTO chunks_fts (rowid, lex) VALUES (?, ?)",
                        (c.id, lexical.analyze(f"{c.heading}\n{c.text}", c.lang)),
                    )
                self._add_lang_vectors(db, [(c.lang, vectors[c.hash]) for c in chunks])
                if answers is not None:
                    answer_data.add(db, doc_id, answers)
                self._bump(db)
            if old_ids:
                self._vectors.remove(np.array(old_ids, dtype=np.int64))
            if chunks:
                mat = np.stack([vectors[c.hash] for c in chunks]).astype(np.float32)
                self._vectors.add(np.array(new_ids, dtype=np.int64), mat)
            self._generation = self._db_generation(self._db)
            doc.id, doc.chunks = doc_id, len(chunks)
            return doc

    @property
    def base(self) -> Path | None:
        """The folder the documents' relative paths are relative to (see `set_base`), if recorded."""
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'base'").fetchone()
        return Path(row[0]) if row else None

    def set_base(self, folder: Path) -> None:
        """Record the folder relative document paths are rooted in (the first ingest's working
        folder), so readers started elsewhere find the files."""
        self._require_writable()
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('base', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(Path(folder).resolve()),),
            )

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """Change a document's catalogue fields (and file mtime) without touching its chunks."""
        self._require_writable()
        with self._lock, self._transaction() as db:
            db.execute(
                "UPDATE documents SET meta = ?, mtime = COALESCE(?, mtime) WHERE path = ?",
                (json.dumps(meta, ensure_ascii=False), mtime, path),
            )
            self._bump(db)

    def remove_document(self, path: str) -> bool:
        self._require_writable()
        with self._lock:
            with self._transaction() as db:
                exists = db.execute("SELECT 1 FROM documents WHERE path = ?", (path,)).fetchone()
                _, ids = self._delete_doc_rows(db, path)
                if exists:
                    self._bump(db)
            if ids:
                self._vectors.remove(np.array(ids, dtype=np.int64))
            self._generation = self._db_generation(self._db)
            return bool(exists)

    def prune_embeddings(self) -> int:
        """Drop cached embeddings no chunk uses any more (after renames and removals)."""
        self._require_writable()
        with self._lock, _writing(self.path):
            cur = self._db.execute("DELETE FROM embeddings WHERE hash NOT IN (SELECT hash FROM chunks)")
            answer_data.prune(self._db)
            return cur.rowcount

    def put_answers(self, path: str, answers: AnswerData) -> bool:
        """Store what answers need of a document already indexed (`sihub warm` on an index built
        before schema 4), replacing what it had; False when the document is gone."""
        self._require_writable()
        with self._lock, self._transaction() as db:
            row = db.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
            if not row:
                return False
            answer_data.remove(db, row[0])
            answer_data.add(db, row[0], answers)
            self._bump(db)
        self._generation = self._db_generation(self._db)
        return True

    def _delete_doc_rows(self, db: sqlite3.Connection, path: str) -> tuple[int | None, list[int]]:
        """Delete a document's rows; returns its id and its chunks' ids (None, [] if there was none)."""
        row = db.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
        if not row:
            return None, []
        ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (row[0],))]
        answer_data.remove(db, row[0])
        old = db.execute(
            "SELECT c.lang, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash WHERE c.doc_id = ?", (row[0],)
        ).fetchall()
        self._add_lang_vectors(db, [(lang, np.frombuffer(v, dtype=np.float32)) for lang, v in old], sign=-1)
        db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (row[0],))
        db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
        return row[0], ids

    def _add_lang_vectors(self, db: sqlite3.Connection, items: list[tuple[str, np.ndarray]], sign: int = 1) -> None:
        """Add (sign=-1: take away) chunk vectors to the per-language sums, inside the caller's transaction."""
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

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _require_writable(self) -> None:
        if not self.writable:
            raise SihubError("index opened read-only")

    # ---- reading ---------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """How many commits the index had when this process last looked (`refresh`)."""
        return self._generation

    # Answer data (quote and word vectors) is stored at ingest (`answer_data.py`).
    stores_answers = True

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Stored vectors of quote texts by `answer_data.quote_key` (those found)."""
        with self._read() as conn:
            return answer_data.quote_vectors(conn, list(dict.fromkeys(keys)), self.dim)

    def known_words(self, words: list[str]) -> set[str]:
        """Which of `words` have a stored vector."""
        with self._read() as conn:
            return answer_data.known_words(conn, words)

    def word_counts(self) -> list[tuple[str, str, int]]:
        """(language, word, chunks holding it) of the index's words, each language's most
        frequent first (ties alphabetical)."""
        with self._read() as conn:
            rows = conn.execute("SELECT lang, word, chunks FROM words ORDER BY lang, chunks DESC, word").fetchall()
        return [(str(lang), str(w), int(n)) for lang, w, n in rows]

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of `words` (those found)."""
        out: dict[str, np.ndarray] = {}
        with self._read() as conn:
            for part, marks in _in_parts(words):
                for w, blob in conn.execute(f"SELECT word, vec FROM word_vectors WHERE word IN ({marks})", part):
                    if len(blob) == self.dim * 4:
                        out[str(w)] = np.frombuffer(blob, dtype=np.float32)
        return out

    def answers_missing(self) -> list[str]:
        """Paths of the documents whose answer rows are not in (ingested before schema 4)."""
        with self._read() as conn:
            return [str(r[0]) for r in conn.execute("SELECT path FROM documents WHERE answers = 0 ORDER BY path")]

    @property
    def size(self) -> int:
        return int(self._vectors.ntotal)

    def documents(self) -> list[Document]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT d.id, d.path, d.title, d.lang, d.langs, d.pages, d.sha256, d.size, d.mtime, d.meta, "
                "d.ingested_at, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id), d.reader "
                "FROM documents d ORDER BY d.path"
            ).fetchall()
        return [_row_to_doc(r) for r in rows]

    def document(self, path: str) -> Document | None:
        with self._read() as conn:
            r = conn.execute(
                "SELECT d.id, d.path, d.title, d.lang, d.langs, d.pages, d.sha256, d.size, d.mtime, d.meta, "
                "d.ingested_at, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id), d.reader "
                "FROM documents d WHERE d.path = ?",
                (path,),
            ).fetchone()
        return _row_to_doc(r) if r else None

    def chunks_of(self, path: str) -> list[Chunk]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_CHUNK_COLS}, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE d.path = ? ORDER BY c.ord",
                (path,),
            ).fetchall()
        return [_row_to_chunk(r) for r in rows]

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        """(language, heading and text) of every chunk, in index order, read `page` chunks at a
        time (an index of 100k chunks is not held in memory at once)."""
        self.refresh()
        last = -1
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT id, lang, heading, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, page)
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield str(r[1]), f"{r[2]}\n{r[3]}"
            last = int(rows[-1][0])

    def neighbours(self, chunks: list[Chunk], reach: int = 1) -> list[Chunk]:
        """The `reach` chunks before and after each of `chunks` in its document, in the order of
        `chunks`, each once. A search hit may be several consecutive chunks joined into one
        passage (`retrieve.merge_adjacent`): its neighbours are those beside the whole passage,
        and no chunk whose text lies inside one of `chunks` is returned."""
        seen = {c.id for c in chunks}
        out: list[Chunk] = []
        inside = 'SELECT min(ord), max(ord) FROM chunks WHERE doc_id = ? AND page IS ? AND start >= ? AND "end" <= ?'
        near = (
            f"SELECT {_CHUNK_COLS}, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.doc_id = ? AND (c.ord BETWEEN ? AND ? OR c.ord BETWEEN ? AND ?) ORDER BY c.ord"
        )
        with self._read() as conn:
            for c in chunks:
                if c.doc_id is None:
                    continue
                lo, hi = conn.execute(inside, (c.doc_id, c.page, c.start, c.end)).fetchone()
                lo, hi = (c.ord, c.ord) if lo is None else (lo, hi)
                for row in conn.execute(near, (c.doc_id, lo - reach, lo - 1, hi + 1, hi + reach)):
                    n = _row_to_chunk(row)
                    covered = any(
                        o.doc_id == n.doc_id and o.page == n.page and o.start <= n.start and n.end <= o.end
                        for o in chunks
                    )
                    if n.id not in seen and not covered:
                        seen.add(n.id)
                        out.append(n)
        return out

    def hits_for(self, scored: list[tuple[int, float]], conn: sqlite3.Connection | None = None) -> list[Hit]:
        """Turn (chunk id, score) pairs into Hits, in the given order; vanished ids are skipped."""
        if not scored:
            return []
        ids = [i for i, _ in scored]

        def fetch(c: sqlite3.Connection) -> dict[int, tuple]:
            q = (
                f"SELECT {_CHUNK_COLS}, d.path, d.title, d.meta FROM chunks c "
                f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})"
            )
            return {r[0]: r for r in c.execute(q, ids)}

        if conn is None:
            with self._read() as c:
                rows = fetch(c)
        else:
            rows = fetch(conn)
        out = []
        for cid, score in scored:
            r = rows.get(cid)
            if r is None:
                continue
            out.append(Hit(chunk=_row_to_chunk(r[:12]), score=float(score), title=r[12], doc_meta=json.loads(r[13])))
        return out

    def search_dense(self, query: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine) by inner product; `ids` restricts the search to those chunks."""
        self.refresh()
        with self._lock:
            return self._vectors.search(query, k, ids, exact=self._stored_vectors)

    def search_lexical(
        self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score, higher is better) from the FTS5 index.

        FTS5 ranks every row holding a term of the query. When the query's terms together
        are held more than LEXICAL_POSTINGS times, only its rarest terms within that budget
        choose the candidates (the best `LEXICAL_CANDIDATES`·k by their BM25), and the
        candidates are then scored on the whole query, as FTS5 would score them (`bm25.py`).
        Smaller indexes are ranked exactly as before.
        """
        match = lexical.match_query(text, lang)
        if match is None or k <= 0:
            return []
        if ids is None:
            bounded = self._search_bounded(text, lang, k)
            if bounded is not None:
                return bounded
        with self._read() as conn:
            if ids is None:
                rows = conn.execute(
                    "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                    "ORDER BY bm25(chunks_fts) LIMIT ?",
                    (match, k),
                ).fetchall()
            else:
                allowed = set(int(i) for i in ids)
                rows = [
                    r
                    for r in conn.execute(
                        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                        "ORDER BY bm25(chunks_fts)",
                        (match,),
                    )
                    if r[0] in allowed
                ][:k]
        return [(int(r[0]), float(r[1])) for r in rows]

    def _search_bounded(self, text: str, lang: str, k: int) -> list[tuple[int, float]] | None:
        """`search_lexical` within the postings budget; None when the whole query fits in it."""
        phrases = [bm25.tokens(t) for t in lexical.query_terms(text, lang)[:64]]
        if len(phrases) < 2 or any(len(p) != 1 for p in phrases):
            return None
        terms = [p[0] for p in phrases]
        df = self.term_counts(terms)
        if sum(df.values()) <= LEXICAL_POSTINGS:
            return None
        chosen: list[str] = []
        spent = 0
        for t in sorted(dict.fromkeys(terms), key=lambda t: df.get(t, 0)):
            if chosen and spent + df.get(t, 0) > LEXICAL_POSTINGS:
                break
            chosen.append(t)
            spent += df.get(t, 0)
        if not spent:
            return []
        quoted = " OR ".join('"' + t.replace('"', '""') + '"' for t in chosen)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
                (quoted, max(LEXICAL_CANDIDATES * k, k)),
            ).fetchall()
        scores = self._bm25_of(terms, [int(r[0]) for r in rows])
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def terms_in(self, chunk_ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of `terms` (as the lexical index stores them, `fts_token`) each chunk holds in
        its heading or text; chunks holding none are left out."""
        out: dict[int, set[str]] = {}
        if not chunk_ids or not terms:
            return out
        with self._read() as conn:
            for part, marks in _in_parts([int(i) for i in chunk_ids]):
                for rowid, lex in conn.execute(f"SELECT rowid, lex FROM chunks_fts WHERE rowid IN ({marks})", part):
                    held = terms.intersection(bm25.tokens(lex))
                    if held:
                        out[int(rowid)] = held
        return out

    def lexical_scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        """BM25 (higher is better) of these chunks for a query, as FTS5's bm25() gives it; chunks
        matching no term are left out. Computed from the chunks' analysed text (`bm25.py`), so
        the cost follows the number of chunks, not how many chunks hold the query's words."""
        match = lexical.match_query(text, lang)
        if match is None or not chunk_ids:
            return {}
        phrases = [bm25.tokens(t) for t in lexical.query_terms(text, lang)[:64]]
        if all(len(p) == 1 for p in phrases):
            return self._bm25_of([p[0] for p in phrases], [int(i) for i in chunk_ids])
        return self._fts_scores(match, chunk_ids)

    def _bm25_of(self, phrases: list[str], chunk_ids: list[int]) -> dict[int, float]:
        """`bm25.score` of these chunks for single-token phrases (folded)."""
        df = self.term_counts(phrases)
        texts: list[tuple[int, str]] = []
        with self._read() as conn:
            rows, avgdl = self._fts_averages(conn)
            for part, marks in _in_parts(chunk_ids):
                texts.extend(conn.execute(f"SELECT rowid, lex FROM chunks_fts WHERE rowid IN ({marks})", part))
        return bm25.score(texts, phrases, df, rows, avgdl)

    def _fts_averages(self, conn: sqlite3.Connection) -> tuple[int, float]:
        """(rows, mean tokens per row) as FTS5's bm25() reads them (cached until the index changes)."""
        key = (self._generation, self._data_version)
        cached = getattr(self, "_fts_avg", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        row = conn.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
        value = bm25.averages(bytes(row[0])) if row else (0, 0.0)
        self._fts_avg = (key, value)
        return value

    def _fts_scores(self, match: str, chunk_ids: list[int]) -> dict[int, float]:
        """FTS5's own bm25() of these chunks for a MATCH expression."""
        out: dict[int, float] = {}
        with self._read() as conn:
            for part, marks in _in_parts([int(i) for i in chunk_ids]):
                q = f"SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})"
                out.update((int(r[0]), float(r[1])) for r in conn.execute(q, [match, *part]))
        return out

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        """Chunks containing any of these analysed terms (as stored in the FTS column), top-k by
        BM25, and how many chunks contain each term (its document frequency)."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0:
            return [], {}
        quoted = {t: '"' + t.replace('"', '""') + '"' for t in terms}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?",
                (" OR ".join(quoted.values()), k),
            ).fetchall()
        counts = self.term_counts([fts_token(t) for t in terms])
        return [(int(r[0]), float(r[1])) for r in rows], {t: counts.get(fts_token(t), 0) for t in terms}

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks hold each analysed term (as the FTS index stores it, see `fts_token`),
        0 for a term none holds. Read from the FTS vocabulary, so a frequent term costs no more
        than a rare one."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return {}
        with self._read() as conn:
            conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)")
            marks = ",".join("?" * len(terms))
            found = dict(conn.execute(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", terms))
        return {t: int(found.get(t, 0)) for t in terms}

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors of these chunks, by chunk id (vanished ids are left out)."""
        out: dict[int, np.ndarray] = {}
        with self._read() as conn:
            for part, marks in _in_parts([int(i) for i in chunk_ids]):
                q = f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash WHERE c.id IN ({marks})"
                out.update((int(r[0]), np.frombuffer(r[1], dtype=np.float32)) for r in conn.execute(q, part))
        return out

    def language_shares(self) -> dict[str, float]:
        """Share of the chunks written in each language (cached until the index changes)."""
        key = (self._generation, self._data_version)
        cached = getattr(self, "_lang_shares", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._read() as conn:
            rows = conn.execute("SELECT lang, COUNT(*) FROM chunks GROUP BY lang").fetchall()
        total = sum(n for _, n in rows) or 1
        shares = {str(lang): n / total for lang, n in rows}
        self._lang_shares = (key, shares)
        return shares

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        """Per chunk language: (number of chunks, mean of their vectors), cached until the index
        changes; empty while an older index waits for a writer to fill the sums in."""
        self.refresh()
        key = (self._generation, self._data_version)
        cached = getattr(self, "_lang_means", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._read() as conn:
            state = conn.execute("SELECT value FROM meta WHERE key = 'lang_vectors'").fetchone()
            ready = bool(state) and state[0] == "ready"
            rows = conn.execute("SELECT lang, n, sum FROM lang_vectors").fetchall() if ready else []
        means = {
            str(lang): (int(n), (np.frombuffer(blob, dtype=np.float64) / n).astype(np.float32))
            for lang, n, blob in rows
            if n > 0
        }
        self._lang_means = (key, means)
        return means

    def chunk_ids_where(self, filters: dict[str, list[str]]) -> np.ndarray:
        """Ids of the chunks that pass every filter (values of one key are alternatives).

        Keys: `lang` (the chunk's language), `file` (a document path, folder prefix or glob),
        `partner` (part of the name, any case), `country`, `year`, `type` (catalogue fields, any case).
        """
        where: list[str] = []
        args: list[Any] = []
        for key, values in filters.items():
            if not values:
                continue
            alts: list[str] = []
            for v in values:
                if key == "lang":
                    alts.append("lower(c.lang) = lower(?)")
                    args.append(v)
                elif key == "file":
                    alts.append("(d.path = ? OR d.path GLOB ? OR d.path GLOB ? OR d.path LIKE ? ESCAPE '\\')")
                    prefix = v.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    args.extend([v, v, "*/" + v, prefix + "/%"])
                elif key == "partner":
                    alts.append("instr(lower(CAST(json_extract(d.meta, '$.partner') AS TEXT)), lower(?)) > 0")
                    args.append(v)
                elif key in ("country", "year", "type"):
                    alts.append(f"lower(CAST(json_extract(d.meta, '$.{key}') AS TEXT)) = lower(?)")
                    args.append(v)
                else:
                    raise SihubError(f"unknown filter {key!r}")
            where.append("(" + " OR ".join(alts) + ")")
        sql = "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            return np.array([r[0] for r in conn.execute(sql, args)], dtype=np.int64)

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray:
        with self._read() as conn:
            q = (
                f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash "
                f"WHERE c.id IN ({','.join('?' * len(chunk_ids))})"
            )
            got = {r[0]: r[1] for r in conn.execute(q, chunk_ids)}
        return np.stack([np.frombuffer(got[i], dtype=np.float32) for i in chunk_ids if i in got])

    def stats(self) -> dict[str, Any]:
        with self._read() as conn:
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {"documents": docs, "chunks": chunks, "vectors": self.size, "embedder": self.manifest["embedder"]["id"]}

    def consistency_problems(self) -> list[str]:
        """Empty when every chunk has its vector and vice versa (used by tests and `sihub check`)."""
        problems = []
        with self._read() as conn:
            db_ids = {r[0] for r in conn.execute("SELECT id FROM chunks")}
            fts_ids = {r[0] for r in conn.execute("SELECT rowid FROM chunks_fts")}
            no_vec = conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE hash NOT IN (SELECT hash FROM embeddings)"
            ).fetchone()[0]
        have = set(self._vectors.ids().tolist())
        if db_ids != have:
            problems.append(f"{len(db_ids - have)} chunks without a vector, {len(have - db_ids)} stray vectors")
        if db_ids != fts_ids:
            problems.append(f"lexical index out of step: {len(db_ids ^ fts_ids)} ids differ")
        if no_vec:
            problems.append(f"{no_vec} chunks without a stored embedding")
        return problems


def _in_parts(values: list, size: int = 500) -> Iterator[tuple[list, str]]:
    """`values` in parts of `size`, each with the "?,?,…" of its `IN (…)` clause."""
    for start in range(0, len(values), size):
        part = list(values[start : start + size])
        yield part, ",".join("?" * len(part))


def fts_token(term: str) -> str:
    """A term as the FTS5 tokenizer (unicode61, remove_diacritics 2) stores it: lower case, no
    diacritics ("Göteborg" -> "goteborg")."""
    return bm25.fold(term)


def _row_to_chunk(r: tuple) -> Chunk:
    return Chunk(
        id=r[0],
        doc_id=r[1],
        ord=r[2],
        page=r[3],
        heading=r[4],
        lang=r[5],
        start=r[6],
        end=r[7],
        ocr=bool(r[8]),
        text=r[9],
        hash=r[10],
        path=r[11],
    )


def _row_to_doc(r: tuple) -> Document:
    return Document(
        id=r[0],
        path=r[1],
        title=r[2],
        lang=r[3],
        langs=json.loads(r[4]),
        pages=r[5],
        sha256=r[6],
        size=r[7],
        mtime=r[8],
        meta=json.loads(r[9]),
        ingested_at=r[10],
        chunks=r[11],
        reader=r[12],
    )
