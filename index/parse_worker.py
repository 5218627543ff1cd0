"""Parse files in a child process that can be abandoned when a parser hangs.

A pure-Python parser stuck in a loop cannot be stopped from a thread. The worker is one
long-lived `python -m sihub.index.parse_worker` process (started on first use, so a no-op ingest
starts nothing); each file is a pickled request over its stdin, the reply comes back on its
stdout. When a file takes longer than the limit, the child is killed, the file is reported,
and the next file gets a fresh child. A plain subprocess (not multiprocessing) means the
caller's `__main__` is never re-imported, so scripts without a main guard work too.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from sihub.errors import BadInputError
from sihub.ingest import read_document
from sihub.ingest.model import ParsedDocument, ReadOptions

ParseFn = Callable[[Path, int | None, ReadOptions], ParsedDocument]


def default_parse(path: Path, max_bytes: int | None, options: ReadOptions) -> ParsedDocument:
    return read_document(path, max_bytes=max_bytes, options=options)


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            raise EOFError("worker closed its pipe")
        buf += part
    return buf


def _recv(stream: BinaryIO) -> Any:
    (n,) = struct.unpack("!Q", _read_exact(stream, 8))
    return pickle.loads(_read_exact(stream, n))


def _resolve(ref: str) -> ParseFn:
    module, _, name = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _serve() -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the replies
    sys.path[:] = _recv(inp)
    while True:
        try:
            request = _recv(inp)
        except EOFError:
            return
        if request is None:
            return
        ref, path, max_bytes, options = request
        try:
            reply = ("ok", _resolve(ref)(path, max_bytes, options))
        except BadInputError as exc:
            reply = ("bad", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported as this file's failure
            reply = ("error", f"cannot read ({type(exc).__name__}: {str(exc)[:150]})")
        _send(out, reply)


class ParseWorker:
    """`parse(path)` in a child process, with a time limit per file."""

    def __init__(self, fn: ParseFn = default_parse, timeout: float = 120.0) -> None:
        self.ref = f"{fn.__module__}:{fn.__qualname__}"
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        proc = subprocess.Popen(
            [sys.executable, "-m", "sihub.index.parse_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # parser chatter (pypdf warnings) stays out of the CLI output
            env=env,
        )
        assert proc.stdin is not None
        _send(proc.stdin, list(sys.path))
        self._proc = proc
        return proc

    def parse(self, path: Path, max_bytes: int | None, options: ReadOptions) -> ParsedDocument:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _send(proc.stdin, (self.ref, Path(path), max_bytes, options))
            # The first request also pays for the child's start and imports.
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
            if not ready:
                self.kill()
                raise BadInputError(f"took longer than {self.timeout:.0f} s to read (parser stopped)")
            status, value = _recv(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self.kill()
            raise BadInputError("the parser crashed on this file") from exc
        if status == "ok":
            return value
        raise BadInputError(value)

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                _send(proc.stdin, None)
                proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


if __name__ == "__main__":
    _serve()
