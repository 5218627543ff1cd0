"""The Milvus backend's connection: calls through `MilvusClient`, each failure one clear line.

`Collections` is the one place that talks to Milvus: a call that fails (server down, slow,
restarted) is tried once more a moment later and then raised as IndexUnavailableError; whole
collections are read a page at a time; the `meta` collection's JSON records are read and written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sihub.errors import IndexUnavailableError, SihubError

from . import milvus_schema as ms

if TYPE_CHECKING:
    from sihub.settings import Settings

T = TypeVar("T")

BATCH = 500
"""Rows per write, and ids per `in [...]` lookup."""
PAGE = 4096
"""Rows per page when reading a whole collection (and the most a `query` with a limit returns)."""
WARM_TIMEOUT = 600.0
"""Seconds the first searches after loading the collections may take (`Collections.load`)."""
RETRY_PAUSE = 1.0
"""Seconds before a failed Milvus call is tried the second and last time."""
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 330_000, "grpc.keepalive_permit_without_calls": False}
"""gRPC keepalive pings every 5.5 minutes, and only during calls: a gRPC server's default policy
(Milvus Lite's server keeps it) closes a connection pinged more often than every 5 minutes
("too many pings"), which pymilvus's default of 10 seconds does to an idle `sihub serve`."""


class Collections:
    """The collections of one hub (`<prefix>_chunks`, `_documents`, `_meta`, …, `milvus_schema.KINDS`) on one connection."""

    def __init__(self, settings: Settings) -> None:
        self.uri = settings.milvus_uri
        self.prefix = settings.milvus_collection
        self.timeout = float(settings.milvus_timeout)
        self.where = describe(settings)
        self.client = connect(settings)

    def name(self, kind: str) -> str:
        return f"{self.prefix}_{kind}"

    def call(self, method: str, *args: Any, **kw: Any) -> Any:
        """`MilvusClient.<method>(...)`; a failed call is tried once more a moment later (gRPC
        reconnects by itself to a restarted server), then reported as one IndexUnavailableError
        line. Every write is an upsert or a delete by key: a repeated call leaves no duplicate."""
        return self._retrying(lambda: getattr(self.client, method)(*args, timeout=self.timeout, **kw))

    def _retrying(self, fn: Callable[[], T]) -> T:
        try:
            return _call(self.uri, fn)
        except IndexUnavailableError as exc:
            time.sleep(RETRY_PAUSE)
            if "load" in str(exc):  # a restarted server holds the collections released
                self.load()
            return _call(self.uri, fn)

    def exists(self) -> bool:
        """Whether the hub's collections are there (loaded for use when they are)."""
        if not self.call("has_collection", self.name("meta")):
            return False
        self.load()
        return True

    def load(self) -> None:
        """Load the collections, and search the passages once, dense and BM25, with time to
        spare: Milvus Lite builds a segment's search index in Python at its first search (45 s
        for a 100k-passage segment, past the call timeout), so the first question would fail."""
        _call(self.uri, ms.load_collections, self.client, self.prefix)
        chunks = self.name("chunks")
        if not self.call("has_collection", chunks):
            return
        dim = next(f["params"]["dim"] for f in self.call("describe_collection", chunks)["fields"] if f["name"] == "vec")
        for field, data, metric in (("sparse", "sihub", "BM25"), ("vec", [0.0] * (int(dim) - 1) + [1.0], "IP")):
            _call(
                self.uri,
                self.client.search,
                chunks,
                data=[data],
                anns_field=field,
                limit=1,
                search_params={"metric_type": metric},
                timeout=max(self.timeout, WARM_TIMEOUT),
            )

    def create(self, dim: int) -> None:
        _call(self.uri, ms.create_collections, self.client, self.prefix, dim)

    def drop(self) -> None:
        for kind in reversed(ms.KINDS):
            if self.call("has_collection", self.name(kind)):
                self.call("drop_collection", self.name(kind))

    def get(self, kind: str, ids: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH):
            out += self.call("get", self.name(kind), ids=ids[start : start + BATCH], output_fields=fields)
        return out

    def query(self, kind: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row of `kind` matching `expr`, read a page at a time by a query iterator. (A
        plain query with a limit returns its rows in no set order, Milvus Lite's in storage
        order: paging on from the largest key seen skipped every row of a smaller key not in
        the page — with more than a page of words, most of the index's vocabulary.)"""

        def read() -> list[dict[str, Any]]:
            it = self.client.query_iterator(
                self.name(kind), batch_size=PAGE, filter=expr, output_fields=fields, timeout=self.timeout
            )
            out: list[dict[str, Any]] = []
            try:
                while batch := it.next():
                    out += batch
            finally:
                it.close()
            return out

        return self._retrying(read)

    def upsert(self, kind: str, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), BATCH):
            self.call("upsert", self.name(kind), rows[start : start + BATCH])

    def delete(self, kind: str, **kw: Any) -> None:
        self.call("delete", self.name(kind), **kw)

    def meta(self, key: str) -> Any:
        """The JSON record `key` of the meta collection (None when absent)."""
        got = self.get("meta", [key], ["value"])
        return json.loads(got[0]["value"]) if got else None

    def set_meta(self, items: dict[str, Any]) -> None:
        """Write these records (a None value deletes its record)."""
        rows = [meta_row(k, v) for k, v in items.items() if v is not None]
        if rows:
            self.upsert("meta", rows)
        gone = [k for k, v in items.items() if v is None]
        if gone:
            self.delete("meta", ids=gone)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a connection to a server that is gone
            pass


def meta_row(key: str, value: Any) -> dict[str, Any]:
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode("utf-8")) > ms.TEXT_MAX:
        raise SihubError(f"index record {key!r} too large to store in Milvus ({len(text)} characters)")
    return {"key": key, "value": text, "v": ms.PLACEHOLDER}


def describe(settings: Settings) -> str:
    return f"Milvus {settings.milvus_uri} (collections {settings.milvus_collection}_*)"


class _NoSessionTs(logging.Filter):
    """Drops pymilvus's warning that the server gave its query iterator no snapshot timestamp
    (Milvus Lite never does; the iterator then uses the client's clock, which is right for it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


def connect(settings: Settings) -> Any:
    """A `MilvusClient` for the settings' URI (a `.db` path: Milvus Lite in this process)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise SihubError("the milvus backend needs pymilvus and milvus-lite: pip install 'sihub[milvus]'") from None
    iterator_log = logging.getLogger("pymilvus.client.iterator.query_iterator")
    if not any(isinstance(f, _NoSessionTs) for f in iterator_log.filters):
        iterator_log.addFilter(_NoSessionTs())
    uri = settings.milvus_uri
    if uri.endswith(".db"):
        path = Path(uri).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
    kw: dict[str, Any] = {"uri": uri, "timeout": float(settings.milvus_timeout), "grpc_options": GRPC_OPTIONS}
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
        mod = type(exc).__module__ or ""
        if mod.startswith(("pymilvus", "grpc", "milvus_lite")) or isinstance(exc, (ConnectionError, TimeoutError)):
            raise ms.unavailable(where, exc) from exc
        raise
