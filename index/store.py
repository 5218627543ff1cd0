"""The embedded index: a folder with `manifest.json`, a FAISS file and an SQLite database.

SQLite is the source of truth: documents, chunks, the embedding of every chunk text (keyed by
its hash) and the lexical index, all changed in one transaction per document. The FAISS file
is a cache of the vectors, saved atomically as `vectors-<generation>.faiss`; when it lags the
database (a crash between the two), opening the index reconciles it from the stored vectors.
So a crash at any moment leaves the last committed state, readable.

`Index` is a facade over parts with one job each:

- `folder.py`: file names, the writer's lock, the manifest file, atomic writes (the manifest's
  content and its check are shared with the Milvus backend, `manifest.py`);
- `sqlite_db.Database`: connections, read snapshots, write transactions, the generation;
- `generations.VectorGenerations`: the FAISS vectors, kept in step with SQLite;
- `fts.LexicalIndex`: BM25 over FTS5;
- `sqlite_docs.DocumentRows`: documents, chunks and hits read back; the filters' SQL (`filters.py`);
- `sqlite_stats.Statistics`: per-language counts and mean vectors;
- `answer_data.AnswerTables`: what answers need, stored at ingest;
- `sqlite_writer.IndexWriter`: every write, in the process holding the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sihub.errors import IndexMissingError, SihubError
from sihub.types import Chunk, Document, Hit

from . import folder
from .answer_data import AnswerData, AnswerTables
from .fast_lexical import FastLexical
from .folder import DB, LOCK, MANIFEST, WriteLock, write_atomic
from .fts import LEXICAL_CANDIDATES, LEXICAL_POSTINGS, LexicalIndex, fts_token
from .generations import VectorGenerations
from .manifest import check_manifest, new_manifest
from .schema import SCHEMA_VERSION
from .sqlite_db import Database
from .sqlite_docs import DocumentRows
from .sqlite_stats import Statistics
from .sqlite_writer import IndexWriter

__all__ = [
    "DB",
    "LEXICAL_CANDIDATES",
    "LEXICAL_POSTINGS",
    "LOCK",
    "MANIFEST",
    "Index",
    "fts_token",
    "write_atomic",
]

T = TypeVar("T")


class Index:
    """Documents, chunks and vectors of one folder. Open with `Index.open`."""

    def __init__(self, path: Path, manifest: dict[str, Any], writable: bool) -> None:
        self.path = path
        self.manifest = manifest
        self.dim = int(manifest["embedder"]["dim"])
        self.writable = writable
        self._lock_file = WriteLock(path) if writable else None
        self.db = Database(path)
        self.vectors = VectorGenerations(path, self.db, self.dim, manifest)
        self.lexical = LexicalIndex(self.db, self._state, FastLexical(path, path / DB), lambda: self.vectors.generation)
        self.rows = DocumentRows(self.db)
        self.statistics = Statistics(self.db, self._state)
        self.answers = AnswerTables(self.db, self.dim)
        self._writer = IndexWriter(path, self.db, self.vectors, manifest) if writable else None
        if self._writer is not None:
            self._writer.upgrade()
        self.vectors.load()

    def _state(self) -> tuple[int, int | None]:
        """What caches of this process are keyed by: it changes with every commit seen."""
        return self.vectors.generation, self.db.data_version

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
        manifest = folder.read_manifest(path)
        if manifest is None:
            if not create:
                raise IndexMissingError(f"no index at {path}: run `sihub ingest corpus/` (or --index DIR) first")
            if dim is None:
                raise SihubError("creating an index needs the embedder dimension")
            manifest = new_manifest(SCHEMA_VERSION, embedder_id, dim, chunker, vectors={"type": "flat-ip"})
            with folder.writing(path):
                path.mkdir(parents=True, exist_ok=True)
                folder.write_manifest(path, manifest)
        else:
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
        re-analyses the stored passages when it opens the index (`IndexWriter.upgrade`)."""
        schema = manifest.get("schema")
        check_manifest(
            manifest,
            f"at {path}",
            embedder_id,
            chunker,
            schema_ok=isinstance(schema, int) and 1 <= schema <= SCHEMA_VERSION,  # older ones migrate on open
            schema=SCHEMA_VERSION,
            fix=f"run `sihub ingest --rebuild --index {path} PATH...`",
            lexical_fix=f"run `sihub ingest --index {path} PATH...` (it re-analyses the stored passages, no model work)",
            other_analyzer=reanalyse,
        )

    @staticmethod
    def destroy(path: str | Path) -> None:
        """Remove an index folder's files (for `--rebuild`); other files are left alone.

        Refused with IndexLockedError while another process writes to the index.
        """
        folder.destroy(Path(path))

    # ---- lifetime and snapshots -----------------------------------------------------------

    def consistent(self, read: Callable[[], T], attempts: int = 5) -> T:
        """Run `read()` (searches, then fetching the hits) against one committed state.

        SQLite reads of this thread share one snapshot, and the result is kept only if the
        FAISS vectors were at that snapshot's generation from start to end; when another
        process committed in between, it runs again. Readers so see a document's old or new
        chunks, never none or a mix, while an ingest replaces it.
        """
        if self.db.is_pinned:
            return read()
        result: T
        for _ in range(attempts):
            self.refresh()
            with self.db.pinned() as conn:
                gen = self.db.generation(conn)
                if gen != self.vectors.generation:
                    continue
                result = read()
                if self.vectors.generation == gen:
                    return result
        return read()

    def refresh(self) -> bool:
        """Pick up commits made by another process (e.g. an ingest while serving). True if changed."""
        if self.writable:
            return False
        with self.db.lock:
            if not self.db.changed():
                return False
            if self.db.generation() == self.vectors.generation:
                return False
            self.vectors.reconcile()
            return True

    def save(self) -> None:
        """Write the FAISS file for the current generation (atomically) and drop older ones."""
        if self.writable:
            self.vectors.save()

    def close(self) -> None:
        with self.db.lock:
            try:
                if self.writable:
                    self.save()
            finally:
                self.db.close()
                if self._lock_file is not None:
                    self._lock_file.release()
                    self._lock_file = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def generation(self) -> int:
        """How many commits the index had when this process last looked (`refresh`)."""
        return self.vectors.generation

    # ---- writing ---------------------------------------------------------------------------

    def _w(self) -> IndexWriter:
        if self._writer is None:
            raise SihubError("index opened read-only")
        return self._writer

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: AnswerData | None = None
    ) -> Document:
        """Insert or replace a document with its chunks (and what answers need of them, when
        given: `answer_data.py`) in one transaction, then update FAISS."""
        return self._w().put_document(doc, chunks, vectors, answers)

    def set_base(self, folder: Path) -> None:
        """Record the folder relative document paths are rooted in (see `IndexWriter.set_base`)."""
        self._w().set_base(folder)

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """Change a document's catalogue fields (and file mtime) without touching its chunks."""
        self._w().update_meta(path, meta, mtime)

    def remove_document(self, path: str) -> bool:
        return self._w().remove_document(path)

    def prune_embeddings(self) -> int:
        """Drop cached embeddings no chunk uses any more (after renames and removals)."""
        return self._w().prune_embeddings()

    def put_answers(self, path: str, answers: AnswerData) -> bool:
        """Store what answers need of a document already indexed (`sihub warm` on an index built
        before schema 4), replacing what it had; False when the document is gone."""
        return self._w().put_answers(path, answers)

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored embeddings for these chunk hashes (the embedding cache)."""
        return self.rows.cached_vectors(hashes)

    # ---- answer data (`answer_data.py`), stored at ingest ----------------------------------

    stores_answers = True

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        return self.answers.quote_vectors(keys)

    def known_words(self, words: list[str]) -> set[str]:
        return self.answers.known_words(words)

    def word_counts(self) -> list[tuple[str, str, int]]:
        return self.answers.word_counts()

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        return self.answers.word_vectors(words)

    def answers_missing(self) -> list[str]:
        return self.answers.missing()

    def upgrade_pending(self) -> bool:
        """The chunks' BM25 tokens of an index built before schema 5 (`fts.py`), which readers
        cut from the analysed text until a writer fills them in."""
        with self.db.read() as conn:
            return LexicalIndex.tokens_pending(conn)

    # ---- documents and chunks ----------------------------------------------------------------

    @property
    def base(self) -> Path | None:
        return self.rows.base

    @property
    def size(self) -> int:
        return self.vectors.ntotal

    def documents(self) -> list[Document]:
        return self.rows.documents()

    def document(self, path: str) -> Document | None:
        return self.rows.document(path)

    def chunks_of(self, path: str) -> list[Chunk]:
        return self.rows.chunks_of(path)

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        self.refresh()
        return self.rows.chunk_texts(page)

    def neighbours(self, chunks: list[Chunk], reach: int = 1) -> list[Chunk]:
        return self.rows.neighbours(chunks, reach)

    def hits_for(self, scored: list[tuple[int, float]], conn: Any = None) -> list[Hit]:
        return self.rows.hits_for(scored, conn)

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        """Stored vectors of these chunks by id. Inside `consistent` a flat FAISS index holds
        the read's generation, the same float32 vectors as SQLite: they are copied from it
        (0.2 ms for 300 chunks at 100k, where joining the embeddings table took ~10 ms)."""
        if self.db.is_pinned:
            ids = [int(i) for i in chunk_ids]
            mat = self.vectors.copies(ids)
            if mat is not None:
                return dict(zip(ids, mat, strict=True))
        return self.rows.vectors_by_id(chunk_ids)

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray:
        return self.rows.vectors_for(chunk_ids)

    def chunk_ids_where(self, filters: dict[str, list[str]]) -> np.ndarray:
        """Ids of the chunks that pass every filter (values of one key are alternatives; `filters.py`)."""
        return self.rows.chunk_ids_where(filters)

    # ---- searches ----------------------------------------------------------------------------

    def search_dense(self, query: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine) by inner product; `ids` restricts the search to those chunks."""
        self.refresh()
        return self.vectors.search(query, k, ids)

    def search_lexical(
        self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score, higher is better) from FTS5 (`fts.LexicalIndex.search`)."""
        return self.lexical.search(text, k, lang, ids)

    def lexical_scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        return self.lexical.scores(text, lang, chunk_ids)

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        return self.lexical.search_terms(terms, k)

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        return self.lexical.term_counts(terms)

    def terms_in(self, chunk_ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        return self.lexical.terms_in(chunk_ids, terms)

    # ---- statistics --------------------------------------------------------------------------

    def language_shares(self) -> dict[str, float]:
        return self.statistics.language_shares()

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        self.refresh()
        return self.statistics.language_means()

    def stats(self) -> dict[str, Any]:
        docs, chunks = self.statistics.counts()
        return {"documents": docs, "chunks": chunks, "vectors": self.size, "embedder": self.manifest["embedder"]["id"]}

    def consistency_problems(self) -> list[str]:
        """Empty when every chunk has its vector and vice versa (used by tests and `sihub check`)."""
        return self.rows.problems(set(self.vectors.ids().tolist()))
