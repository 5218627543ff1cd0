"""What the web page and the HTTP API do, in one place: both are thin layers over `Hub`.

`Hub` wraps the `Assistant` (which holds the index open read-only) and adds what only the web
edge needs: documents by id, the original files, uploads into the library folder, deletions,
filter values from the catalogue, and the feedback store.
"""

from __future__ import annotations

import inspect
import os
import re
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sihub.errors import BadInputError, IndexMissingError, SihubError
from sihub.feedback import FeedbackStore, feedback_path
from sihub.limits import check_filters, check_history, check_question
from sihub.settings import Settings
from sihub.types import Answer, Document, FileResult, Hit, IngestReport

FILTER_FIELDS = ("lang", "country", "partner", "type", "year")
UPLOAD_DIR = "uploads"
Writer = Callable[[BinaryIO], None]
"""Writes an uploaded file's content into the (binary) file it is given."""
_NAME_OK = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_name(name: str) -> str:
    """A file name that is only a base name: no folders, no `..`, no control characters.

    Raises BadInputError when nothing usable is left (e.g. `../..`).
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\x00", "").replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _NAME_OK.sub("_", name).strip(" .")
    name = re.sub(r"\s+", " ", name)
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 150 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:150]
    if not name or name.startswith(".") or set(name) <= {"."}:
        raise BadInputError("no usable file name")
    return name


class KeptAnswers:
    """The chat's answers as Markdown with their references, for "Copy with references" and
    "Download Markdown" under each answer: kept in memory under an unguessable token, the latest
    `capacity` only (a link to an older one answers 404)."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, markdown: str) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._texts[token] = markdown
            while len(self._texts) > self.capacity:
                self._texts.popitem(last=False)
        return token

    def get(self, token: str) -> str | None:
        with self._lock:
            return self._texts.get(token)


class Hub:
    def __init__(self, settings: Settings, assistant: Any = None) -> None:
        from sihub.assistant import Assistant

        self.settings = settings
        self.assistant = assistant or Assistant(settings)
        self.feedback = FeedbackStore(feedback_path(settings.index))
        from sihub.assistant.gaps import GapStore, gaps_path

        self.gaps = GapStore(gaps_path(settings.index))
        self.kept = KeptAnswers()
        self._write = threading.Lock()
        self._warmer: threading.Thread | None = None
        self._warm_again = False
        self._warm_lock = threading.Lock()
        self.stop_warming = threading.Event()

    # ---- reading --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Let the read-only index pick up what another process (or an upload) committed."""
        self.assistant.index.refresh()

    def warm(self) -> str | None:
        """Open the index and load the embedder so the first question is fast.

        Returns a remark when there is nothing to warm (no index yet), None otherwise.
        """
        try:
            _ = self.assistant.index
        except IndexMissingError as exc:
            return str(exc)
        # One search runs the whole retrieval path (embedder, FAISS, the lexical index and its
        # analyzers); one passage warms what answers use to weigh sentences.
        self.assistant.search("warm up", 1)
        self.assistant.embedder.embed_passages(["warm up"])
        return None

    def warm_quotes_in_background(self) -> threading.Thread | None:
        """Embed the quote units not cached yet in a daemon thread (`Assistant.warm_quotes`).

        Questions are served meanwhile (each waits for at most one small batch of the
        embedder). Called again while it runs (new documents), it goes over the index once
        more when done. Off with SIHUB_WARM_QUOTES=0; `stop_warming` ends it.
        """
        if not self.settings.warm_quotes:
            return None
        with self._warm_lock:
            if self._warmer is not None and self._warmer.is_alive():
                self._warm_again = True
                return self._warmer
            self._warmer = threading.Thread(target=self._warm_loop, name="sihub-warm-quotes", daemon=True)
            self._warmer.start()
            return self._warmer

    def _warm_loop(self) -> None:
        while not self.stop_warming.is_set():
            try:
                report = self.assistant.warm_quotes(stop_event=self.stop_warming)
                if report.embedded or report.words_embedded or report.problem:
                    print(f"sihub: quote vectors: {report.summary()}", file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - a cache warm-up must never take the server down
                print(f"sihub: quote warm-up stopped: {exc}", file=sys.stderr, flush=True)
            with self._warm_lock:
                if not self._warm_again:
                    return
                self._warm_again = False

    def health(self) -> dict[str, Any]:
        from sihub import __version__

        self.refresh()
        return {"status": "ok", "version": __version__, **self.assistant.index.stats()}

    def documents(self) -> list[Document]:
        self.refresh()
        return self.assistant.documents()

    def browse(self, query: Any = None) -> dict[str, Any]:
        """The catalogue of best practices (`assistant.catalogue`): documents with abstracts, facet counts."""
        self.refresh()
        return self.assistant.browse(query)

    def document(self, doc_id: int) -> Document | None:
        return next((d for d in self.documents() if d.id == doc_id), None)

    def doc_ids(self) -> dict[str, int]:
        return {d.path: d.id for d in self.documents() if d.id is not None}

    def file_of(self, doc: Document) -> Path | None:
        """The original file of an indexed document, if it is still there.

        A relative path is relative to the index's base folder (where it was first ingested),
        whatever folder the server runs in.
        """
        p = Path(doc.path)
        if not p.is_absolute():
            p = (self.assistant.index.base or Path.cwd()) / p
        return p if p.is_file() else None

    def filter_choices(self) -> dict[str, list[str]]:
        """The values each filter can take, from the documents that are indexed."""
        values: dict[str, set[str]] = {f: set() for f in FILTER_FIELDS}
        for d in self.documents():
            values["lang"].update(x for x in (d.langs or [d.lang]) if x and x != "und")
            for f in FILTER_FIELDS[1:]:
                v = d.meta.get(f)
                if v not in (None, ""):
                    values[f].add(str(v))
        return {f: sorted(v) for f, v in values.items()}

    def check(self, question: str, history: list | None = None, filters: Any = None, what: str = "question") -> None:
        """Refuse (BadInputError) a question, history or filters over the limits (`sihub.limits`)."""
        check_question(question, self.settings, what)
        check_history(history, self.settings)
        check_filters(filters)

    def search(self, query: str, k: int | None = None, filters: dict[str, Any] | list[str] | None = None) -> list[Hit]:
        self.check(query, None, filters, "query")
        kwargs = _supported(self.assistant.search, filters=filters or None)
        return self.assistant.search(query, k, **kwargs)

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: list[dict[str, str]] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Answer:
        self.check(question, history, filters)
        kwargs = _supported(self.assistant.ask, history=history or None, filters=filters or None)
        answer = self.assistant.ask(question, k, **kwargs)
        if filters and "filters" not in kwargs:
            answer.note = _join(answer.note, "filters are not applied by this version of the search")
        self.record_gap(answer, filters)
        return answer

    def record_gap(self, answer: Answer, filters: Any = None) -> None:
        """Keep a question the documents could not answer (`assistant.gaps`); never fails an answer."""
        try:
            self.gaps.record(answer, filters)
        except (sqlite3.Error, OSError) as exc:
            print(f"sihub: could not record an unanswered question: {exc}", file=sys.stderr, flush=True)

    def vote(self, rating: int, answer: dict[str, Any]) -> None:
        """Store a thumbs up or down on an answer (`Answer.to_json()`); a thumbs-down is a gap too."""
        self.feedback.add(rating, answer)
        if rating < 0 and str(answer.get("question", "")).strip():
            try:
                score = answer.get("confidence")
                if score is None and answer.get("citations"):
                    score = max(float(c.get("score", 0.0)) for c in answer["citations"])
                self.gaps.add(answer["question"], answer.get("language"), "thumbs_down", score, answer.get("filters"))
            except (sqlite3.Error, OSError, KeyError, TypeError, ValueError) as exc:
                print(f"sihub: could not record a thumbs-down: {exc}", file=sys.stderr, flush=True)

    def gap_report(self, since: str | None = None) -> dict[str, Any]:
        """The unanswered and thumbs-down questions grouped by topic (`assistant.gaps.report`)."""
        from sihub.assistant.gaps import report

        return report(self.gaps, self.assistant.embedder, since)

    def compare(
        self,
        question: str,
        by: str = "country",
        k: int | None = None,
        history: list[dict[str, str]] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Answer:
        """One answer with a section per country or partner (`assistant.compare`)."""
        from sihub.assistant.compare import compare

        self.check(question, history, filters)
        self.refresh()
        answer = compare(self.assistant, question, by, k, history=history or None, filters=filters or None)
        self.record_gap(answer, filters)
        return answer

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        history: list[dict[str, str]] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer text as it grows, then the final Answer.

        Uses `Assistant.ask_stream` when there is one (a language model writes the answer
        piece by piece). A long piece that arrives at once (an extractive answer is ready as a
        whole) is revealed in a few steps, so the reader sees it come in rather than jump.
        """
        self.check(question, history, filters)
        stream = getattr(self.assistant, "ask_stream", None)
        if stream is None:
            answer = self.ask(question, k, history, filters)
            yield from _reveal("", answer.answer)
            yield answer
            return
        kwargs = _supported(stream, history=history or None, filters=filters or None)
        text = ""
        for item in stream(question, k, **kwargs):
            if isinstance(item, Answer):
                if filters and "filters" not in kwargs:
                    item.note = _join(item.note, "filters are not applied by this version of the search")
                self.record_gap(item, filters)
                yield item
                return
            if isinstance(item, str) and item:
                yield from _reveal(text, item)
                text += item

    # ---- writing (coordinators) -----------------------------------------------------------

    @property
    def upload_dir(self) -> Path:
        return Path(self.settings.library) / UPLOAD_DIR

    def add_uploads(
        self, uploads: list[tuple[str, bytes | Writer]], progress: Any = None
    ) -> tuple[IngestReport | None, list[FileResult]]:
        """Save uploaded files under the library folder and index them.

        Each is written to a temporary file of its own first; then, holding the write lock (so
        an upload and a deletion of one document never interleave), moved into place and
        indexed. Returns the ingest report (None when nothing could be saved) and the files
        refused: unusable names, unsupported types, a name given twice in one request.
        """
        staged: list[tuple[Path, Path]] = []
        refused: list[FileResult] = []
        try:
            for name, data in uploads:
                try:
                    target = self._upload_target(name)
                    if any(target == t for _, t in staged):
                        raise BadInputError(
                            f"{target.name}: the same file name twice in one upload (the first is kept)"
                        )
                    staged.append((_write_temp(target, data), target))
                except BadInputError as exc:
                    refused.append(FileResult(str(name), "failed", str(exc)))
            if not staged:
                return None, refused
            with self._write:
                for tmp, target in staged:
                    os.replace(tmp, target)  # replaces a symlink at `target`, never writes through it
                # Given relative, a path is indexed relative to the index's base folder, as the
                # same file is by `sihub ingest` run there (see index.sync.scan).
                report = self._ingest_locked([Path(os.path.relpath(t)) for _, t in staged], progress)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
        return report, refused

    def _upload_target(self, name: str) -> Path:
        """Where an upload called `name` is saved; BadInputError for unusable names and types."""
        from sihub.ingest import supported

        base = safe_name(name)
        folder = self.upload_dir
        target = folder / base
        if not supported(target):
            raise BadInputError(f"{base}: unsupported file type {target.suffix or '(none)'}")
        folder.mkdir(parents=True, exist_ok=True)
        if target.resolve().parent != folder.resolve():
            raise BadInputError(f"{base}: not a plain file name")
        return target

    def _ingest_locked(self, paths: list[Path], progress: Any) -> IngestReport:
        """Index these files only (nothing else is removed), then let the reader see them."""
        report = self.assistant.ingest(paths, progress=progress, remove_missing=False)
        self._refresh_quietly()
        if self._warmer is not None:  # the server keeps quote vectors warm: add the new documents'
            self.warm_quotes_in_background()
        return report

    def delete(self, doc: Document) -> dict[str, Any]:
        """Remove a document from the index; a file that was uploaded through the web goes too."""
        out: dict[str, Any] = {"id": doc.id, "file": doc.path, "removed": False, "file_deleted": False}
        with self._write:
            out["removed"] = bool(self.assistant.remove([doc.path]))
            self._refresh_quietly()
            path = self.file_of(doc)
            if out["removed"] and path is not None and _inside(path, self.upload_dir):
                path.unlink(missing_ok=True)
                out["file_deleted"] = True
        if out["removed"] and not out["file_deleted"]:
            out["note"] = "the file itself was kept: it returns at the next ingest of its folder unless removed"
        return out

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except SihubError:
            pass


def _supported(fn: Callable, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments `fn` accepts, among those given and not None."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {k: v for k, v in kwargs.items() if v is not None and (takes_any or k in params)}


def _reveal(before: str, piece: str, pause: float = 0.025) -> Iterator[str]:
    """`before + piece`, in steps when the piece is long."""
    cuts = _steps(piece)
    for i, cut in enumerate(cuts):
        if i:
            time.sleep(pause)
        yield before + piece[:cut]


def _steps(text: str, parts: int = 12) -> list[int]:
    """Cut points (at spaces) for revealing `text` progressively."""
    if len(text) < 40:
        return [len(text)]
    size = max(20, len(text) // parts)
    cuts = []
    at = size
    while at < len(text):
        space = text.find(" ", at)
        if space < 0:
            break
        cuts.append(space)
        at = space + size
    return [*cuts, len(text)]


def _write_temp(target: Path, data: bytes | Writer) -> Path:
    """Write `data` to a new temporary file beside `target` and return its path.

    The name is unique and the file is created with O_EXCL | O_NOFOLLOW (`mkstemp`): two uploads
    of one name never share it, and a symlink planted in the folder is never written through.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if callable(data):
                data(out)
            else:
                out.write(data)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _join(a: str | None, b: str) -> str:
    return f"{a} · {b}" if a else b
