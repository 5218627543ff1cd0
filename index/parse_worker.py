"""Parse files in a child process that can be abandoned when a parser hangs.

A pure-Python parser stuck in a loop cannot be stopped from a thread. The worker is one
long-lived child process (started on first use, so a no-op ingest starts nothing); each file
is a request over a pipe. When a file takes longer than the limit, the child is killed, the
file is reported, and the next file gets a fresh child.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest import read_document
from ingest.model import ParsedDocument, ReadOptions
from sihub.errors import BadInputError

ParseFn = Callable[[Path, int | None, ReadOptions], ParsedDocument]


def default_parse(path: Path, max_bytes: int | None, options: ReadOptions) -> ParsedDocument:
    return read_document(path, max_bytes=max_bytes, options=options)


def _serve(conn: Any) -> None:
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        fn, path, max_bytes, options = request
        try:
            conn.send(("ok", fn(path, max_bytes, options)))
        except BadInputError as exc:
            conn.send(("bad", str(exc)))
        except Exception as exc:  # noqa: BLE001 - reported as this file's failure
            tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            conn.send(("error", f"cannot read ({tail[:160]})"))


class ParseWorker:
    """`parse(path)` in a child process, with a time limit per file."""

    def __init__(self, fn: ParseFn = default_parse, timeout: float = 120.0) -> None:
        self.fn = fn
        self.timeout = timeout
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")  # no fork: the parent may hold model threads and locks
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="sihub-parse")
        self._proc.start()
        child.close()
        self._conn = parent

    def parse(self, path: Path, max_bytes: int | None, options: ReadOptions) -> ParsedDocument:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        try:
            self._conn.send((self.fn, path, max_bytes, options))
            # The first request also pays for the child's start and imports.
            if not self._conn.poll(self.timeout):
                self.kill()
                raise BadInputError(f"took longer than {self.timeout:.0f} s to read (parser stopped)")
            status, value = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            self.kill()
            raise BadInputError("the parser crashed on this file") from exc
        if status == "ok":
            return value
        raise BadInputError(value)

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(2)
            except OSError:
                pass
        self.kill()
