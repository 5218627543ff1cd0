"""Make the index match a set of files and folders: add new, replace changed, drop vanished.

Unchanged files (same size and mtime, or same content hash) cost no parsing and no model
work. Every document is committed on its own, so an interrupted ingest keeps what it did.
Parsing of the next files runs in a thread while the current one is embedded.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest import ChunkerConfig, chunk_document, read_document, supported
from ingest.chunker import document_languages
from ingest.model import ParsedDocument
from sihub.errors import BadInputError, SihubError
from sihub.types import Chunk, Document, FileResult, IngestReport

from .catalog import CATALOG_NAMES, load_catalog
from .embedder import Embedder
from .store import Index

@dataclass
class Candidate:
    """A file found under one of the ingested paths."""

    path: Path
    key: str
    """How the document is named in the index: the path as given on the command line."""
    meta: dict[str, Any]


class Progress:
    """Callbacks for a progress display; the default does nothing."""

    def start(self, files: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...

    def chunks_added(self, n: int) -> None: ...


def scan(paths: list[Path]) -> tuple[list[Candidate], list[FileResult], list[str]]:
    """Files to ingest, results for what is skipped at once, and the folder prefixes covered."""
    found: list[Candidate] = []
    skipped: list[FileResult] = []
    roots: list[str] = []
    for root in paths:
        key_root = os.path.normpath(str(root))
        if root.is_dir():
            roots.append(key_root)
            catalog = load_catalog(root)
            for path in _walk(root, skipped):
                rel = path.relative_to(root).as_posix()
                key = os.path.normpath(os.path.join(key_root, rel))
                if path.name in CATALOG_NAMES or path.name.startswith("."):
                    continue
                if not supported(path):
                    skipped.append(FileResult(key, "skipped", f"unsupported file type {path.suffix or '(none)'}"))
                    continue
                found.append(Candidate(path, key, dict(catalog.get(rel) or catalog.get(path.name) or {})))
        elif root.exists() or root.is_symlink():
            if not supported(root):
                skipped.append(FileResult(key_root, "skipped", f"unsupported file type {root.suffix or '(none)'}"))
                continue
            catalog = load_catalog(root.parent)
            found.append(Candidate(root, key_root, dict(catalog.get(root.name) or {})))
        else:
            skipped.append(FileResult(key_root, "failed", "no such file or folder"))
    return found, skipped, roots


def _walk(root: Path, problems: list[FileResult]) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()

    def onerror(exc: OSError) -> None:
        problems.append(FileResult(str(exc.filename), "failed", f"cannot list folder ({exc.strerror})"))

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=onerror):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            problems.append(FileResult(folder, "failed", "symlink loop, not followed"))
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            yield Path(folder) / name


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sync(
    index: Index,
    paths: list[Path],
    embedder: Embedder,
    chunker: ChunkerConfig,
    *,
    max_bytes: int,
    batch_size: int = 32,
    file_timeout: float = 120.0,
    remove_missing: bool = True,
    progress: Progress | None = None,
    parse: Callable[[Path, int], ParsedDocument] | None = None,
) -> IngestReport:
    progress = progress or Progress()
    t0 = time.perf_counter()
    report = IngestReport()
    candidates, skipped, roots = scan(paths)
    report.results.extend(skipped)
    existing = {d.path: d for d in index.documents()}
    progress.start(len(candidates))

    todo: list[tuple[Candidate, os.stat_result, str]] = []
    seen: set[str] = set()
    for cand in candidates:
        seen.add(cand.key)
        try:
            st = cand.path.stat()
        except OSError as exc:
            res = FileResult(cand.key, "failed", _os_reason(exc))
            report.results.append(res)
            progress.file_done(res)
            continue
        old = existing.get(cand.key)
        if old and old.size == st.st_size and old.mtime == st.st_mtime:
            sha = old.sha256
        else:
            try:
                sha = file_sha256(cand.path)
            except OSError as exc:
                res = FileResult(cand.key, "failed", _os_reason(exc))
                report.results.append(res)
                progress.file_done(res)
                continue
        if old and old.sha256 == sha:
            if old.meta != cand.meta or old.mtime != st.st_mtime:
                index.update_meta(cand.key, cand.meta, st.st_mtime)
            res = FileResult(cand.key, "unchanged", chunks=old.chunks)
            report.results.append(res)
            progress.file_done(res)
            continue
        todo.append((cand, st, sha))

    parse = parse or (lambda p, limit: read_document(p, max_bytes=limit))
    count_tokens = embedder.count_tokens
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sihub-parse") as pool:

        def submit(i: int) -> Future | None:
            if i >= len(todo):
                return None
            cand = todo[i][0]
            return pool.submit(_prepare, parse, cand.path, max_bytes, chunker, count_tokens)

        nxt = submit(0)
        for i, (cand, st, sha) in enumerate(todo):
            fut, nxt = nxt, submit(i + 1)
            status = "updated" if cand.key in existing else "added"
            try:
                assert fut is not None
                parsed, chunks = fut.result(timeout=file_timeout)
                for c in chunks:
                    c.path = cand.key
                doc = Document(
                    path=cand.key,
                    title=parsed.title,
                    lang=(document_languages(chunks) or ["und"])[0],
                    langs=document_languages(chunks),
                    sha256=sha,
                    pages=len(parsed.pages) if parsed.paged else None,
                    size=st.st_size,
                    mtime=st.st_mtime,
                    meta=cand.meta,
                )
                if not chunks:
                    raise BadInputError("no text found")
                vectors = _embed(index, embedder, chunks, batch_size, report)
                index.put_document(doc, chunks, vectors)
                res = FileResult(cand.key, status, chunks=len(chunks), warnings=list(parsed.warnings))
                progress.chunks_added(len(chunks))
            except FutureTimeout:
                res = FileResult(cand.key, "failed", f"took longer than {file_timeout:.0f} s to read")
            except BadInputError as exc:
                res = FileResult(cand.key, "failed", str(exc))
            except SihubError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
                res = FileResult(cand.key, "failed", f"cannot read ({type(exc).__name__}: {str(exc)[:150]})")
            report.results.append(res)
            progress.file_done(res)

    if remove_missing:
        for path in existing:
            if path in seen:
                continue
            if any(_under(path, r) for r in roots):
                index.remove_document(path)
                report.results.append(FileResult(path, "removed"))
    index.prune_embeddings()
    index.save()
    report.seconds = time.perf_counter() - t0
    return report


def _prepare(
    parse: Callable[[Path, int], ParsedDocument],
    path: Path,
    max_bytes: int,
    chunker: ChunkerConfig,
    count_tokens: Callable[[str], int],
) -> tuple[ParsedDocument, list[Chunk]]:
    parsed = parse(path, max_bytes)
    return parsed, chunk_document(parsed, chunker, count_tokens)


def _embed(
    index: Index, embedder: Embedder, chunks: list[Chunk], batch_size: int, report: IngestReport
) -> dict[str, np.ndarray]:
    vectors = index.cached_vectors(c.hash for c in chunks)
    todo: dict[str, str] = {}
    for c in chunks:
        if c.hash not in vectors:
            todo.setdefault(c.hash, c.embed_text())
    items = list(todo.items())
    for start in range(0, len(items), batch_size):
        part = items[start : start + batch_size]
        mat = embedder.embed_passages([t for _, t in part])
        for (h, _), v in zip(part, mat):
            vectors[h] = v
        report.embedded += len(part)
    return vectors


def _under(path: str, root: str) -> bool:
    if root == ".":
        return not os.path.isabs(path) and not path.startswith("..")
    return path == root or path.startswith(root.rstrip("/") + "/")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file vanished during ingest"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == 40:  # ELOOP
        return "symlink loop"
    return f"cannot read ({exc.strerror or exc})"
