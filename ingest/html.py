"""HTML reader: the main content only, through trafilatura (boilerplate, menus, banners out)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sihub.errors import BadInputError

from .model import Block, Page, ParsedDocument, ReadOptions


def read_html(path: Path, data: bytes, opts: ReadOptions | None = None) -> ParsedDocument:
    import trafilatura
    from lxml import etree

    html = _decode(data)
    if "<" not in html:
        raise BadInputError("not HTML (no markup found)")
    options = dict(
        output_format="xml", include_tables=True, include_comments=False, include_formatting=False,
        include_links=False, include_images=False, with_metadata=True, deduplicate=False,
    )  # fmt: skip
    try:
        xml = trafilatura.extract(html, **options)
        if not xml:  # short pages fall under the precision threshold: ask for recall
            xml = trafilatura.extract(html, favor_recall=True, **options)
    except Exception as exc:  # noqa: BLE001 - the extractor's parse errors
        raise BadInputError(f"unreadable HTML ({type(exc).__name__}: {str(exc)[:100]})") from exc
    blocks: list[Block] = []
    meta_title = ""
    if xml:
        root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(recover=True, huge_tree=False))
        if root is not None:
            meta_title = (root.get("title") or "").strip()
            main = root.find("main")
            _walk(main if main is not None else root, blocks)
    if not blocks:
        raise BadInputError("no main text found in this HTML page")
    title = _page_title(html) or meta_title
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    title = h1 or title
    return ParsedDocument(str(path), title=title, pages=[Page(None, blocks)])


def _decode(data: bytes) -> str:
    head = data[:4096].decode("ascii", "ignore")
    m = re.search(r"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", head, re.I)
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    for enc in ([m.group(1)] if m else []) + ["utf-8"]:
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    from .text import decode

    return decode(data)


def _page_title(html: str) -> str:
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.S | re.I)
    if not m:
        return ""
    import html as htmllib

    title = re.sub(r"\s+", " ", htmllib.unescape(m.group(1))).strip()
    # "Page name | Site name": the site name is the same on every page, not this page's title.
    parts = re.split(r"\s+[|–—·•]\s+|\s+-\s+", title)
    return parts[0].strip() if parts and len(parts[0]) >= 4 else title


def _text(el: Any) -> str:
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def _walk(el: Any, blocks: list[Block]) -> None:
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "head":
            text = _text(child)
            m = re.match(r"h(\d)", child.get("rend") or "")
            if text:
                blocks.append(Block(text, "heading", int(m.group(1)) if m else 2))
        elif tag == "list":
            for item in child.iter("item"):
                text = _text(item)
                if text:
                    blocks.append(Block(text, "item"))
        elif tag == "table":
            rows = []
            for row in child.iter("row"):
                cells = [_text(c) for c in row if isinstance(c.tag, str) and c.tag == "cell"]
                if any(cells):
                    rows.append(" | ".join(cells))
            if rows:
                blocks.append(Block("\n".join(rows), "table"))
        elif tag in ("p", "quote", "code"):
            text = _text(child)
            if text:
                blocks.append(Block(text, "para"))
        elif tag in ("div", "main", "section"):
            _walk(child, blocks)
        elif tag in ("graphic", "comments", "ref", "lb"):
            continue
        else:
            text = _text(child)
            if text:
                blocks.append(Block(text, "para"))
