"""Plain text and Markdown readers."""

from __future__ import annotations

import re
from pathlib import Path

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), then UTF-16 with a BOM, then Windows-1252/Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise BadInputError("not valid UTF-16 text") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise BadInputError("binary content, not text (no UTF-8 or Windows-1252 reading fits)")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
    if controls > max(3, len(text) // 200):
        raise BadInputError("not text in UTF-8 or Windows-1252")
    return text


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = re.split(r"\n\s*\n", text)
    return [re.sub(r"[ \t]+\n", "\n", p).strip() for p in parts if p.strip()]


def read_markdown(path: Path, data: bytes) -> ParsedDocument:
    text = decode(data)
    blocks: list[Block] = []
    title = ""
    buf: list[str] = []

    def flush() -> None:
        for para in _paragraphs("\n".join(buf)):
            kind = "item" if re.match(r"^([-*+]|\d+[.)])\s", para) else "para"
            if para.startswith("|"):
                kind = "table"
            blocks.append(Block(para, kind))
        buf.clear()

    in_fence = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip().startswith("```"):
            in_fence = not in_fence
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            flush()
            level, heading = len(m.group(1)), m.group(2).strip()
            if heading:
                blocks.append(Block(heading, "heading", level))
                title = title or heading
        else:
            buf.append(line)
    flush()
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])


def read_text(path: Path, data: bytes) -> ParsedDocument:
    text = decode(data)
    blocks = [Block(p) for p in _paragraphs(text)]
    title = ""
    if blocks:
        first = blocks[0].text
        if "\n" not in first and len(first) < 120 and not first.endswith((".", ":")):
            blocks[0] = Block(first, "heading", 1)
            title = first
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])
