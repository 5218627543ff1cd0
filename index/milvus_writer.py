"""The Milvus backend's one writer: the lease, id counters, document replacement and recovery.

One writer at a time holds a lease record (owner, expiry) in `meta` and renews it while it
works, so a killed writer blocks the next one for at most `LEASE_SECONDS` (not at all when it
ran on the same machine: its process is seen to be gone). A document is
replaced in three steps — its new chunks written under a new version number, then the registry
row flipped to that version, then the chunks of other versions deleted — after a `pending`
record names the document, so the next writer finishes or undoes what a killed one left.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sihub.errors import IndexLockedError
from sihub.types import Chunk, Document

from . import lexical
from . import milvus_schema as ms
from .milvus_client import Collections
from .milvus_registry import Registry, copy

LEASE_SECONDS = 30.0
"""How long a writer's lease lasts without renewal (it renews at every write)."""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class Writer:
    """Writes of one process that holds the hub's lease (taken when made; `release` gives it back)."""

    def __init__(self, cols: Collections, reg: Registry) -> None:
        self.cols = cols
        self.reg = reg
        self.owner = uuid.uuid4().hex
        self.until = 0.0
        lease = cols.meta("lease")
        if lease and lease.get("owner") != self.owner and lease.get("until", 0) > time.time() and not _dead(lease):
            raise IndexLockedError(
                f"another ingest is writing to {cols.where} ({holder(lease)}); wait for it to finish"
            )
        self.renew(force=True)
        time.sleep(0.05)
        lease = cols.meta("lease")
        if not lease or lease.get("owner") != self.owner:  # another writer took it at the same moment
            raise IndexLockedError(
                f"another ingest is writing to {cols.where} ({holder(lease or {})}); wait for it to finish"
            )
        self.counters: dict[str, int] = cols.meta("counters") or {"doc": 0, "chunk": 0, "ver": 0}
        reg.refresh(cols)
        self.recover()

    def renew(self, force: bool = False) -> None:
        """Extend the lease when less than half of it is left; a writer that lost it stops."""
        now = time.time()
        if not force and self.until - now > LEASE_SECONDS / 2:
            return
        if not force:
            lease = self.cols.meta("lease")
            if lease and lease.get("owner") != self.owner:
                raise IndexLockedError(
                    f"the write lease on {self.cols.where} was taken over ({holder(lease)}); stopping"
                )
        until = now + LEASE_SECONDS
        self.cols.set_meta(
            {"lease": {"owner": self.owner, "pid": os.getpid(), "host": socket.gethostname(), "until": until}}
        )
        self.until = until

    def release(self) -> None:
        if self.until:
            lease = self.cols.meta("lease")
            if lease and lease.get("owner") == self.owner:
                self.cols.set_meta({"lease": None})
            self.until = 0.0

    def _take(self, name: str, n: int = 1) -> int:
        """Reserve `n` ids of counter `name`; the caller records `counters` before using them."""
        first = self.counters.get(name, 0) + 1
        self.counters[name] = first + n - 1
        return first

    def recover(self) -> None:
        """Finish or undo the step a killed writer left (`pending`), then recount the statistics."""
        pending = self.cols.meta("pending")
        if not pending:
            return
        doc_id = int(pending["doc"])
        got = self.cols.get("documents", [doc_id], ["ver"])
        if not got:  # a removal, or a first version never flipped in: none of its chunks stays
            self.cols.delete("chunks", filter=f"doc_id == {doc_id}")
        else:  # flipped or not, the registry's version is the one to keep
            self.cols.delete("chunks", filter=f"doc_id == {doc_id} and ver != {int(got[0]['ver'])}")
        self.reg.langs = {}
        rows = self.cols.query("chunks", "", ["id", "doc_id", "ver", "lang", "vec"])
        self.reg.count([(r["lang"], r["vec"]) for r in rows if self.reg.live(r["doc_id"], r["ver"])], [])
        self.publish({"langs": self.reg.langs_json(), "pending": None})

    def publish(self, records: dict[str, Any] | None = None) -> None:
        """Write `records` with a new generation: readers reload the registry when it moves."""
        self.reg.generation = int(self.cols.meta("generation") or 0) + 1
        self.cols.set_meta({**(records or {}), "generation": self.reg.generation})

    def set_base(self, folder: Path) -> None:
        self.renew()
        self.cols.set_meta({"base": str(Path(folder).resolve())})

    def put_document(self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray]) -> Document:
        """Write the new chunks under a new version, flip the registry to it, delete the old ones."""
        self.renew()
        old_id = self.reg.by_path.get(doc.path)
        doc.id = old_id if old_id is not None else self._take("doc")
        doc.chunks = len(chunks)
        doc.ingested_at = _now()
        ver = self._take("ver")
        first = self._take("chunk", max(1, len(chunks)))
        # Recorded before any row is written: no id is handed out twice, and the next writer
        # knows which document a killed one was replacing.
        self.cols.set_meta({"counters": self.counters, "pending": {"doc": doc.id, "ver": ver}})
        rows = []
        for n, c in enumerate(chunks):
            c.id, c.doc_id = first + n, doc.id
            lex = ms.lex_words(lexical.analyze(f"{c.heading}\n{c.text}", c.lang))
            rows.append(ms.chunk_row(c, doc, ver, lex, vectors[c.hash]))
        self.cols.upsert("chunks", rows)
        self.renew()
        self.replace(doc, ver, [(c.lang, vectors[c.hash]) for c in chunks])
        return doc

    def replace(self, doc: Document, ver: int | None, added: list[tuple[str, np.ndarray]]) -> None:
        """Flip the registry row of `doc` to `ver` (None: remove it), delete the chunks of other
        versions, update the statistics and publish."""
        assert doc.id is not None
        old = self.reg.vers.get(doc.id)
        removed: list[tuple[str, np.ndarray]] = []
        if old is not None:
            rows = self.cols.query("chunks", f"doc_id == {doc.id} and ver == {old}", ["id", "lang", "vec"])
            removed = [(r["lang"], r["vec"]) for r in rows]
        if ver is None:
            self.cols.delete("documents", ids=[doc.id])
            self.cols.delete("chunks", filter=f"doc_id == {doc.id}")
            self.reg.drop(doc)
        else:
            self.cols.upsert("documents", [ms.doc_row(doc, ver)])
            self.cols.delete("chunks", filter=f"doc_id == {doc.id} and ver != {ver}")
            self.reg.put(doc, ver)
        self.reg.count(added, removed)
        self.publish({"langs": self.reg.langs_json(), "pending": None})

    def update_meta(self, path: str, meta: dict[str, Any], mtime: float | None = None) -> None:
        """New catalogue fields (and mtime): the registry row and the chunks' filter fields."""
        self.renew()
        i = self.reg.by_path.get(path)
        if i is None:
            return
        doc = copy(self.reg.docs[i])
        doc.meta = dict(meta)
        if mtime is not None:
            doc.mtime = mtime
        ver = self.reg.vers[i]
        rows = self.cols.query("chunks", f"doc_id == {i} and ver == {ver}", [*ms.CHUNK_FIELDS, "lex", "vec"])
        for r in rows:
            for name in ms.FILTER_FIELDS:
                r[name] = ms.cut(ms.filter_value(meta.get(name)), 1024)
        self.cols.upsert("chunks", rows)
        self.cols.upsert("documents", [ms.doc_row(doc, ver)])
        self.reg.put(doc, ver)
        self.publish()

    def remove_document(self, path: str) -> bool:
        self.renew()
        i = self.reg.by_path.get(path)
        if i is None:
            return False
        self.cols.set_meta({"pending": {"doc": i, "ver": None}})
        self.replace(self.reg.docs[i], None, [])
        return True


def _dead(lease: dict[str, Any]) -> bool:
    """Whether the lease's holder was a process on this machine that is gone (killed): its lease
    need not run out before the next writer goes on."""
    if lease.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(lease.get("pid") or 0), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


def holder(lease: dict[str, Any]) -> str:
    """Who holds a lease, for messages."""
    if not lease:
        return "another process"
    left = max(0, int(lease.get("until", 0) - time.time()))
    return f"pid {lease.get('pid')} on {lease.get('host')}, lease ends in {left} s"
