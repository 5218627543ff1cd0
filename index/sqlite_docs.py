"""The embedded index's documents and chunks as read back: rows of `documents`, `chunks` and
`embeddings` turned into the shared types (`Document`, `Chunk`, `Hit`) and vectors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from sihub.types import Chunk, Document, Hit

from . import filters
from .neighbours import covered
from .sqlite_db import Database, in_parts

CHUNK_COLS = 'c.id, c.doc_id, c.ord, c.page, c.heading, c.lang, c.start, c."end", c.ocr, c.text, c.hash'
_DOC_COLS = (
    "SELECT d.id, d.path, d.title, d.lang, d.langs, d.pages, d.sha256, d.size, d.mtime, d.meta, "
    "d.ingested_at, (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id), d.reader FROM documents d"
)


class DocumentRows:
    """Reads of documents, chunks and their stored vectors."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def documents(self) -> list[Document]:
        with self.db.read() as conn:
            rows = conn.execute(f"{_DOC_COLS} ORDER BY d.path").fetchall()
        return [row_to_doc(r) for r in rows]

    def document(self, path: str) -> Document | None:
        with self.db.read() as conn:
            r = conn.execute(f"{_DOC_COLS} WHERE d.path = ?", (path,)).fetchone()
        return row_to_doc(r) if r else None

    def chunks_of(self, path: str) -> list[Chunk]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {CHUNK_COLS}, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE d.path = ? ORDER BY c.ord",
                (path,),
            ).fetchall()
        return [row_to_chunk(r) for r in rows]

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        """(language, heading and text) of every chunk, in index order, read `page` chunks at a
        time (an index of 100k chunks is not held in memory at once)."""
        last = -1
        while True:
            with self.db.read() as conn:
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
        passage (`spans.merge_adjacent`): its neighbours are those beside the whole passage,
        and no chunk whose text lies inside one of `chunks` is returned."""
        seen = {c.id for c in chunks}
        out: list[Chunk] = []
        inside = 'SELECT min(ord), max(ord) FROM chunks WHERE doc_id = ? AND page IS ? AND start >= ? AND "end" <= ?'
        near = (
            f"SELECT {CHUNK_COLS}, d.path FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.doc_id = ? AND (c.ord BETWEEN ? AND ? OR c.ord BETWEEN ? AND ?) ORDER BY c.ord"
        )
        with self.db.read() as conn:
            for c in chunks:
                if c.doc_id is None:
                    continue
                lo, hi = conn.execute(inside, (c.doc_id, c.page, c.start, c.end)).fetchone()
                lo, hi = (c.ord, c.ord) if lo is None else (lo, hi)
                for row in conn.execute(near, (c.doc_id, lo - reach, lo - 1, hi + 1, hi + reach)):
                    n = row_to_chunk(row)
                    if n.id not in seen and not covered(n, chunks):
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
                f"SELECT {CHUNK_COLS}, d.path, d.title, d.meta FROM chunks c "
                f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({','.join('?' * len(ids))})"
            )
            return {r[0]: r for r in c.execute(q, ids)}

        if conn is None:
            with self.db.read() as c:
                rows = fetch(c)
        else:
            rows = fetch(conn)
        out = []
        for cid, score in scored:
            r = rows.get(cid)
            if r is None:
                continue
            out.append(Hit(chunk=row_to_chunk(r[:12]), score=float(score), title=r[12], doc_meta=json.loads(r[13])))
        return out

    def chunk_ids_where(self, wanted: dict[str, list[str]]) -> np.ndarray:
        """Ids of the chunks that pass every filter (`filters.py`)."""
        sql, args = filters.chunk_ids_sql(wanted)
        with self.db.read() as conn:
            return np.array([r[0] for r in conn.execute(sql, args)], dtype=np.int64)

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors of these chunks, by chunk id (vanished ids are left out)."""
        out: dict[int, np.ndarray] = {}
        with self.db.read() as conn:
            for part, marks in in_parts([int(i) for i in chunk_ids]):
                q = f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash WHERE c.id IN ({marks})"
                out.update((int(r[0]), np.frombuffer(r[1], dtype=np.float32)) for r in conn.execute(q, part))
        return out

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray:
        with self.db.read() as conn:
            q = (
                f"SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash "
                f"WHERE c.id IN ({','.join('?' * len(chunk_ids))})"
            )
            got = {r[0]: r[1] for r in conn.execute(q, chunk_ids)}
        return np.stack([np.frombuffer(got[i], dtype=np.float32) for i in chunk_ids if i in got])

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored embeddings for these chunk hashes (the embedding cache)."""
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        with self.db.read() as conn:
            for part, marks in in_parts(hashes):
                for h, blob in conn.execute(f"SELECT hash, vec FROM embeddings WHERE hash IN ({marks})", part):
                    out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    @property
    def base(self) -> Path | None:
        """The folder the documents' relative paths are relative to, if recorded."""
        value = self.db.meta("base")
        return Path(value) if value else None

    def problems(self, vector_ids: set[int]) -> list[str]:
        """Empty when every chunk has its vector (in FAISS, `vector_ids`, and stored) and its
        lexical rows, and no vector or lexical row is left over."""
        problems = []
        with self.db.read() as conn:
            db_ids = {r[0] for r in conn.execute("SELECT id FROM chunks")}
            fts_ids = {r[0] for r in conn.execute("SELECT rowid FROM chunks_fts")}
            ready = conn.execute("SELECT value FROM meta WHERE key = 'chunk_tokens'").fetchone()
            token_ids = {r[0] for r in conn.execute("SELECT id FROM chunk_tokens")} if ready == ("ready",) else fts_ids
            no_vec = conn.execute(
                "SELECT COUNT(*) FROM chunks WHERE hash NOT IN (SELECT hash FROM embeddings)"
            ).fetchone()[0]
        if db_ids != vector_ids:
            problems.append(
                f"{len(db_ids - vector_ids)} chunks without a vector, {len(vector_ids - db_ids)} stray vectors"
            )
        if db_ids != fts_ids:
            problems.append(f"lexical index out of step: {len(db_ids ^ fts_ids)} ids differ")
        if fts_ids != token_ids:
            problems.append(f"lexical tokens out of step: {len(fts_ids ^ token_ids)} ids differ")
        if no_vec:
            problems.append(f"{no_vec} chunks without a stored embedding")
        return problems


def row_to_chunk(r: tuple) -> Chunk:
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


def row_to_doc(r: tuple) -> Document:
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
