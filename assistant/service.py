"""The facade the edges (CLI, web, API) use: ingest, search, ask, list and remove documents.

It builds the embedder and opens the index lazily, from settings, on first use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sihub.errors import SihubError
from sihub.index.backend import IndexBackend, destroy_index, open_index
from sihub.index.embedder import Embedder, embedder_id, ingest_embedder, make_embedder
from sihub.index.sync import Progress, sync
from sihub.ingest import ChunkerConfig
from sihub.ingest.model import ReadOptions
from sihub.settings import Settings
from sihub.types import Answer, Chunk, Document, Hit, IngestReport

from .catalogue import Catalogue, Query
from .lexicon import Lexicon
from .query import normalise_filters, parse_query
from .quote_cache import QuoteVectors, WarmReport, remove_legacy_file, repair
from .retrieve import search_deeper
from .spans import document_quote_texts
from .verdict import PARAMS_PATH, VerdictParams

log = logging.getLogger("sihub")


class Assistant:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        # An embedder given here (e.g. the cached one `sihub eval` uses) replaces the one settings name.
        self._embedder: Embedder | None = embedder
        self._index: IndexBackend | None = None
        self._verdict: VerdictParams | None = None
        self._told_missing = False
        # What questions share, owned here (not by modules): span vectors in front of those the
        # index stores, and the word vectors that translate a question's words (`lexicon.py`).
        self.vectors = QuoteVectors()
        self.lexicon = Lexicon()
        self.catalogue = Catalogue()  # abstracts, kept by document version
        self._lock = threading.RLock()

    # ---- parts, built lazily ---------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings.embedder, self.settings.threads)
            return self._embedder

    @property
    def chunker(self) -> ChunkerConfig:
        s = self.settings
        return ChunkerConfig(target_words=s.chunk_words, max_tokens=s.chunk_max_tokens, overlap=s.chunk_overlap)

    @property
    def index(self) -> IndexBackend:
        """The index, opened read-only (raises IndexMissingError if none was built)."""
        with self._lock:
            if self._index is None:
                self._index = open_index(self.settings, embedder_id(self.settings.embedder))
            return self._index

    @property
    def verdict_params(self) -> VerdictParams:
        """The answer verdict's model (`verdict.py`): `Settings.verdict`, or the shipped one."""
        with self._lock:
            if self._verdict is None:
                self._verdict = VerdictParams.load(self.settings.verdict or PARAMS_PATH)
            return self._verdict

    def use_caches(self) -> None:
        """Let searches and answers read the index's stored quote and word vectors."""
        index = self.index
        if self.vectors.index is not index:
            self.vectors.attach(index)
            self.lexicon.attach(index)
            missing = index.answers_missing()
            if missing and not self._told_missing:
                self._told_missing = True
                log.warning(
                    "sihub: %d documents of the index at %s were ingested before answers' vectors were stored "
                    "at ingest; run `sihub warm` once (until then their answers are slower and their words "
                    "untranslated)",
                    len(missing),
                    self.settings.index,
                )

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self.vectors.attach(None)
                self.lexicon.attach(None)
                self._index.close()
                self._index = None

    # ---- writing ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: list[Path],
        rebuild: bool = False,
        progress: Progress | None = None,
        remove_missing: bool = True,
        quotes: bool = True,
    ) -> IngestReport:
        """Index `paths` (see `index.sync.sync`). With `quotes` false the vectors of the spans an
        answer quotes are not computed (a search never reads them: `sihub eval` needs none); the
        words' vectors, which the search's translations read, are."""
        s = self.settings
        emb = self.embedder
        if rebuild:
            self.close()
            destroy_index(s)
            remove_legacy_file(s.index)
        with open_index(s, emb.id, emb.dim, self.chunker.as_dict(), writable=True, create=True) as index:
            report = sync(
                index,
                paths,
                ingest_embedder(s.embedder, emb, s.threads, s.fast_ingest),
                self.chunker,
                max_bytes=int(s.max_file_mb * 1024 * 1024),
                batch_size=s.batch_size,
                file_timeout=s.file_timeout,
                remove_missing=remove_missing,
                progress=progress,
                read_options=ReadOptions(ocr=s.ocr, ocr_langs=s.ocr_langs),
                answer_texts=document_quote_texts if quotes else _no_quotes,
            )
        self.lexicon.clear()  # the index's words changed: read them again at the next question
        return report

    def remove(self, paths: list[str]) -> list[str]:
        """Remove documents by their indexed path; returns the ones that were there."""
        emb_id = embedder_id(self.settings.embedder)
        gone = []
        with open_index(self.settings, emb_id, writable=True) as index:
            for p in paths:
                if index.remove_document(p):
                    gone.append(p)
            index.prune_embeddings()
        self.lexicon.clear()
        return gone

    # ---- reading ---------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return self.index.documents()

    def browse(self, query: Query | None = None) -> dict[str, Any]:
        """The catalogue (`catalogue.py`): documents matching `query` with their abstracts, and
        the count of documents for each value of each field."""
        index = self.index
        return self.catalogue.browse(index.documents(), index.chunks_of, query)

    def chunks(self, path: str) -> list[Chunk]:
        return self.index.chunks_of(path)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: dict[str, Any] | list[str] | None = None,
        lang: str | None = None,
        per_document: int | None = None,
    ) -> list[Hit]:
        """Passages for `query` (hybrid by default), inside `filters`: {"country": ["LV"]} or ["country=LV"].

        `lang` is the question's language when the caller knows it (else it is detected);
        `per_document` overrides `Settings.per_document`.
        """
        return self.search_deeper(query, k, 0, mode, filters, lang, per_document)[0]

    def search_deeper(
        self,
        query: str,
        k: int | None = None,
        deeper: int = 0,
        mode: str | None = None,
        filters: dict[str, Any] | list[str] | None = None,
        lang: str | None = None,
        per_document: int | None = None,
        pages: bool = True,
    ) -> tuple[list[Hit], list[Hit]]:
        """`search`, and the top `deeper` passages of the same ranking (no cap per document), from one search.

        With `pages`, each document is led by its passage whose stored sentence is nearest the
        question (`pages.prefer_sentence_pages`); an answer weighs every sentence of its passages
        itself and asks without it.
        """
        q = parse_query(_text(query), normalise_filters(filters), lang=lang)
        index, embedder = self.index, self.embedder
        self.use_caches()
        # One committed state for the whole search, even while an ingest commits next door.
        return index.consistent(
            lambda: search_deeper(
                index,
                embedder,
                q,
                k or self.settings.search_k,
                deeper,
                mode or self.settings.mode,
                per_document=self.settings.per_document if per_document is None else per_document,
                lexicon=self.lexicon,
                vectors=self.vectors if pages else None,
            )
        )

    def ask(self, question: str, k: int | None = None, history: Any = None, filters: Any = None) -> Answer:
        """A cited answer (see `assistant/ask.py`); `history` holds the earlier turns of a chat."""
        final = None
        for item in self.ask_stream(question, k, history=history, filters=filters):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def ask_stream(
        self, question: str, k: int | None = None, history: Any = None, filters: Any = None
    ) -> Iterator[str | Answer]:
        """Pieces of answer text as they are written, then the final Answer (authoritative)."""
        from .ask import ask_stream

        self.use_caches()
        return ask_stream(self, _text(question), k, history=history, filters=filters)

    def warm_words(self, stop_event: threading.Event | None = None) -> tuple[int, int]:
        """`warm_quotes` (the words come with it): (documents filled in, words embedded)."""
        report = self.warm_quotes(stop_event)
        return report.documents, report.words_embedded

    def warm_quotes(
        self,
        stop_event: threading.Event | None = None,
        batch: int = 8,
        progress: Callable[[int, int | None], Any] | None = None,
    ) -> WarmReport:
        """Repair an index ingested before answers' vectors were stored at ingest: embed and store
        the quote units and words of the documents that lack them (`quote_cache.repair`), one
        document per transaction, with the ingest's embedder; the writer it opens also fills in
        what an older index lacks (`IndexBackend.upgrade_pending`). Nothing to do (the usual case)
        costs two queries. Stops between documents once `stop_event` is set;
        `progress(documents_done, documents_total)`. `batch` is kept for callers; unused."""
        del batch
        s = self.settings
        index = self.index
        index.refresh()
        if not index.answers_missing() and not index.upgrade_pending():
            self.use_caches()
            return WarmReport()
        self._told_missing = True  # being repaired: no advice to run `sihub warm`
        emb = self.embedder
        try:
            with open_index(s, emb.id, writable=True) as writer:
                report = repair(
                    writer,
                    ingest_embedder(s.embedder, emb, s.threads, s.fast_ingest),
                    stop_event=stop_event,
                    progress=progress,
                )
        except SihubError as exc:
            return WarmReport(problem=str(exc))
        remove_legacy_file(s.index)
        index.refresh()
        self.lexicon.clear()
        self.use_caches()
        return report


def _text(text: str) -> str:
    """User text made safe to store and embed: a lone surrogate (JSON can carry one) becomes U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else text


def _no_quotes(doc: Document, chunks: list[Chunk]) -> list[str]:
    return []
