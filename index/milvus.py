"""The Milvus index backend: the same interface as `store.Index`, kept in Milvus collections.

`SIHUB_MILVUS_URI` picks the engine: a path ending in `.db` is Milvus Lite inside this process
(laptops, tests); `http://host:19530` a Milvus server, standalone or a cluster, that several
`sihub serve` processes share (they hold no state of their own: the registry, content hashes,
manifest and statistics are collections too, see `milvus_schema.py`).

Writes: one writer at a time, by a lease record (owner, expiry) in `meta` that the writer renews
while it works, so a killed writer blocks the next one for at most `LEASE_SECONDS`. A document is
replaced in three steps — its new chunks written under a new version number, then the registry row
flipped to that version, then the old chunks deleted — with a `pending` record naming the step's
document, so the next writer finishes or undoes what a killed one left. Readers keep only chunks
of the version their registry names: they see the old document or the new one, never a mix.

Lexical search is Milvus's BM25 function over `lex`, the text sihub's own analyzer writes (the
same stems as the embedded backend's FTS5 column). Milvus Lite returns BM25 scores negated and
computes IDF per segment; scores are returned positive, and fusion standardises them per query.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from sihub import __version__
from sihub.errors import IndexLockedError, IndexMismatchError, IndexMissingError, IndexUnavailableError, SihubError
from sihub.types import Chunk, Document, Hit

from . import lexical
from . import milvus_schema as ms
from .store import fts_token

if TYPE_CHECKING:
    from sihub.settings import Settings

T = TypeVar("T")

LEASE_SECONDS = 30.0
"""How long a writer's lease lasts without renewal (it renews at every write)."""
BATCH = 500
"""Rows per insert, and ids per `in [...]` lookup."""
PAGE = 4096
"""Rows per page when reading a whole collection."""
COUNT_LIMIT = 16_384
"""Most chunks a term's count can report (Milvus's largest top-k); a term that common is no name."""
RETRY_PAUSE = 1.0
"""Seconds before a failed Milvus call is tried the second and last time."""
EXTRA = 20
"""Extra results a search asks for, in place of chunks of a replaced version it drops."""


class Selection(np.ndarray):
    """Chunk ids that pass a filter, with the Milvus expression that selects them (`expr`), so a
    filtered search sends the expression rather than the list of ids."""

    expr: str | None = None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class MilvusIndex:
    """Documents, chunks and vectors of one hub in Milvus. Open with `MilvusIndex.open`."""

    def __init__(self, client: Any, settings: Settings, manifest: dict[str, Any], writable: bool) -> None:
        self._client = client
        self._settings = settings
        self.uri = settings.milvus_uri
        self.prefix = settings.milvus_collection
        self.timeout = float(settings.milvus_timeout)
        self.manifest = manifest
        self.dim = int(manifest["embedder"]["dim"])
        self.writable = writable
        self._owner = uuid.uuid4().hex
        self._lease_until = 0.0
        self._generation = -1
        self._docs: dict[int, Document] = {}
        self._vers: dict[int, int] = {}
        self._by_path: dict[str, int] = {}
        self._stats: dict[str, tuple[int, np.ndarray]] = {}
        self._terms: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        if writable:
            self._acquire()
            self._recover()
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
        client = connect(settings)
        where = describe(settings)
        meta = f"{settings.milvus_collection}_meta"
        manifest = None
        if _call(settings.milvus_uri, client.has_collection, meta, timeout=settings.milvus_timeout):
            _call(settings.milvus_uri, ms.load_collections, client, settings.milvus_collection)
            got = _call(settings.milvus_uri, client.get, meta, ids=["manifest"], output_fields=["value"])
            manifest = json.loads(got[0]["value"]) if got else None
        if manifest is None:
            if not create:
                raise IndexMissingError(f"no index in {where}: run `sihub --backend milvus ingest corpus/` first")
            if dim is None:
                raise SihubError("creating an index needs the embedder dimension")
            manifest = {
                "schema": ms.SCHEMA_VERSION,
                "backend": "milvus",
                "sihub": __version__,
                "embedder": {"id": embedder_id, "dim": int(dim)},
                "chunker": chunker or {},
                "lexical": lexical.ANALYZER_VERSION,
                "created_at": _now(),
            }
            _call(settings.milvus_uri, ms.create_collections, client, settings.milvus_collection, int(dim))
            _call(settings.milvus_uri, client.upsert, meta, [_meta_row("manifest", manifest)])
        else:
            check_manifest(manifest, where, embedder_id, chunker if writable else None)
            _call(
                settings.milvus_uri,
                ms.create_collections,
                client,
                settings.milvus_collection,
                int(manifest["embedder"]["dim"]),
            )
        return cls(client, settings, manifest, writable)

    @staticmethod
    def destroy(settings: Settings) -> None:
        """Drop the hub's collections (for `--rebuild`); refused while another writer holds the lease."""
        client = connect(settings)
        names = [f"{settings.milvus_collection}_{n}" for n in ("chunks", "documents", "meta")]
        meta = names[2]
        if _call(settings.milvus_uri, client.has_collection, meta):
            got = _call(settings.milvus_uri, client.get, meta, ids=["lease"], output_fields=["value"])
            if got:
                lease = json.loads(got[0]["value"])
                if lease.get("until", 0) > time.time():
                    raise IndexLockedError(
                        f"another ingest is writing to {describe(settings)} ({_holder(lease)}); wait for it to finish"
                    )
        for name in names:
            if _call(settings.milvus_uri, client.has_collection, name):
                _call(settings.milvus_uri, client.drop_collection, name)

    def close(self) -> None:
        try:
            if self.writable and self._lease_until:
                got = self._get("meta", ["lease"], ["value"])
                if got and json.loads(got[0]["value"]).get("owner") == self._owner:
                    self._c("delete", self._name("meta"), ids=["lease"])
                self._lease_until = 0.0
        finally:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - closing a connection to a server that is gone
                pass

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- calls ----------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"{self.prefix}_{kind}"

    def _c(self, method: str, *args: Any, **kw: Any) -> Any:
        """`MilvusClient.<method>(...)`; a failed call is tried once more a moment later (gRPC
        reconnects by itself to a restarted server), then reported as one IndexUnavailableError
        line. Every write is an upsert or a delete by key: a repeated call leaves no duplicate."""
        try:
            return _call(self.uri, getattr(self._client, method), *args, timeout=self.timeout, **kw)
        except IndexUnavailableError as exc:
            time.sleep(RETRY_PAUSE)
            if "load" in str(exc):  # a restarted server holds the collections released
                _call(self.uri, ms.load_collections, self._client, self.prefix)
            return _call(self.uri, getattr(self._client, method), *args, timeout=self.timeout, **kw)

    def _get(self, kind: str, ids: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH):
            out += self._c("get", self._name(kind), ids=ids[start : start + BATCH], output_fields=fields)
        return out

    def _query(self, kind: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row of `kind` matching `expr`, a page at a time (in id order)."""
        key = "key" if kind == "meta" else "id"
        out: list[dict[str, Any]] = []
        last: Any = None
        while True:
            cond = expr
            if last is not None:
                bound = f"{key} > {ms.quote(last) if isinstance(last, str) else int(last)}"
                cond = f"({expr}) and {bound}" if expr else bound
            rows = self._c("query", self._name(kind), filter=cond or f"{key} >= 0", output_fields=fields, limit=PAGE)
            rows = sorted(rows, key=lambda r: r[key])
            out += rows
            if len(rows) < PAGE:
                return out
            last = rows[-1][key]

    def _meta(self, key: str) -> Any:
        got = self._get("meta", [key], ["value"])
        return json.loads(got[0]["value"]) if got else None

    def _set_meta(self, items: dict[str, Any]) -> None:
        self._c("upsert", self._name("meta"), [_meta_row(k, v) for k, v in items.items()])

    # ---- the write lease and recovery -------------------------------------------------------

    def _acquire(self) -> None:
        lease = self._meta("lease")
        if lease and lease.get("owner") != self._owner and lease.get("until", 0) > time.time():
            raise IndexLockedError(
                f"another ingest is writing to {describe_self(self)} ({_holder(lease)}); wait for it to finish"
            )
        self._renew(force=True)
        time.sleep(0.05)
        lease = self._meta("lease")
        if not lease or lease.get("owner") != self._owner:  # another writer took it at the same moment
            raise IndexLockedError(
                f"another ingest is writing to {describe_self(self)} ({_holder(lease or {})}); wait for it to finish"
            )
        self._counters = self._meta("counters") or {"doc": 0, "chunk": 0, "ver": 0}

    def _renew(self, force: bool = False) -> None:
        """Extend the lease when less than half of it is left; a writer that lost it stops."""
        now = time.time()
        if not force and self._lease_until - now > LEASE_SECONDS / 2:
            return
        if not force:
            lease = self._meta("lease")
            if lease and lease.get("owner") != self._owner:
                raise IndexLockedError(
                    f"the write lease on {describe_self(self)} was taken over ({_holder(lease)}); stopping"
                )
        until = now + LEASE_SECONDS
        lease = {"owner": self._owner, "pid": os.getpid(), "host": socket.gethostname(), "until": until}
        self._set_meta({"lease": lease})
        self._lease_until = until

    def _require_writable(self) -> None:
        if not self.writable:
            raise SihubError("index opened read-only")
        self._renew()

    def _take(self, name: str, n: int = 1) -> int:
        """Reserve `n` ids of counter `name`; the caller records `counters` before using them."""
        first = self._counters.get(name, 0) + 1
        self._counters[name] = first + n - 1
        return first

    def _recover(self) -> None:
        """Finish or undo the step a killed writer left (`pending`), then rebuild the statistics."""
        pending = self._meta("pending")
        if not pending:
            return
        doc_id = int(pending["doc"])
        got = self._get("documents", [doc_id], ["ver"])
        chunks = self._name("chunks")
        if not got:  # a removal, or a first version never flipped in: none of its chunks stays
            self._c("delete", chunks, filter=f"doc_id == {doc_id}")
        else:  # flipped or not, the registry's version is the one to keep
            self._c("delete", chunks, filter=f"doc_id == {doc_id} and ver != {int(got[0]['ver'])}")
        self._rebuild_stats()
        self._bump({"pending": None})

    def _bump(self, extra: dict[str, Any] | None = None) -> None:
        """Publish a change: readers reload the registry and statistics when the generation moves."""
        items = {k: v for k, v in (extra or {}).items() if v is not None}
        self._generation = int(self._meta("generation") or 0) + 1
        items["generation"] = self._generation
        self._set_meta(items)
        for k, v in (extra or {}).items():
            if v is None:
                self._c("delete", self._name("meta"), ids=[k])

    # ---- reading the registry -------------------------------------------------------------

    def refresh(self) -> bool:
        """Pick up what a writer committed (the registry and statistics). True if it changed."""
        gen = int(self._meta("generation") or 0)
        if gen == self._generation and self._docs is not None and self._generation >= 0:
            return False
        rows = self._query("documents", "", ["id", "path", "ver", "doc"])
        docs = {int(r["id"]): ms.row_doc(r) for r in rows}
        self._docs = docs
        self._vers = {int(r["id"]): int(r["ver"]) for r in rows}
        self._by_path = {d.path: i for i, d in docs.items()}
        stats = self._meta("langs") or {}
        self._stats = {
            lang: (int(v["n"]), np.asarray(v["sum"], dtype=np.float64)) for lang, v in stats.items() if int(v["n"]) > 0
        }
        self._terms = {}
        self._generation = gen
        return True

    def consistent(self, read: Callable[[], T], attempts: int = 5) -> T:
        """Run `read()` against one committed state: again when a writer published meanwhile."""
        result: T
        for _ in range(attempts):
            self.refresh()
            gen = self._generation
            result = read()
            if int(self._meta("generation") or 0) == gen:
                return result
        return read()

    def save(self) -> None:
        """Flush the collections (Milvus persists what it acknowledged; this seals it to storage)."""
        if self.writable:
            for kind in ("chunks", "documents", "meta"):
                self._c("flush", self._name(kind))

    def _live(self, doc_id: int, ver: int) -> bool:
        return self._vers.get(int(doc_id)) == int(ver)

    @property
    def base(self) -> Path | None:
        value = self._meta("base")
        return Path(value) if value else None

    def set_base(self, folder: Path) -> None:
        self._require_writable()
        self._set_meta({"base": str(Path(folder).resolve())})

    @property
    def size(self) -> int:
        return sum(d.chunks for d in self._docs.values())

    def documents(self) -> list[Document]:
        return [_copy(d) for d in sorted(self._docs.values(), key=lambda d: d.path)]

    def document(self, path: str) -> Document | None:
        i = self._by_path.get(path)
        return _copy(self._docs[i]) if i is not None else None

    def _chunks_of_doc(self, doc_id: int) -> list[Chunk]:
        ver = self._vers.get(doc_id)
        if ver is None:
            return []
        rows = self._query("chunks", f"doc_id == {doc_id} and ver == {ver}", ms.CHUNK_FIELDS)
        return sorted((ms.row_chunk(r) for r in rows), key=lambda c: c.ord)

    def chunks_of(self, path: str) -> list[Chunk]:
        i = self._by_path.get(path)
        return self._chunks_of_doc(i) if i is not None else []

    def chunk_texts(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        self.refresh()
        for doc_id in sorted(self._docs):
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
                covered = any(
                    o.doc_id == n.doc_id and o.page == n.page and o.start <= n.start and n.end <= o.end for o in chunks
                )
                if n.id not in seen and not covered:
                    seen.add(n.id)
                    out.append(n)
        return out

    def hits_for(self, scored: list[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        rows = {int(r["id"]): r for r in self._get("chunks", [int(i) for i, _ in scored], ms.CHUNK_FIELDS)}
        out = []
        for cid, score in scored:
            r = rows.get(int(cid))
            if r is None or not self._live(r["doc_id"], r["ver"]):
                continue
            doc = self._docs[int(r["doc_id"])]
            out.append(Hit(chunk=ms.row_chunk(r), score=float(score), title=doc.title, doc_meta=dict(doc.meta)))
        return out

    # ---- searches ---------------------------------------------------------------------------

    def chunk_ids_where(self, filters: dict[str, list[str]]) -> np.ndarray:
        expr = ms.filter_expression(filters, list(self._docs.values()))
        if expr is None:
            return np.zeros(0, dtype=np.int64)
        live = self._live_expr()
        expr = f"({expr}) and {live}" if expr else live
        ids = [
            int(r["id"])
            for r in self._query("chunks", expr, ["id", "doc_id", "ver"])
            if self._live(r["doc_id"], r["ver"])
        ]
        sel = np.array(sorted(ids), dtype=np.int64).view(Selection)
        sel.expr = expr
        return sel

    def _live_expr(self) -> str:
        return f"doc_id in {ms.id_list(self._vers)}" if self._vers else "id < 0"

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
        res = self._c(
            "search",
            self._name("chunks"),
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
                if self._live(ent["doc_id"], ent["ver"]):
                    # BM25 comes back negated from Milvus Lite, positive from a server: always >= 0.
                    score = abs(float(h["distance"])) if metric == "BM25" else float(h["distance"])
                    found.append((int(h["id"]), score))
            out.append(found[:k])
        return out

    def search_dense(self, query: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        if k <= 0 or (ids is not None and len(ids) == 0) or not self._vers:
            return []
        vec = [float(x) for x in np.asarray(query, dtype=np.float32).ravel()]
        return self._search("vec", [vec], k, self._restrict(ids), "IP")[0]

    def _lex_query(self, text: str, lang: str) -> str:
        return " ".join(fts_token(t) for t in lexical.query_terms(text, lang)[:64])

    def search_lexical(
        self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        q = self._lex_query(text, lang)
        if not q.strip() or k <= 0 or (ids is not None and len(ids) == 0) or not self._vers:
            return []
        return self._search("sparse", [q], k, self._restrict(ids), "BM25")[0]

    def lexical_scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        q = self._lex_query(text, lang)
        if not q.strip() or not chunk_ids:
            return {}
        out: dict[int, float] = {}
        ids = [int(i) for i in chunk_ids]
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            out.update(self._search("sparse", [q], len(part), f"id in {ms.id_list(part)}", "BM25")[0])
        return out

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0 or not self._vers:
            return [], {}
        q = " ".join(fts_token(t) for t in terms)
        found = self._search("sparse", [q], k, None, "BM25")[0] if q.strip() else []
        counts = self.term_counts([fts_token(t) for t in terms])
        return found, {t: counts.get(fts_token(t), 0) for t in terms}

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """Chunks holding each analysed term, by one BM25 search per term (all in one call), up
        to `COUNT_LIMIT`; remembered until a writer publishes a change."""
        terms = [t for t in dict.fromkeys(terms) if t]
        todo = [t for t in terms if t not in self._terms]
        # A term Milvus's analyzer would split (not one word) holds in no chunk as one token.
        asked = [t for t in todo if lexical.tokens(t) == [t]]
        for t in todo:
            self._terms[t] = 0
        if asked and self._vers:
            for start in range(0, len(asked), 16):
                part = asked[start : start + 16]
                res = self._c(
                    "search",
                    self._name("chunks"),
                    data=part,
                    anns_field="sparse",
                    limit=COUNT_LIMIT,
                    search_params={"metric_type": "BM25"},
                )
                for t, hits in zip(part, res, strict=True):
                    self._terms[t] = len(hits)
        return {t: self._terms.get(t, 0) for t in terms}

    def vectors_by_id(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        rows = self._get("chunks", [int(i) for i in chunk_ids], ["id", "doc_id", "ver", "vec"])
        return {int(r["id"]): np.asarray(r["vec"], dtype=np.float32) for r in rows if self._live(r["doc_id"], r["ver"])}

    def vectors_for(self, chunk_ids: list[int]) -> np.ndarray:
        got = self.vectors_by_id(chunk_ids)
        return np.stack([got[int(i)] for i in chunk_ids if int(i) in got])

    def language_shares(self) -> dict[str, float]:
        total = sum(n for n, _ in self._stats.values()) or 1
        return {lang: n / total for lang, (n, _) in self._stats.items()}

    def language_means(self) -> dict[str, tuple[int, np.ndarray]]:
        return {lang: (n, (s / n).astype(np.float32)) for lang, (n, s) in self._stats.items()}

    def stats(self) -> dict[str, Any]:
        self.refresh()  # a health check: reaches the server, and reports what it holds now
        return {
            "documents": len(self._docs),
            "chunks": self.size,
            "vectors": self.size,
            "embedder": self.manifest["embedder"]["id"],
        }

    def consistency_problems(self) -> list[str]:
        """Empty when every document's chunks are there at its version and no other chunk is."""
        self.refresh()
        rows = self._query("chunks", "", ["id", "doc_id", "ver"])
        live: dict[int, int] = {}
        stale = 0
        for r in rows:
            if self._live(r["doc_id"], r["ver"]):
                live[int(r["doc_id"])] = live.get(int(r["doc_id"]), 0) + 1
            else:
                stale += 1
        problems = []
        wrong = [d.path for i, d in self._docs.items() if live.get(i, 0) != d.chunks]
        if wrong:
            problems.append(f"{len(wrong)} documents with missing chunks (e.g. {wrong[0]})")
        if stale:
            problems.append(f"{stale} chunks of no current document version")
        return problems

    # ---- writing ---------------------------------------------------------------------------

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), BATCH):
            part = hashes[start : start + BATCH]
            expr = f"hash in [{','.join(ms.quote(h) for h in part)}]"
            for r in self._c("query", self._name("chunks"), filter=expr, output_fields=["hash", "vec"], limit=PAGE):
                out.setdefault(r["hash"], np.asarray(r["vec"], dtype=np.float32))
        return out

    def put_document(self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray]) -> Document:
        """Write the new chunks under a new version, flip the registry to it, delete the old ones."""
        self._require_writable()
        old_id = self._by_path.get(doc.path)
        doc.id = old_id if old_id is not None else self._take("doc")
        doc.chunks = len(chunks)
        doc.ingested_at = _now()
        ver = self._take("ver")
        first = self._take("chunk", max(1, len(chunks)))
        # Recorded before any row is written: no id is handed out twice, and the next writer
        # knows which document a killed one was replacing.
        self._set_meta({"counters": self._counters, "pending": {"doc": doc.id, "ver": ver}})
        rows = []
        for n, c in enumerate(chunks):
            c.id, c.doc_id = first + n, doc.id
            rows.append(
                ms.chunk_row(c, doc, ver, fts_token(lexical.analyze(f"{c.heading}\n{c.text}", c.lang)), vectors[c.hash])
            )
        for start in range(0, len(rows), BATCH):
            self._c("upsert", self._name("chunks"), rows[start : start + BATCH])
            self._renew()
        self._replace(doc, ver, [(c.lang, np.asarray(vectors[c.hash], dtype=np.float64)) for c in chunks])
        return doc

    def _replace(self, doc: Document, ver: int | None, added: list[tuple[str, np.ndarray]]) -> None:
        """Flip the registry row of `doc` to `ver` (None: remove it), delete the chunks of other
        versions, update the statistics and publish."""
        assert doc.id is not None
        old = self._vers.get(doc.id)
        removed: list[tuple[str, np.ndarray]] = []
        if old is not None:
            rows = self._query("chunks", f"doc_id == {doc.id} and ver == {old}", ["id", "lang", "vec"])
            removed = [(r["lang"], np.asarray(r["vec"], dtype=np.float64)) for r in rows]
        if ver is None:
            self._c("delete", self._name("documents"), ids=[doc.id])
            self._c("delete", self._name("chunks"), filter=f"doc_id == {doc.id}")
            self._docs.pop(doc.id, None)
            self._vers.pop(doc.id, None)
            self._by_path.pop(doc.path, None)
        else:
            self._c("upsert", self._name("documents"), [ms.doc_row(doc, ver)])
            self._c("delete", self._name("chunks"), filter=f"doc_id == {doc.id} and ver != {ver}")
            self._docs[doc.id] = _copy(doc)
            self._vers[doc.id] = ver
            self._by_path[doc.path] = doc.id
        self._apply_stats(added, removed)
        self._bump({"langs": self._stats_json(), "pending": None})

    def _apply_stats(self, added: list[tuple[str, np.ndarray]], removed: list[tuple[str, np.ndarray]]) -> None:
        for items, sign in ((added, 1), (removed, -1)):
            for lang, vec in items:
                n, s = self._stats.get(str(lang), (0, np.zeros(self.dim, dtype=np.float64)))
                self._stats[str(lang)] = (n + sign, s + sign * vec)
        self._stats = {k: v for k, v in self._stats.items() if v[0] > 0}

    def _stats_json(self) -> dict[str, Any]:
        return {lang: {"n": n, "sum": [float(x) for x in s]} for lang, (n, s) in self._stats.items()}

    def _rebuild_stats(self) -> None:
        self.refresh()
        self._stats = {}
        rows = self._query("chunks", self._live_expr(), ["id", "doc_id", "ver", "lang", "vec"])
        self._apply_stats(
            [(r["lang"], np.asarray(r["vec"], dtype=np.float64)) for r in rows if self._live(r["doc_id"], r["ver"])], []
        )
        self._set_meta({"langs": self._stats_json()})

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """New catalogue fields (and mtime) for a document: its registry row and its chunks' filter fields."""
        self._require_writable()
        i = self._by_path.get(path)
        if i is None:
            return
        doc = _copy(self._docs[i])
        doc.meta = dict(meta)
        if mtime is not None:
            doc.mtime = mtime
        ver = self._vers[i]
        rows = self._query("chunks", f"doc_id == {i} and ver == {ver}", [*ms.CHUNK_FIELDS, "lex", "vec"])
        for r in rows:
            for name in ms.FILTER_FIELDS:
                r[name] = ms.cut(ms.filter_value(meta.get(name)), 1024)
        for start in range(0, len(rows), BATCH):
            self._c("upsert", self._name("chunks"), rows[start : start + BATCH])
        self._c("upsert", self._name("documents"), [ms.doc_row(doc, ver)])
        self._docs[i] = doc
        self._bump()

    def remove_document(self, path: str) -> bool:
        self._require_writable()
        i = self._by_path.get(path)
        if i is None:
            return False
        self._set_meta({"pending": {"doc": i, "ver": None}})
        self._replace(self._docs[i], None, [])
        return True

    def prune_embeddings(self) -> int:
        """Nothing to prune: a chunk's vector lives in its row and goes with it."""
        self._require_writable()
        return 0


def _copy(doc: Document) -> Document:
    return Document(**{**doc.__dict__, "meta": dict(doc.meta), "langs": list(doc.langs)})


def _meta_row(key: str, value: Any) -> dict[str, Any]:
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode("utf-8")) > ms.TEXT_MAX:
        raise SihubError(f"index record {key!r} too large to store in Milvus ({len(text)} characters)")
    return {"key": key, "value": text, "v": ms.PLACEHOLDER}


def _holder(lease: dict[str, Any]) -> str:
    if not lease:
        return "another process"
    left = max(0, int(lease.get("until", 0) - time.time()))
    return f"pid {lease.get('pid')} on {lease.get('host')}, lease ends in {left} s"


def describe(settings: Settings) -> str:
    return f"Milvus {settings.milvus_uri} (collections {settings.milvus_collection}_*)"


def describe_self(index: MilvusIndex) -> str:
    return f"Milvus {index.uri} (collections {index.prefix}_*)"


def check_manifest(manifest: dict[str, Any], where: str, embedder_id: str, chunker: dict[str, Any] | None) -> None:
    fix = "run `sihub --backend milvus ingest --rebuild PATH...`"
    if manifest.get("schema") != ms.SCHEMA_VERSION or manifest.get("backend") != "milvus":
        raise IndexMismatchError(
            f"index in {where} has schema {manifest.get('schema')}, this sihub reads {ms.SCHEMA_VERSION}: {fix}"
        )
    built = manifest.get("embedder", {}).get("id")
    if built != embedder_id:
        raise IndexMismatchError(
            f"index in {where} was built with embedder {built!r}, settings ask for {embedder_id!r}: {fix}"
        )
    if manifest.get("lexical") != lexical.ANALYZER_VERSION:
        raise IndexMismatchError(
            f"index in {where} has lexical analyzer {manifest.get('lexical')!r}, this sihub uses {lexical.ANALYZER_VERSION!r}: {fix}"
        )
    if chunker is not None and manifest.get("chunker") != chunker:
        raise IndexMismatchError(
            f"index in {where} was cut with chunker settings {manifest.get('chunker')}, settings ask for {chunker}: {fix}"
        )


def connect(settings: Settings) -> Any:
    """A `MilvusClient` for the settings' URI (a `.db` path: Milvus Lite in this process)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise SihubError("the milvus backend needs pymilvus and milvus-lite: pip install 'sihub[milvus]'") from None
    uri = settings.milvus_uri
    if uri.endswith(".db"):
        path = Path(uri).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
    kw: dict[str, Any] = {"uri": uri, "timeout": float(settings.milvus_timeout)}
    if settings.milvus_token:
        kw["token"] = settings.milvus_token
    return _call(settings.milvus_uri, MilvusClient, **kw)


def _call(where: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """`fn(*args, **kw)`, a failure of Milvus (down, slow, refusing) as one IndexUnavailableError line."""
    try:
        return fn(*args, **kw)
    except SihubError:
        raise
    except Exception as exc:  # noqa: BLE001 - pymilvus and grpc raise many kinds
        if _is_milvus_error(exc):
            raise ms.unavailable(where, exc) from exc
        raise


def _is_milvus_error(exc: BaseException) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith(("pymilvus", "grpc", "milvus_lite")) or isinstance(exc, (ConnectionError, TimeoutError))


__all__ = ["MilvusIndex", "IndexUnavailableError", "Selection", "connect"]
