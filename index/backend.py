"""What the rest of sihub uses of an index, as one small interface, and the factory that opens one.

Two implementations satisfy `IndexBackend`:

- `store.Index` (`SIHUB_BACKEND=embedded`, the default): a folder with a manifest, FAISS and SQLite;
- `milvus.MilvusIndex` (`SIHUB_BACKEND=milvus`): collections in Milvus, through `pymilvus`'s
  `MilvusClient` — Milvus Lite for a `.db` path, a Milvus server or cluster for an `http://` URI.

Chunk ids are integers that stay valid while a document is unchanged; a replaced document keeps its
document id. Scores are "higher is better": cosine for dense search, BM25 for lexical search.
The interface was read off the callers (assistant/, sihub/cli.py, sihub/web/, index/sync.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from sihub.errors import SihubError
from sihub.types import Chunk, Document, Hit

if TYPE_CHECKING:
    from sihub.settings import Settings

T = TypeVar("T")

BACKENDS = ("embedded", "milvus")


@runtime_checkable
class IndexBackend(Protocol):
    """Documents, their chunks (text, vector, analysed text) and the searches over them."""

    manifest: dict[str, Any]
    """Embedder id and dimension, chunker settings, schema and analyzer versions."""
    dim: int
    writable: bool

    # ---- lifetime and snapshots -------------------------------------------------------------

    def refresh(self) -> bool:
        """Pick up what another process committed; True when something changed."""
        ...

    def consistent(self, read: Callable[[], T], attempts: int = 5) -> T:
        """Run `read()` (searches, then fetching the hits) against one committed state."""
        ...

    def save(self) -> None:
        """Make the writes so far durable (the end of an ingest)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> IndexBackend: ...

    def __exit__(self, *exc: object) -> None: ...

    # ---- documents --------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        """Every document, with its catalogue fields and chunk count, by path."""
        ...

    def document(self, path: str) -> Document | None: ...

    def chunks_of(self, path: str) -> list[Chunk]:
        """A document's chunks in reading order."""
        ...

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        """(language, heading and text) of every chunk, a page at a time."""
        ...

    def neighbours(self, chunks: list[Chunk], reach: int = 1) -> list[Chunk]:
        """The chunks just before and after each of `chunks` in its document."""
        ...

    @property
    def base(self) -> Path | None:
        """The folder relative document paths are rooted in, if recorded."""
        ...

    def set_base(self, folder: Path) -> None: ...

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunk texts by their hash (the embedding cache of an ingest)."""
        ...

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: Any = None
    ) -> Document:
        """Add or replace a document with its chunks (and, where `stores_answers`, what answers
        need of it: `answer_data.AnswerData`); readers see the old or the new one, never a mix."""
        ...

    # What answers need, stored at ingest (`answer_data.py`) where the backend `stores_answers`
    # (both do); one that did not would answer from empty lookups (spans embedded at question time).
    stores_answers: bool

    @property
    def generation(self) -> int:
        """A number that changes when a writer publishes a change (what caches are keyed by)."""
        ...

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Stored vectors of quote texts by their key (`answer_data.quote_key`)."""
        ...

    def known_words(self, words: list[str]) -> set[str]:
        """Those of `words` whose vectors are stored."""
        ...

    def word_counts(self) -> list[tuple[str, str, int]]:
        """(language, word, chunks holding it) of the stored words."""
        ...

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of words."""
        ...

    def answers_missing(self) -> list[str]:
        """Documents indexed without their answer data (to repair with `sihub warm`)."""
        ...

    def upgrade_pending(self) -> bool:
        """Whether the next writer to open the index has rows of an older sihub to fill in
        (`sihub warm` opens one)."""
        ...

    def put_answers(self, path: str, answers: Any) -> bool:
        """Store the answer data of a document indexed without it (`sihub warm`); False when it is gone."""
        ...

    def terms_in(self, chunk_ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of the analysed `terms` each chunk holds; chunks holding none left out."""
        ...

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """Change a document's catalogue fields (and file mtime) without re-embedding it."""
        ...

    def remove_document(self, path: str) -> bool: ...

    def prune_embeddings(self) -> int:
        """Drop stored vectors no chunk uses any more; how many."""
        ...

    # ---- searches (scores: higher is better) --------------------------------------------------

    @property
    def size(self) -> int:
        """Number of chunks (with a vector)."""
        ...

    def chunk_ids_where(self, filters: dict[str, list[str]]) -> np.ndarray:
        """Ids of the chunks passing every filter (`lang`, `file`, `partner`, `country`, `year`, `type`)."""
        ...

    def search_dense(self, query: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]: ...

    def search_lexical(
        self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...

    def lexical_scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]: ...

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        """Chunks holding any of these analysed terms (top-k by BM25), and each term's chunk count."""
        ...

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks hold each analysed term (folded as `store.fts_token` folds it)."""
        ...

    def hits_for(self, scored: list[tuple[int, float]]) -> list[Hit]:
        """(chunk id, score) pairs as Hits, in order; vanished ids are skipped."""
        ...

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]: ...

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray: ...

    # ---- statistics -------------------------------------------------------------------------

    def language_shares(self) -> dict[str, float]:
        """Share of the chunks written in each language."""
        ...

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        """Per chunk language: (number of chunks, mean of their vectors)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Documents, chunks, vectors and embedder id (the API's /health)."""
        ...

    def consistency_problems(self) -> list[str]:
        """Empty when every chunk has its vector and lexical entry (tests, checks)."""
        ...


def open_index(
    settings: Settings,
    embedder_id: str,
    dim: int | None = None,
    chunker: dict[str, Any] | None = None,
    writable: bool = False,
    create: bool = False,
) -> IndexBackend:
    """Open the index `settings` name (`backend`, then `index` or `milvus_*`) for an embedder.

    Raises IndexMissingError when there is none and `create` is false, IndexMismatchError when it
    was built otherwise, IndexLockedError when `writable` and another writer holds it.
    """
    backend = _backend(settings)
    if backend == "milvus":
        from .milvus import MilvusIndex

        return MilvusIndex.open(settings, embedder_id, dim, chunker, writable=writable, create=create)
    from .store import Index

    return Index.open(settings.index, embedder_id, dim, chunker, writable=writable, create=create)


def destroy_index(settings: Settings) -> None:
    """Remove the index `settings` name (for `--rebuild`); refused while another process writes to it."""
    if _backend(settings) == "milvus":
        from .milvus import MilvusIndex

        MilvusIndex.destroy(settings)
        return
    from .store import Index

    Index.destroy(settings.index)


def settings_for(settings: Settings, folder: Path, key: str) -> Settings:
    """Settings for a separate index of its own at `folder` (an evaluation set's, say): on
    Milvus, a `.db` file in that folder, or on a server the collection prefix suffixed by `key`."""
    if _backend(settings) != "milvus":
        return settings.replace(index=folder)
    if settings.milvus_uri.endswith(".db"):
        return settings.replace(index=folder, milvus_uri=str(folder / "milvus.db"))
    return settings.replace(index=folder, milvus_collection=f"{settings.milvus_collection}_{key}")


def describe(settings: Settings) -> str:
    """Where the index lives, for messages: a folder, or a Milvus URI and collection prefix."""
    if _backend(settings) == "milvus":
        return f"{settings.milvus_uri} (collections {settings.milvus_collection}_*)"
    return str(settings.index)


def _backend(settings: Settings) -> str:
    name = (settings.backend or "embedded").strip().lower()
    if name not in BACKENDS:
        raise SihubError(f"unknown index backend {settings.backend!r} (use one of {', '.join(BACKENDS)})")
    return name
