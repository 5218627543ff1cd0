"""One dispatch table from file extension to reader; `read_document` is the entry point."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

from sihub.errors import BadInputError, UnsupportedFormatError

from .docx import read_docx
from .html import read_html
from .model import ParsedDocument, ReadOptions
from .pdf import read_pdf
from .text import read_markdown, read_text

Reader = Callable[[Path, bytes, ReadOptions], ParsedDocument]

READERS: dict[str, Reader] = {
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
    ".xhtml": read_html,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".text": read_text,
}

# Raised when a reader's output for the same file changes (or the chunks cut from it), so that
# the next ingest reads such files again instead of keeping what the older reader made of them.
# 2: PDF table rows whose cells wrap are rebuilt as one row.
READER_VERSIONS: dict[str, int] = {".pdf": 2}


def reader_version(path: Path) -> int:
    """The version of the reader for `path` (1 unless raised in `READER_VERSIONS`)."""
    return READER_VERSIONS.get(path.suffix.lower(), 1)


def supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def read_document(path: str | Path, max_bytes: int | None = None, options: ReadOptions | None = None) -> ParsedDocument:
    """Parse one file into pages of blocks; raises BadInputError with a one-line reason."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnsupportedFormatError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise BadInputError(f"file too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB limit)")
        data = path.read_bytes()
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise BadInputError("broken symlink (its target does not exist)") from exc
        raise BadInputError("file vanished before it could be read") from exc
    except IsADirectoryError as exc:
        raise BadInputError("is a directory") from exc
    except PermissionError as exc:
        raise BadInputError("permission denied") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInputError("symlink loop") from exc
        raise BadInputError(f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise BadInputError("empty file (0 bytes)")
    try:
        doc = reader(path, data, options or ReadOptions())
    except BadInputError as exc:
        reason = " ".join(str(exc).split())  # parser messages may span lines; the reason is one
        if reason == str(exc):
            raise
        raise type(exc)(reason) from exc
    if not doc.title:
        doc.title = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
    return doc
