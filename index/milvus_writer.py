"""The Milvus backend's one writer: the lease, id counters, document replacement and recovery.

One writer at a time holds a lease record (owner, expiry) in `meta` and renews it while it
works, so a killed writer blocks the next one for at most `LEASE_SECONDS` (not at all when it
ran on the same machine: its process is seen to be gone). A document is
replaced in three steps — its new chunks written under a new version number, then the registry
row flipped to that version, then the chunks of other versions deleted — after a `pending`
record names the document, so the next writer finishes or undoes what a killed one left.
A document's answer rows (`milvus_answers.py`) go with its chunks: quote rows under the same
version, word counts changed before the version is published (recounted by the next writer
when one was killed midway). So do the chunk counts of its analysed terms (`milvus_terms.py`),
changed while `pending` is set, recounted from the live chunks by the next writer after a
killed one, and once by the first writer of an index built before they were kept.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from sihub.errors import IndexLockedError
from sihub.types import Chunk, Document

from . import lexical
from . import milvus_schema as ms
from .answer_data import AnswerData
from .manifest import now
from .milvus_answers import MilvusAnswers, words_of
from .milvus_client import Collections
from .milvus_registry import Registry, copy
from .milvus_terms import TermCounts

LEASE_SECONDS = 30.0
"""How long a writer's lease lasts without renewal (it renews at every write)."""


class Writer:
    """Writes of one process that holds the hub's lease (taken when made; `release` gives it back)."""

    def __init__(self, cols: Collections, reg: Registry, answers: MilvusAnswers) -> None:
        self.cols = cols
        self.reg = reg
        self.answers = answers
        self.terms = TermCounts(cols)
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
        """Finish or undo the step a killed writer left (`pending`), then recount the statistics
        and term counts (also when they were written before the analysed words, or the terms,
        were counted)."""
        pending = self.cols.meta("pending")
        if not pending and self.reg.tokens is not None and self.reg.terms_counted:
            return
        if pending:
            doc_id = int(pending["doc"])
            got = self.cols.get("documents", [doc_id], ["ver"])
            if not got:  # a removal, or a first version never flipped in: none of its chunks stays
                self.cols.delete("chunks", filter=f"doc_id == {doc_id}")
                self.answers.drop_quotes(doc_id, None)
            else:  # flipped or not, the registry's version is the one to keep
                self.cols.delete("chunks", filter=f"doc_id == {doc_id} and ver != {int(got[0]['ver'])}")
                self.answers.drop_quotes(doc_id, int(got[0]["ver"]))
        self.reg.langs, self.reg.tokens = {}, {}
        rows = self.cols.query("chunks", "", ["id", "doc_id", "ver", "lang", "heading", "text", "lex", "vec"])
        live = [r for r in rows if self.reg.live(r["doc_id"], r["ver"])]
        self.reg.count([(r["lang"], r["vec"], r["lex"]) for r in live], [])
        self.answers.recount(words_of(r for r in live if int(r["doc_id"]) in self.reg.answered))
        self.terms.recount(r["lex"] for r in live)
        self.reg.terms_counted = True
        self.publish({"langs": self.reg.langs_json(), "term_counts": True, "pending": None})

    def publish(self, records: dict[str, Any] | None = None) -> None:
        """Write `records` with a new generation: readers reload the registry when it moves."""
        self.reg.generation = int(self.cols.meta("generation") or 0) + 1
        self.cols.set_meta({**(records or {}), "generation": self.reg.generation})

    def set_base(self, folder: Path) -> None:
        self.renew()
        self.cols.set_meta({"base": str(Path(folder).resolve())})

    def put_document(
        self, doc: Document, chunks: list[Chunk], vectors: dict[str, np.ndarray], answers: AnswerData | None = None
    ) -> Document:
        """Write the new chunks (and answer rows) under a new version, flip the registry to it,
        delete the old ones."""
        self.renew()
        old_id = self.reg.by_path.get(doc.path)
        doc.id = old_id if old_id is not None else self._take("doc")
        doc.chunks = len(chunks)
        doc.ingested_at = now()
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
        if answers is not None:
            self.answers.put(doc.id, ver, answers)
        self.renew()
        added = [(c.lang, vectors[c.hash], r["lex"]) for c, r in zip(chunks, rows, strict=True)]
        self.replace(doc, ver, added, answers.words if answers else None)
        return doc

    def replace(
        self,
        doc: Document,
        ver: int | None,
        added: list[tuple[str, np.ndarray, str]],
        words: Counter[tuple[str, str]] | None = None,
    ) -> None:
        """Flip the registry row of `doc` to `ver` (None: remove it), delete the chunks (and quote
        rows) of other versions, update the statistics and word counts (`words`: of the new
        chunks, when their answer rows are written) and publish."""
        assert doc.id is not None
        old = self.reg.vers.get(doc.id)
        counted = doc.id in self.reg.answered
        removed: list[tuple[str, np.ndarray, str]] = []
        rows: list[dict[str, Any]] = []
        if old is not None:
            fields = ["id", "lang", "vec", "lex", *(["heading", "text"] if counted else [])]
            rows = self.cols.query("chunks", f"doc_id == {doc.id} and ver == {old}", fields)
            removed = [(r["lang"], r["vec"], r["lex"]) for r in rows]
        if ver is None:
            self.cols.delete("documents", ids=[doc.id])
            self.cols.delete("chunks", filter=f"doc_id == {doc.id}")
            self.reg.drop(doc)
        else:
            self.cols.upsert("documents", [ms.doc_row(doc, ver, words is not None)])
            self.cols.delete("chunks", filter=f"doc_id == {doc.id} and ver != {ver}")
            self.reg.put(doc, ver, words is not None)
        self.answers.drop_quotes(doc.id, ver)
        self.answers.count(words or Counter(), words_of(rows) if counted else Counter())
        self.terms.count((lex for _, _, lex in added), (lex for _, _, lex in removed))
        self.reg.count(added, removed)
        self.publish({"langs": self.reg.langs_json(), "pending": None})

    def put_answers(self, path: str, answers: AnswerData) -> bool:
        """Store the answer rows of a document already indexed (`sihub warm`), replacing what it
        had; False when the document is gone."""
        self.renew()
        i = self.reg.by_path.get(path)
        if i is None:
            return False
        doc, ver = copy(self.reg.docs[i]), self.reg.vers[i]
        self.cols.set_meta({"pending": {"doc": i, "ver": ver}})  # a killed writer: counts redone
        rows = self.cols.query("chunks", f"doc_id == {i} and ver == {ver}", ["id", "lang", "heading", "text"])
        self.answers.drop_quotes(i, None)
        self.answers.put(i, ver, answers)
        self.answers.count(answers.words, words_of(rows) if i in self.reg.answered else Counter())
        self.cols.upsert("documents", [ms.doc_row(doc, ver, True)])
        self.reg.put(doc, ver, True)
        self.publish({"pending": None})
        return True

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
        self.cols.upsert("documents", [ms.doc_row(doc, ver, i in self.reg.answered)])
        self.reg.put(doc, ver, i in self.reg.answered)
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
