"""The Milvus index backend: the same interface as `store.Index`, kept in Milvus collections.

`SIHUB_MILVUS_URI` picks the engine: a path ending in `.db` is Milvus Lite inside this process
(laptops, tests); `http://host:19530` a Milvus server, standalone or a cluster, that several
`sihub serve` processes share (they hold no state of their own: the registry, content hashes,
manifest and statistics are collections too, see `milvus_schema.py`).

`MilvusIndex` is composed of parts with one job each: `Collections` (the connection and its
calls, `milvus_client.py`), `Registry` (what readers hold between writes: documents, the chunk
version of each, language statistics, `milvus_registry.py`) and, in a writer, `Writer` (the
lease, id counters, replacing a document in steps a killed writer cannot leave half done,
`milvus_writer.py`), and `MilvusAnswers` (what answers need, stored at ingest as the embedded
index stores it, `milvus_answers.py`). This module reads and searches.

Lexical search is Milvus's BM25 function over `lex`, the text sihub's own analyzer writes (the
same stems as the embedded backend's FTS5 column). Milvus proposes the candidates; their scores
are computed here as the embedded index computes them (FTS5's BM25 over the whole index,
`_bm25_of`), since Milvus Lite's own use another IDF and k1, and statistics per segment. The
chunk count of each term, which BM25's IDF needs, is kept by the writer in the `terms`
collection (`milvus_terms.py`) as FTS5's vocabulary keeps it, and read by key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from sihub.errors import IndexLockedError, IndexMissingError, SihubError
from sihub.types import Chunk, Document, Hit

from . import bm25, lexical
from . import milvus_schema as ms
from .answer_data import AnswerData
from .fts import LEXICAL_CANDIDATES, fts_token
from .manifest import check_manifest as shared_check
from .manifest import new_manifest
from .milvus_answers import MilvusAnswers
from .milvus_client import BATCH, PAGE, Collections, describe
from .milvus_registry import Registry, copy
from .milvus_terms import TermCounts, chunk_terms
from .milvus_writer import Writer, holder
from .neighbours import covered

if TYPE_CHECKING:
    from sihub.settings import Settings

T = TypeVar("T")

COUNT_LIMIT = 16_384
"""Milvus's largest top-k: the most chunks a search returns, and a term's count by search can
report (`_searched_counts`, for an index whose term counts no writer has made yet)."""
CHECK_TERMS_MAX = 50_000
"""Up to this many chunks, `consistency_problems` also recounts every term (a few seconds)."""
EXTRA = 20
"""Extra results a search asks for, in place of chunks of a replaced version it drops."""


class Selection(np.ndarray):
    """Chunk ids that pass a filter, with the Milvus expression that selects them (`expr`), so a
    filtered search sends the expression rather than the list of ids."""

    expr: str | None = None


class MilvusIndex:
    """Documents, chunks and vectors of one hub in Milvus. Open with `MilvusIndex.open`."""

    def __init__(self, cols: Collections, manifest: dict[str, Any], writable: bool) -> None:
        self._cols = cols
        self.uri = cols.uri
        self.prefix = cols.prefix
        self.manifest = manifest
        self.dim = int(manifest["embedder"]["dim"])
        self.writable = writable
        self._reg = Registry(self.dim)
        self._terms: dict[str, int] = {}
        self._terms_gen = -1
        self._tokens_total = 0
        self._tokens_gen = -1
        self._answers = MilvusAnswers(cols, self.dim)
        self._tokens = bm25.TokenCache()
        self._counts = TermCounts(cols)
        self._writer = Writer(cols, self._reg, self._answers) if writable else None
        self.refresh()

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        settings: Settings,
        embedder_id: str,
        dim: int | None = None,
        chunker: dict[str, Any] | None = None,
        writable: bool = False,
        create: bool = False,
    ) -> MilvusIndex:
        """Open (or with `create`, make) the hub's collections for the given embedder.

        Raises IndexMismatchError when they were built otherwise, IndexMissingError when there
        are none and `create` is false, IndexUnavailableError when Milvus cannot be reached.
        """
        cols = Collections(settings)
        manifest = cols.meta("manifest") if cols.exists() else None
        if manifest is None:
            if not create:
                raise IndexMissingError(f"no index in {cols.where}: run `sihub --backend milvus ingest corpus/` first")
            if dim is None:
                raise SihubError("creating an index needs the embedder dimension")
            manifest = new_manifest(ms.SCHEMA_VERSION, embedder_id, dim, chunker, backend="milvus")
            cols.create(int(dim))
            cols.set_meta({"manifest": manifest, "term_counts": True})  # no chunk, every count right
        else:
            check_manifest(manifest, cols.where, embedder_id, chunker if writable else None)
            cols.create(int(manifest["embedder"]["dim"]))  # any collection missing
        return cls(cols, manifest, writable)

    @staticmethod
    def destroy(settings: Settings) -> None:
        """Drop the hub's collections (for `--rebuild`); refused while another writer holds the lease."""
        cols = Collections(settings)
        try:
            if cols.call("has_collection", cols.name("meta")):
                lease = cols.meta("lease") if cols.exists() else None
                if lease and lease.get("until", 0) > time.time():
                    raise IndexLockedError(
                        f"another ingest is writing to {describe(settings)} ({holder(lease)}); wait for it to finish"
                    )
            cols.drop()
        finally:
            cols.close()

    def close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.release()
        finally:
            self._cols.close()

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- snapshots ---------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Pick up what a writer committed (the registry and statistics). True if it changed."""
        return self._reg.refresh(self._cols)

    def save(self) -> None:
        """Flush the collections (Milvus persists what it acknowledged; this seals it to storage)."""
        if self.writable:
            for kind in ms.KINDS:
                self._cols.call("flush", self._cols.name(kind))

    @property
    def base(self) -> Path | None:
        value = self._cols.meta("base")
        return Path(value) if value else None

    def consistent(self, read: Callable[[], T], attempts: int = 5) -> T:
        """Run `read()` against one committed state: again when a writer published meanwhile."""
        result: T
        for _ in range(attempts):
            self.refresh()
            gen = self._reg.generation
            result = read()
            if int(self._cols.meta("generation") or 0) == gen:
                return result
        return read()

    @property
    def size(self) -> int:
        return sum(d.chunks for d in self._reg.docs.values())

    def documents(self) -> list[Document]:
        return [copy(d) for d in sorted(self._reg.docs.values(), key=lambda d: d.path)]

    def document(self, path: str) -> Document | None:
        i = self._reg.by_path.get(path)
        return copy(self._reg.docs[i]) if i is not None else None

    def _chunks_of_doc(self, doc_id: int) -> list[Chunk]:
        ver = self._reg.vers.get(doc_id)
        if ver is None:
            return []
        rows = self._cols.query("chunks", f"doc_id == {doc_id} and ver == {ver}", ms.CHUNK_FIELDS)
        return sorted((ms.row_chunk(r) for r in rows), key=lambda c: c.ord)

    def chunks_of(self, path: str) -> list[Chunk]:
        i = self._reg.by_path.get(path)
        return self._chunks_of_doc(i) if i is not None else []

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        self.refresh()
        for doc_id in sorted(self._reg.docs):
            for c in self._chunks_of_doc(doc_id):
                yield c.lang, f"{c.heading}\n{c.text}"

    def neighbours(self, chunks: list[Chunk], reach: int = 1) -> list[Chunk]:
        """As `store.Index.neighbours`: the chunks beside each passage, each once, none inside one."""
        seen = {c.id for c in chunks}
        out: list[Chunk] = []
        by_doc: dict[int, list[Chunk]] = {}
        for c in chunks:
            if c.doc_id is None:
                continue
            if c.doc_id not in by_doc:
                by_doc[c.doc_id] = self._chunks_of_doc(c.doc_id)
            doc = by_doc[c.doc_id]
            inside = [o.ord for o in doc if o.page == c.page and o.start >= c.start and o.end <= c.end]
            lo, hi = (min(inside), max(inside)) if inside else (c.ord, c.ord)
            for n in doc:
                if not (lo - reach <= n.ord <= lo - 1 or hi + 1 <= n.ord <= hi + reach):
                    continue
                if n.id not in seen and not covered(n, chunks):
                    seen.add(n.id)
                    out.append(n)
        return out

    def hits_for(self, scored: list[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        rows = {int(r["id"]): r for r in self._cols.get("chunks", [int(i) for i, _ in scored], ms.CHUNK_FIELDS)}
        out = []
        for cid, score in scored:
            r = rows.get(int(cid))
            if r is None or not self._reg.live(r["doc_id"], r["ver"]):
                continue
            doc = self._reg.docs[int(r["doc_id"])]
            out.append(Hit(chunk=ms.row_chunk(r), score=float(score), title=doc.title, doc_meta=dict(doc.meta)))
        return out

    # ---- searches ---------------------------------------------------------------------------

    def chunk_ids_where(self, filters: dict[str, list[str]]) -> np.ndarray:
        expr = ms.filter_expression(filters, list(self._reg.docs.values()))
        if expr is None:
            return np.zeros(0, dtype=np.int64)
        expr = expr or "id >= 0"  # chunks of a replaced version are dropped below, as in every search
        ids = [
            int(r["id"])
            for r in self._cols.query("chunks", expr, ["id", "doc_id", "ver"])
            if self._reg.live(r["doc_id"], r["ver"])
        ]
        sel = np.array(sorted(ids), dtype=np.int64).view(Selection)
        sel.expr = expr
        return sel

    def _restrict(self, ids: np.ndarray | None) -> str | None:
        """The filter expression for a search inside `ids` (None: no restriction)."""
        if ids is None:
            return None
        expr = getattr(ids, "expr", None)
        return expr if expr else f"id in {ms.id_list(ids)}"

    def _search(
        self, field: str, data: list[Any], k: int, expr: str | None, metric: str
    ) -> list[list[tuple[int, float]]]:
        limit = min(COUNT_LIMIT, k + EXTRA)
        kw: dict[str, Any] = {"filter": expr} if expr else {}
        res = self._cols.call(
            "search",
            self._cols.name("chunks"),
            data=data,
            anns_field=field,
            limit=limit,
            search_params={"metric_type": metric},
            output_fields=["doc_id", "ver"],
            **kw,
        )
        out = []
        for hits in res:
            found = []
            for h in hits:
                ent = h.get("entity", h)
                if self._reg.live(ent["doc_id"], ent["ver"]):
                    # BM25 comes back negated from Milvus Lite, positive from a server: always >= 0.
                    score = abs(float(h["distance"])) if metric == "BM25" else float(h["distance"])
                    found.append((int(h["id"]), score))
            out.append(found[:k])
        return out

    def search_dense(self, query: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        if k <= 0 or (ids is not None and len(ids) == 0) or not self._reg.vers:
            return []
        vec = [float(x) for x in np.asarray(query, dtype=np.float32).ravel()]
        return self._search("vec", [vec], k, self._restrict(ids), "IP")[0]

    def _lex_terms(self, text: str, lang: str) -> list[str]:
        """The query's analysed terms as the stored `lex` text splits them (an identifier that
        FTS5 reads as a phrase counts here as its words)."""
        return [w for t in lexical.query_terms(text, lang)[:64] for w in ms.lex_words(t).split()]

    def search_lexical(
        self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k by BM25 as the embedded index ranks them (`_bm25_of`), among Milvus's own
        BM25 top `LEXICAL_CANDIDATES`·k."""
        terms = self._lex_terms(text, lang)
        if not terms or k <= 0 or (ids is not None and len(ids) == 0) or not self._reg.vers:
            return []
        return self._best(terms, k, self._restrict(ids))

    def _best(self, terms: list[str], k: int, expr: str | None) -> list[tuple[int, float]]:
        found = self._search("sparse", [" ".join(terms)], max(LEXICAL_CANDIDATES * k, k), expr, "BM25")[0]
        scores = self._bm25_of(terms, [i for i, _ in found])
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def lexical_scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        terms = self._lex_terms(text, lang)
        if not terms or not chunk_ids:
            return {}
        return self._bm25_of(terms, [int(i) for i in chunk_ids])

    def _bm25_of(self, terms: list[str], chunk_ids: list[int]) -> dict[int, float]:
        """BM25 of these chunks as FTS5's bm25() gives it in the embedded index (`bm25.py`: its
        k1, b and IDF), from the chunks' analysed text and statistics of the whole index: each
        term's chunk count (`term_counts`), the number of chunks and their mean length. Milvus
        Lite's own scores use Lucene's IDF, k1 1.5, and statistics per segment (so a chunk's
        score depends on which segment holds it); Milvus only proposes the candidates."""
        if not chunk_ids:
            return {}

        def read(ids: list[int]) -> list[tuple[int, bm25.Packed]]:
            rows = self._cols.get("chunks", ids, ["id", "doc_id", "ver", "lex"])
            return [
                (int(r["id"]), bm25.Packed.of(str(r["lex"]))) for r in rows if self._reg.live(r["doc_id"], r["ver"])
            ]

        packed = self._tokens.rows(self._reg.generation, chunk_ids, read)  # kept until a writer publishes
        n, avgdl = self._averages()
        return bm25.score_packed(packed, terms, self.term_counts(terms), n, avgdl)

    def _averages(self) -> tuple[int, float]:
        """(chunks, mean words of their analysed text), as FTS5's averages record holds them."""
        n = self.size
        tokens = self._reg.tokens
        if tokens is None:  # statistics from before the words were counted: count them once
            if self._tokens_gen != self._reg.generation:
                rows = self._cols.query("chunks", "", ["doc_id", "ver", "lex"])
                live = (r for r in rows if self._reg.live(r["doc_id"], r["ver"]))
                self._tokens_total = sum(len(str(r["lex"]).split()) for r in live)
                self._tokens_gen = self._reg.generation
            total = self._tokens_total
        else:
            total = sum(tokens.values())
        return n, (total / n if n else 0.0)

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0 or not self._reg.vers:
            return [], {}
        words = [w for t in terms for w in ms.lex_words(t).split()]
        found = self._best(words, k, None) if words else []
        counts = self.term_counts([fts_token(t) for t in terms])
        return found, {t: counts.get(fts_token(t), 0) for t in terms}

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """Chunks holding each analysed term, read from the counts the writer keeps
        (`milvus_terms.py`); remembered until a writer publishes a change."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if self._terms_gen != self._reg.generation:  # a writer published: counts may have changed
            self._terms, self._terms_gen = {}, self._reg.generation
        todo = [t for t in terms if t not in self._terms]
        # A term Milvus's analyzer would split (not one word) holds in no chunk as one token.
        asked = [t for t in todo if ms.lex_words(t) == t]
        for t in todo:
            self._terms[t] = 0
        if asked and self._reg.vers:
            self._terms.update(self._counts.read(asked) if self._reg.terms_counted else self._searched_counts(asked))
        return {t: self._terms.get(t, 0) for t in terms}

    def _searched_counts(self, terms: list[str]) -> dict[str, int]:
        """Chunk counts by one BM25 search per term, up to `COUNT_LIMIT` (seconds a term past
        ~10k chunks): only for an index built before the writer kept them, until its next writer
        counts them (`Writer.recover`)."""
        out: dict[str, int] = {}
        for start in range(0, len(terms), 16):
            part = terms[start : start + 16]
            res = self._cols.call(
                "search",
                self._cols.name("chunks"),
                data=part,
                anns_field="sparse",
                limit=COUNT_LIMIT,
                search_params={"metric_type": "BM25"},
            )
            for t, hits in zip(part, res, strict=True):
                out[t] = len(hits)
        return out

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        rows = self._cols.get("chunks", [int(i) for i in chunk_ids], ["id", "doc_id", "ver", "vec"])
        return {
            int(r["id"]): np.asarray(r["vec"], dtype=np.float32) for r in rows if self._reg.live(r["doc_id"], r["ver"])
        }

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray:
        got = self.vectors_by_id(chunk_ids)
        return np.stack([got[int(i)] for i in chunk_ids if int(i) in got])

    def language_shares(self) -> dict[str, float]:
        total = sum(n for n, _ in self._reg.langs.values()) or 1
        return {lang: n / total for lang, (n, _) in self._reg.langs.items()}

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        return {lang: (n, (s / n).astype(np.float32)) for lang, (n, s) in self._reg.langs.items()}

    def stats(self) -> dict[str, Any]:
        self.refresh()  # a health check: reaches the server, and reports what it holds now
        return {
            "documents": len(self._reg.docs),
            "chunks": self.size,
            "vectors": self.size,
            "embedder": self.manifest["embedder"]["id"],
        }

    def consistency_problems(self) -> list[str]:
        """Empty when every document's chunks are there at its version and no other chunk is,
        and (up to `CHECK_TERMS_MAX` chunks) every term's chunk count is right."""
        self.refresh()
        check_terms = self._reg.terms_counted and self.size <= CHECK_TERMS_MAX
        rows = self._cols.query("chunks", "", ["id", "doc_id", "ver", *(["lex"] if check_terms else [])])
        live: dict[int, int] = {}
        stale = 0
        lexes: list[str] = []
        for r in rows:
            if self._reg.live(r["doc_id"], r["ver"]):
                live[int(r["doc_id"])] = live.get(int(r["doc_id"]), 0) + 1
                if check_terms:
                    lexes.append(str(r["lex"]))
            else:
                stale += 1
        problems = []
        wrong = [d.path for i, d in self._reg.docs.items() if live.get(i, 0) != d.chunks]
        if wrong:
            problems.append(f"{len(wrong)} documents with missing chunks (e.g. {wrong[0]})")
        if stale:
            problems.append(f"{stale} chunks of no current document version")
        if check_terms:
            want, have = chunk_terms(lexes), self._counts.all()
            off = sorted(k for k in want.keys() | have.keys() if want.get(k, 0) != have.get(k, 0))
            if off:
                k = off[0]
                problems.append(
                    f"{len(off)} terms with a wrong chunk count (e.g. {k!r}: {have.get(k, 0)}, chunks hold it {want[k]})"
                )
        return problems

    # ---- writing (the Writer's, under the lease) -------------------------------------------

    def _w(self) -> Writer:
        if self._writer is None:
            raise SihubError("index opened read-only")
        return self._writer

    def set_base(self, folder: Path) -> None:
        self._w().set_base(folder)

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), BATCH):
            part = hashes[start : start + BATCH]
            expr = f"hash in [{','.join(ms.quote(h) for h in part)}]"
            for r in self._cols.call(
                "query", self._cols.name("chunks"), filter=expr, output_fields=["hash", "vec"], limit=PAGE
            ):
                out.setdefault(r["hash"], np.asarray(r["vec"], dtype=np.float32))
        return out

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: AnswerData | None = None
    ) -> Document:
        """Add or replace a document with its chunks and, given, its answer rows (`answer_data.py`)."""
        return self._w().put_document(doc, chunks, vectors, answers)

    def put_answers(self, path: str, answers: AnswerData) -> bool:
        """Store the answer rows of a document indexed without them (`sihub warm`); False when it is gone."""
        return self._w().put_answers(path, answers)

    # ---- answer data (`answer_data.py`), stored at ingest in collections (`milvus_answers.py`) --

    stores_answers = True

    @property
    def generation(self) -> int:
        """How many changes writers had published when this process last looked (`refresh`)."""
        return int(self._reg.generation)

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        return self._answers.quote_vectors(keys)

    def known_words(self, words: list[str]) -> set[str]:
        return self._answers.known_words(words)

    def word_counts(self) -> list[tuple[str, str, int]]:
        return self._answers.word_counts()

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        return self._answers.word_vectors(words)

    def answers_missing(self) -> list[str]:
        """Paths of the documents indexed without their answer rows (to fill in with `sihub warm`)."""
        return sorted(d.path for i, d in self._reg.docs.items() if i not in self._reg.answered)

    def upgrade_pending(self) -> bool:
        return False  # its chunk rows carry their analysed text; nothing is filled in later

    def terms_in(self, chunk_ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of `terms` (analysed, `fts_token`) each chunk's analysed text holds; chunks
        holding none are left out."""
        out: dict[int, set[str]] = {}
        if not chunk_ids or not terms:
            return out
        rows = self._cols.get("chunks", [int(i) for i in chunk_ids], ["id", "doc_id", "ver", "lex"])
        for r in rows:
            if self._reg.live(r["doc_id"], r["ver"]):
                held = terms.intersection(fts_token(w) for w in str(r["lex"]).split())
                if held:
                    out[int(r["id"])] = held
        return out

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        self._w().update_meta(path, meta, mtime)

    def remove_document(self, path: str) -> bool:
        return self._w().remove_document(path)

    def prune_embeddings(self) -> int:
        """Drop the vectors of words no chunk holds any more (a chunk's vector lives in its row
        and goes with it)."""
        self._w()
        return self._answers.prune()


def check_manifest(manifest: dict[str, Any], where: str, embedder_id: str, chunker: dict[str, Any] | None) -> None:
    """Raise IndexMismatchError when the collections were built otherwise (`manifest.check_manifest`)."""
    shared_check(
        manifest,
        f"in {where}",
        embedder_id,
        chunker,
        schema_ok=manifest.get("schema") == ms.SCHEMA_VERSION and manifest.get("backend") == "milvus",
        schema=ms.SCHEMA_VERSION,
        fix="run `sihub --backend milvus ingest --rebuild PATH...`",
    )
