"""One dispatch table from file extension to reader; `read_document` is the entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sihub.errors import BadInputError, UnsupportedFormatError

from .model import ParsedDocument
from .pdf import read_pdf
from .text import read_markdown, read_text

Reader = Callable[[Path, bytes], ParsedDocument]

READERS: dict[str, Reader] = {
    ".pdf": read_pdf,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
}


def supported(path: Path) -> bool:
    return path.suffix.lower() in READERS


def read_document(path: str | Path, max_bytes: int | None = None) -> ParsedDocument:
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
        raise BadInputError("file vanished before it could be read") from exc
    except IsADirectoryError as exc:
        raise BadInputError("is a directory") from exc
    except PermissionError as exc:
        raise BadInputError("permission denied") from exc
    except OSError as exc:
        raise BadInputError(f"cannot read file ({exc.strerror or exc})") from exc
    if not data:
        raise BadInputError("empty file (0 bytes)")
    doc = reader(path, data)
    if not doc.title:
        doc.title = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
    return doc
