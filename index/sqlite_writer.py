"""The embedded index's writes: a document with its chunks, vectors, lexical rows, statistics and
answer data in one SQLite transaction, then FAISS brought along (`generations.py`).

Only the process holding the folder's write lock makes an `IndexWriter`. A crash at any moment
leaves the last committed transaction; the FAISS file catches up when the index is next opened.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from sihub.types import Chunk, Document

from . import answer_data, lexical
from .answer_data import AnswerData
from .folder import write_manifest, writing
from .fts import LexicalIndex
from .generations import VectorGenerations
from .manifest import now
from .schema import SCHEMA_VERSION
from .sqlite_db import Database, set_meta
from .sqlite_stats import Statistics


class IndexWriter:
    """Writes to one index folder (its lock held)."""

    def __init__(self, path: Path, db: Database, vectors: VectorGenerations, manifest: dict[str, Any]) -> None:
        self.path = path
        self.db = db
        self.vectors = vectors
        self.manifest = manifest

    def upgrade(self) -> None:
        """After the migrations: fill tables a migration left pending, re-analyse the passages of
        an older lexical analyzer, record the schema."""
        if Statistics.pending(self.db.main):
            with self.db.lock, self.db.transaction() as db:
                Statistics.fill(db)
        reanalyse = self.manifest.get("lexical") != lexical.ANALYZER_VERSION
        if reanalyse:
            # One transaction, no model work (the chunks' BM25 tokens are written again with it).
            with self.db.lock, self.db.transaction() as db:
                LexicalIndex.reanalyse(db)
        # The chunks' BM25 tokens (schema 5): waiting since the migration, or incomplete where the
        # manifest is older (the last writer was a sihub that did not write them).
        older = int(self.manifest.get("schema") or 0) < 5
        if not reanalyse and (older or LexicalIndex.tokens_pending(self.db.main)):
            with self.db.lock, self.db.transaction() as db:
                LexicalIndex.fill_tokens(db)
        if self.manifest.get("schema") != SCHEMA_VERSION or self.manifest.get("lexical") != lexical.ANALYZER_VERSION:
            self.manifest["schema"] = SCHEMA_VERSION
            self.manifest["lexical"] = lexical.ANALYZER_VERSION
            write_manifest(self.path, self.manifest)

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: AnswerData | None = None
    ) -> Document:
        """Insert or replace a document with its chunks (and what answers need of them, when
        given: `answer_data.py`) in one transaction, then update FAISS."""
        with self.db.lock:
            with self.db.transaction() as db:
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
                        now(),
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
                    LexicalIndex.add(db, c.id, c.heading, c.text, c.lang)
                Statistics.add(db, [(c.lang, vectors[c.hash]) for c in chunks])
                if answers is not None:
                    answer_data.add(db, doc_id, answers)
                Database.bump(db)
            if old_ids:
                self.vectors.remove(old_ids)
            if chunks:
                self.vectors.add(new_ids, np.stack([vectors[c.hash] for c in chunks]).astype(np.float32))
            self.vectors.generation = self.db.generation()
            doc.id, doc.chunks = doc_id, len(chunks)
            return doc

    def set_base(self, folder: Path) -> None:
        """Record the folder relative document paths are rooted in (the first ingest's working
        folder), so readers started elsewhere find the files."""
        with self.db.lock, self.db.transaction() as db:
            set_meta(db, "base", str(Path(folder).resolve()))

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """Change a document's catalogue fields (and file mtime) without touching its chunks."""
        with self.db.lock, self.db.transaction() as db:
            db.execute(
                "UPDATE documents SET meta = ?, mtime = COALESCE(?, mtime) WHERE path = ?",
                (json.dumps(meta, ensure_ascii=False), mtime, path),
            )
            Database.bump(db)

    def remove_document(self, path: str) -> bool:
        with self.db.lock:
            with self.db.transaction() as db:
                exists = db.execute("SELECT 1 FROM documents WHERE path = ?", (path,)).fetchone()
                _, ids = self._delete_doc_rows(db, path)
                if exists:
                    Database.bump(db)
            if ids:
                self.vectors.remove(ids)
            self.vectors.generation = self.db.generation()
            return bool(exists)

    def prune_embeddings(self) -> int:
        """Drop cached embeddings no chunk uses any more (after renames and removals)."""
        with self.db.lock, writing(self.path):
            cur = self.db.main.execute("DELETE FROM embeddings WHERE hash NOT IN (SELECT hash FROM chunks)")
            answer_data.prune(self.db.main)
            return cur.rowcount

    def put_answers(self, path: str, answers: AnswerData) -> bool:
        """Store what answers need of a document already indexed, replacing what it had; False
        when the document is gone."""
        with self.db.lock, self.db.transaction() as db:
            row = db.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
            if not row:
                return False
            answer_data.remove(db, row[0])
            answer_data.add(db, row[0], answers)
            Database.bump(db)
        self.vectors.generation = self.db.generation()
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
        Statistics.add(db, [(lang, np.frombuffer(v, dtype=np.float32)) for lang, v in old], sign=-1)
        LexicalIndex.delete(db, ids)
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (row[0],))
        db.execute("DELETE FROM documents WHERE id = ?", (row[0],))
        return row[0], ids
