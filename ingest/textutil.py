"""Small text helpers shared by the readers: joining wrapped lines, paragraphs from plain text."""

from __future__ import annotations

import re

from .model import Block

_BULLET = re.compile(r"^(?:[•◦▪▫‣∙·●○■□–—*+-]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+\S")


def join_lines(lines: list[str]) -> str:
    """Join the visual lines of one paragraph: a hyphen at a line end before a lower-case
    letter is a hyphenated word ("adip-" + "iscing" -> "adipiscing"); soft hyphens go."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("\u00ad"):
            out = out[:-1] + line
        elif re.search(r"[^\W\d_]{2}-$", out) and line[:1].islower():
            out = out[:-1] + line
        elif out.endswith(("-", "/")) and not out.endswith(" -"):
            out = out + line  # "Nord-" + "Pas-de-Calais", "and/" + "or": keep the mark, no space
        else:
            out = out + " " + line
    return out.replace("\u00ad", "")


def lines_to_blocks(text: str) -> list[Block]:
    """Paragraphs of plain text (blank-line separated, wrapped lines joined); list items apart."""
    blocks: list[Block] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    for para in re.split(r"\n\s*\n", text):
        lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in para.split("\n")]
        lines = [ln for ln in lines if ln]
        if not lines:
            continue
        buf: list[str] = []
        for ln in lines:
            if _BULLET.match(ln) and buf:
                blocks.append(_block(buf))
                buf = []
            buf.append(ln)
        blocks.append(_block(buf))
    return [b for b in blocks if b.text]


def _block(lines: list[str]) -> Block:
    kind = "item" if _BULLET.match(lines[0]) else "para"
    return Block(join_lines(lines), kind)


def mark_headings(blocks: list[Block], level: int = 2) -> list[Block]:
    """Plain text has no markup: a short single line without end punctuation that starts with
    a capital and is followed by a longer paragraph reads as a section heading."""
    out = list(blocks)
    for i in range(len(out) - 1):
        b = out[i]
        if (
            b.kind == "para"
            and len(b.text) < 80
            and "\n" not in b.text
            and not re.search(r"[.,;:!?]$", b.text)
            and b.text[:1].isupper()
            and len(out[i + 1].text) > len(b.text)
            and out[i + 1].kind != "heading"
        ):
            out[i] = Block(b.text, "heading", level)
    return out
