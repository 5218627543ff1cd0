"""Plain text and Markdown readers, with encoding detection."""

from __future__ import annotations

import re
from pathlib import Path

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument, ReadOptions
from .textutil import lines_to_blocks, mark_headings

_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
# Legacy code pages partners' files come in: Western, Baltic (Latvian), Central European.
_LEGACY = ("cp1252", "cp1257", "iso8859_13", "cp1250", "latin_1")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else the best-fitting legacy code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise BadInputError("not valid UTF-16 text (broken byte order mark?)") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if data.count(b"\x00") > len(data) // 100:
        raise BadInputError("binary content, not text (no text encoding fits)")
    text = _legacy(data)
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
    if controls > max(3, len(text) // 200):
        raise BadInputError("not a text file (neither UTF-8 nor a Windows code page fits)")
    return text


def _legacy(data: bytes) -> str:
    """Pick among legacy code pages with charset-normalizer; Windows-1252 when it cannot tell."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data, cp_isolation=list(_LEGACY)).best()
        if best is not None:
            return str(best)
    except Exception:  # noqa: BLE001 - detection is a nicety; the fallback below always decodes
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _inline(text: str) -> str:
    """Markdown inline markup out, words kept: links, images, emphasis, code, HTML tags."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\((?:[^)(]|\([^)]*\))*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = re.sub(r"</?[A-Za-z][^>\n]*>", "", text)
    text = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])", r"\2", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return text


def _md_block(para: str) -> Block | None:
    lines = [ln.rstrip() for ln in para.split("\n") if ln.strip()]
    if not lines:
        return None
    if all(ln.lstrip().startswith("|") for ln in lines):
        rows = []
        for ln in lines:
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue  # the |---|---| separator row
            rows.append(" | ".join(_inline(c) for c in cells))
        return Block("\n".join(rows), "table") if rows else None
    if all(ln.lstrip().startswith(">") for ln in lines):
        lines = [re.sub(r"^\s*>\s?", "", ln) for ln in lines]
    text = "\n".join(_inline(ln) for ln in lines)
    blocks = lines_to_blocks(text)
    if not blocks:
        return None
    if len(blocks) == 1:
        return blocks[0]
    return Block("\n".join(b.text for b in blocks), "item" if blocks[0].kind == "item" else "para")


def read_markdown(path: Path, data: bytes, opts: ReadOptions | None = None) -> ParsedDocument:
    text = decode(data).replace("\r\n", "\n").replace("\r", "\n")
    title = ""
    # YAML front matter: a title there is the document's title; the rest is not text.
    fm = re.match(r"^---\n(.*?)\n(?:---|\.\.\.)\n", text, re.S)
    if fm:
        m = re.search(r"^title:\s*[\"']?(.+?)[\"']?\s*$", fm.group(1), re.M)
        title = m.group(1).strip() if m else ""
        text = text[fm.end() :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)

    blocks: list[Block] = []
    buf: list[str] = []

    def flush() -> None:
        for para in re.split(r"\n\s*\n", "\n".join(buf)):
            block = _md_block(para)
            if block is not None:
                blocks.append(block)
        buf.clear()

    in_fence = False
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        m = None if in_fence else _MD_HEADING.match(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not in_fence and m is None and line.strip() and _SETEXT.match(nxt) and (not buf or not buf[-1].strip()):
            flush()
            blocks.append(Block(_inline(line.strip()), "heading", 1 if nxt.strip()[0] == "=" else 2))
            lines[i + 1] = ""
            continue
        if m:
            flush()
            level, heading = len(m.group(1)), _inline(m.group(2).strip())
            if heading:
                blocks.append(Block(heading, "heading", level))
        else:
            buf.append(line)
    flush()
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
        title = title or next((b.text for b in blocks if b.kind == "heading"), "")
    if not blocks:
        raise BadInputError("no text found (the file holds only white space or markup)")
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])


def read_text(path: Path, data: bytes, opts: ReadOptions | None = None) -> ParsedDocument:
    text = decode(data)
    blocks = lines_to_blocks(text)
    if not blocks:
        raise BadInputError("no text found (the file holds only white space)")
    title = ""
    first = blocks[0].text
    if len(first) < 120 and not first.endswith((".", ":", ",", ";")) and len(blocks) > 1:
        blocks[0] = Block(first, "heading", 1)
        title = first
    blocks = blocks[:1] + mark_headings(blocks[1:])
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])
