"""The embedded index's folder: its file names, the one-writer lock, the manifest file, and
writes that are atomic and fail as one clear line.

A folder holds `manifest.json`, `sihub.db` (SQLite, the source of truth) and the FAISS file of
the newest generation (`vectors-<generation>.faiss`). One process writes at a time: it holds an
exclusive `flock` on `write.lock`, released by the kernel when the process dies.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sihub.errors import IndexLockedError, IndexMismatchError, SihubError

from .fast_lexical import PREFIX as FAST_PREFIX

MANIFEST = "manifest.json"
DB = "sihub.db"
LOCK = "write.lock"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` whole (written aside, synced, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_failure(path: Path, exc: BaseException) -> SihubError:
    """One clear line for a write to the index folder that failed (disk full, read-only, no permission)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    low = text.lower()
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or any(
        w in low for w in ("disk is full", "no space", "file too large", "quota")
    ):
        reason = "disk full (no space left for the index); free some space and run the ingest again"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
        w in low for w in ("readonly", "read-only", "permission denied")
    ):
        reason = "the folder is read-only or permission is denied"
    elif "disk i/o error" in low:
        reason = "disk I/O error (is the disk full?)"
    else:
        reason = (text.splitlines() or [type(exc).__name__])[0][:200]
    return SihubError(f"cannot write to the index at {path}: {reason}")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write (SQLite, FAISS, the file system) into one SihubError line."""
    try:
        yield
    except SihubError:
        raise
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        raise write_failure(path, exc) from exc


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The folder's manifest; None when there is none. Unreadable: IndexMismatchError."""
    mpath = path / MANIFEST
    if not mpath.exists():
        return None
    try:
        return json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(
            f"index manifest {mpath} is unreadable ({exc}): run `sihub ingest --rebuild PATH...`"
        ) from exc


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    write_atomic(path / MANIFEST, json.dumps(manifest, indent=2).encode())


class WriteLock:
    """The exclusive lock of the one writer of a folder (`write.lock`, holding its pid)."""

    def __init__(self, path: Path) -> None:
        with writing(path):
            path.mkdir(parents=True, exist_ok=True)
            fh = open(path / LOCK, "a+")
        _take(fh, path)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh: IO[str] | None = fh

    def release(self) -> None:
        if self._fh:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def destroy(path: Path) -> None:
    """Remove an index folder's files (for `--rebuild`); other files are left alone.

    Refused with IndexLockedError while another process writes to the index.
    """
    if not path.exists():
        return
    with writing(path), open(path / LOCK, "a+") as fh:
        _take(fh, path, close=False)
        for name in os.listdir(path):
            if name in (MANIFEST, DB, f"{DB}-wal", f"{DB}-shm") or name.startswith("vectors-"):
                (path / name).unlink(missing_ok=True)
            elif name.startswith((FAST_PREFIX, f".{FAST_PREFIX}")):  # the Tantivy copies
                shutil.rmtree(path / name, ignore_errors=True)


def _take(fh: IO[str], path: Path, close: bool = True) -> None:
    """Lock `fh` exclusively, or raise IndexLockedError naming the holder."""
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        if close:
            fh.close()
        raise IndexLockedError(f"another ingest is writing to {path} ({holder}); wait for it to finish") from None
