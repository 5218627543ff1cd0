"""Make the index match a set of files and folders: add new, replace changed, drop vanished.

Unchanged files (same size and mtime, or same content hash) cost no parsing and no model
work. Every document is committed on its own, so an interrupted ingest keeps what it did.
Parsing of the next file runs in a child process (a hung parser is killed after
`file_timeout` and cannot block the run) while the current one is embedded. A renamed file
keeps its embeddings through the hash cache and is reported as renamed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sihub.errors import BadInputError, SihubError
from sihub.ingest import ChunkerConfig, chunk_document, reader_version, supported
from sihub.ingest.chunker import document_languages
from sihub.ingest.model import ParsedDocument, ReadOptions
from sihub.types import Chunk, Document, FileResult, IngestReport

from .answer_data import AnswerData, chunk_words, lexical_text, quote_key
from .backend import IndexBackend
from .catalog import CATALOG_NAMES, load_catalog
from .embedder import Embedder
from .parse_worker import ParseFn, ParseWorker, default_parse


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

    def chunks_added(self, n: int) -> None:
        """`n` chunks of one file were stored."""

    def chunks_found(self, n: int) -> None:
        """A file was read into `n` chunks: the chunk total grows as files are parsed."""

    def chunks_embedded(self, n: int) -> None:
        """`n` more chunks have their vectors (from the model or the cache)."""


def scan(paths: list[Path], base: Path | None = None) -> tuple[list[Candidate], list[FileResult], list[str]]:
    """Files to ingest, results for what is skipped at once, and the folder prefixes covered.

    A file is keyed by its path as given, a relative one made relative to `base` (the index's
    base folder, where relative keys are rooted) when given. Inside a folder, a symlink that
    points outside it is not followed, and what is not a regular file (a FIFO, a device) is
    skipped, each with a one-line reason.
    """
    found: list[Candidate] = []
    skipped: list[FileResult] = []
    roots: list[str] = []
    for root in paths:
        key_root = _key(root, base)
        if root.is_dir():
            roots.append(key_root)
            catalog = load_catalog(root)
            for path in _walk(root, skipped, key_root):
                rel = path.relative_to(root).as_posix()
                key = os.path.normpath(os.path.join(key_root, rel))
                if path.name in CATALOG_NAMES or path.name.startswith("."):
                    continue
                if not supported(path):
                    skipped.append(FileResult(key, "skipped", f"unsupported file type {path.suffix or '(none)'}"))
                    continue
                if not _regular(path):
                    skipped.append(FileResult(key, "skipped", "not a regular file"))
                    continue
                found.append(Candidate(path, key, dict(catalog.get(rel) or catalog.get(path.name) or {})))
        elif root.exists() or root.is_symlink():
            if not supported(root):
                skipped.append(FileResult(key_root, "skipped", f"unsupported file type {root.suffix or '(none)'}"))
                continue
            if root.exists() and not _regular(root):
                skipped.append(FileResult(key_root, "skipped", "not a regular file"))
                continue
            catalog = load_catalog(root.parent)
            found.append(Candidate(root, key_root, dict(catalog.get(root.name) or {})))
        else:
            skipped.append(FileResult(key_root, "failed", "no such file or folder"))
    return found, skipped, roots


def _key(path: Path, base: Path | None) -> str:
    """How `path` is named in the index: as given; a relative path relative to `base`."""
    if base is None or path.is_absolute():
        return os.path.normpath(str(path))
    return os.path.normpath(os.path.relpath(os.path.abspath(path), base))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # vanished or unreadable: reported when it is read


def _walk(root: Path, problems: list[FileResult], key_root: str) -> Iterator[Path]:
    seen: set[tuple[int, int]] = set()
    inside = os.path.realpath(root)

    def onerror(exc: OSError) -> None:
        problems.append(FileResult(str(exc.filename), "failed", f"cannot list folder ({exc.strerror})"))

    def escapes(folder: str, name: str) -> bool:
        """A symlink under `root` to something outside it is not followed (its target is not published)."""
        path = os.path.join(folder, name)
        if not os.path.islink(path) or _within(os.path.realpath(path), inside):
            return False
        key = os.path.normpath(os.path.join(key_root, os.path.relpath(path, root)))
        problems.append(FileResult(key, "skipped", f"symlink to outside {key_root}, not followed"))
        return True

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
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not escapes(folder, d))
        for name in sorted(files):
            if not escapes(folder, name):
                yield Path(folder) / name


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def file_sha256(path: Path, timeout: float | None = None) -> str:
    """The content hash of a regular file, read within `timeout` seconds.

    Opened without blocking and checked to be a regular file on the open descriptor, so a FIFO
    swapped in after the scan cannot hang the ingest; a read slower than `timeout` raises
    TimeoutError.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadInputError("not a regular file")
        deadline = None if timeout is None else time.monotonic() + timeout
        h = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"took longer than {timeout:.0f} s to read")
    return h.hexdigest()


def sync(
    index: IndexBackend,
    paths: list[Path],
    embedder: Embedder,
    chunker: ChunkerConfig,
    *,
    max_bytes: int,
    batch_size: int = 32,
    file_timeout: float = 120.0,
    remove_missing: bool = True,
    progress: Progress | None = None,
    parse: ParseFn | None = None,
    read_options: ReadOptions | None = None,
    isolate: bool = True,
    answer_texts: AnswerTexts | None = None,
) -> IngestReport:
    """Make the index match `paths`. `parse(path, max_bytes, options)` reads one file, in a
    child process unless `isolate` is False (so it must be importable by name).

    With `answer_texts(document, chunks)` (the texts an answer embeds for a document's
    quotable spans, from the assistant), those texts and the document's words are embedded
    too and stored with it (`answer_data.py`), so that answers embed nothing but the question."""
    progress = progress or Progress()
    options = read_options or ReadOptions()
    t0 = time.perf_counter()
    report = IngestReport()
    paths = [Path(p) for p in paths]
    candidates, skipped, roots = scan(paths, _base(index, paths))
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
                sha = file_sha256(cand.path, file_timeout)
            except (OSError, BadInputError) as exc:
                res = FileResult(cand.key, "failed", _os_reason(exc) if isinstance(exc, OSError) else str(exc))
                report.results.append(res)
                progress.file_done(res)
                continue
        if old and old.sha256 == sha and old.reader >= reader_version(cand.path):
            if old.meta != cand.meta or old.mtime != st.st_mtime:
                index.update_meta(cand.key, cand.meta, st.st_mtime)
            res = FileResult(cand.key, "unchanged", chunks=old.chunks)
            report.results.append(res)
            progress.file_done(res)
            continue
        todo.append((cand, st, sha))

    parse_fn = parse or default_parse
    worker = ParseWorker(parse_fn, timeout=file_timeout) if isolate and todo else None
    count_tokens = embedder.count_tokens

    def prepare(path: Path) -> tuple[ParsedDocument, list[Chunk]]:
        parsed = worker.parse(path, max_bytes, options) if worker else parse_fn(path, max_bytes, options)
        return parsed, chunk_document(parsed, chunker, count_tokens)

    added_by_sha: dict[str, FileResult] = {}
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sihub-parse") as pool:

            def submit(i: int) -> Future | None:
                return pool.submit(prepare, todo[i][0].path) if i < len(todo) else None

            nxt = submit(0)
            for i, (cand, st, sha) in enumerate(todo):
                fut, nxt = nxt, submit(i + 1)
                status = "updated" if cand.key in existing else "added"
                try:
                    assert fut is not None
                    # The worker enforces the limit on parsing; this bounds the rest.
                    parsed, chunks = fut.result(timeout=2 * file_timeout + 60 if worker else file_timeout)
                    if not chunks:
                        raise BadInputError("no text found")
                    progress.chunks_found(len(chunks))
                    for c in chunks:
                        c.path = cand.key
                    langs = document_languages(chunks)
                    doc = Document(
                        path=cand.key,
                        title=str(cand.meta.get("title") or "") or parsed.title,
                        lang=(langs or ["und"])[0],
                        langs=langs,
                        sha256=sha,
                        pages=len(parsed.pages) if parsed.paged else None,
                        size=st.st_size,
                        mtime=st.st_mtime,
                        meta={k: v for k, v in cand.meta.items() if k != "title"},
                        reader=reader_version(cand.path),
                    )
                    vectors = _embed(index, embedder, chunks, batch_size, report, progress)
                    answers = (
                        answers_for(index, embedder, doc, chunks, answer_texts)
                        if answer_texts and index.stores_answers
                        else None
                    )
                    index.put_document(doc, chunks, vectors, answers)
                    res = FileResult(cand.key, status, chunks=len(chunks), warnings=list(parsed.warnings))
                    old = existing.get(cand.key)
                    if old and old.sha256 == sha:  # the same content: only its reader is newer
                        res.reason = "read again by a newer reader"
                    if status == "added":
                        added_by_sha.setdefault(sha, res)
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
    finally:
        if worker:
            worker.close()

    if remove_missing:
        for path, old in existing.items():
            if path in seen or not any(_under(path, r) for r in roots):
                continue
            index.remove_document(path)
            moved = added_by_sha.pop(old.sha256, None)
            if moved is not None:  # the same content under a new name
                moved.status, moved.reason = "renamed", f"renamed from {path}"
            else:
                report.results.append(FileResult(path, "removed"))
    index.prune_embeddings()
    index.save()
    report.seconds = time.perf_counter() - t0
    return report


def _embed(
    index: IndexBackend,
    embedder: Embedder,
    chunks: list[Chunk],
    batch_size: int,
    report: IngestReport,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    progress = progress or Progress()
    vectors = index.cached_vectors(c.hash for c in chunks)
    todo: dict[str, str] = {}
    for c in chunks:
        if c.hash not in vectors:
            todo.setdefault(c.hash, c.embed_text())
    progress.chunks_embedded(len(chunks) - len(todo))
    items = list(todo.items())
    for start in range(0, len(items), batch_size):
        part = items[start : start + batch_size]
        mat = embedder.embed_passages([t for _, t in part])
        for (h, _), v in zip(part, mat, strict=True):
            vectors[h] = v
        report.embedded += len(part)
        progress.chunks_embedded(len(part))
    return vectors


AnswerTexts = Callable[[Document, list[Chunk]], list[str]]
"""The texts an answer embeds for the quotable spans of a document's chunks."""


def answers_for(
    index: IndexBackend, embedder: Embedder, doc: Document, chunks: list[Chunk], answer_texts: AnswerTexts
) -> AnswerData:
    """What answers need of a document (`answer_data.py`): the vectors of its quote texts and of
    its words, embedding only those the index does not hold yet (an unchanged passage of an
    updated document, a word other documents have)."""
    texts = {quote_key(t): t for t in answer_texts(doc, chunks)}
    quotes = index.quote_vectors(list(texts))
    todo = [k for k in texts if k not in quotes]
    if todo:
        # One call: the embedder sorts the texts by length into its batches.
        embed = getattr(embedder, "embed_bulk", embedder.embed_passages)
        quotes.update(zip(todo, embed([texts[k] for k in todo]), strict=True))
    words = chunk_words(lexical_text(c) for c in chunks)
    distinct = sorted({w for _, w in words})
    known = index.known_words(distinct)
    new = [w for w in distinct if w not in known]
    vecs = embedder.embed_queries(new) if new else []
    return AnswerData(
        {k: quotes[k] for k in texts},
        words,
        dict(zip(new, np.asarray(vecs, dtype=np.float32), strict=True)),
        embedded=len(todo),
    )


def _base(index: IndexBackend, paths: list[Path]) -> Path | None:
    """The index's base folder: the working folder of the first ingest given a relative path,
    recorded then (relative keys are relative to it)."""
    base = index.base
    if base is None and any(not p.is_absolute() for p in paths):
        base = Path.cwd()
        index.set_base(base)
    return base


def _under(path: str, root: str) -> bool:
    if root == ".":
        return not os.path.isabs(path) and not path.startswith("..")
    return path == root or path.startswith(root.rstrip("/") + "/")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return "file vanished during ingest"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == 40:  # ELOOP
        return "symlink loop"
    return f"cannot read ({exc.strerror or exc})"
