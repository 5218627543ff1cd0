"""Open the quote (issue 23, item 4): `/view/{doc_id}` shows an indexed document inside the app
at the cited place, the quoted passage highlighted.

- A PDF is drawn by PDF.js (npm's `pdfjs-dist`, installed by `make install` and served from
  here, never from another site) at the cited page, the lines of the quote outlined.
- Any other document (DOCX, HTML, Markdown, text), or a PDF when PDF.js is not installed, is
  shown as its indexed text, page by page, scrolled to the quote in a `<mark>`.

Only indexed documents are shown, found by id through the index (no path from the request
reaches the disk), and only the few PDF.js files named here are served. Everything from a
document is escaped: its text is always shown as text. The page allows scripts of this
server only (and its own inline script by nonce).
"""

from __future__ import annotations

import html
import json
import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from sihub.settings import Settings
from sihub.types import Chunk, Document

from .failures import error
from .hub import Hub
from .render import MAX_QUOTE, view_url

STATIC = Path(__file__).with_name("static")
SOURCE_ROOT = Path(__file__).resolve().parents[2]
PDFJS_FILES = {"pdf.min.mjs": "build/pdf.min.mjs", "pdf.worker.min.mjs": "build/pdf.worker.min.mjs"}
"""The PDF.js files the viewer loads, by the name they are served under."""
_FONT = re.compile(r"[A-Za-z0-9_-]{1,64}\.(?:pfb|ttf)")


def pdfjs_dir(settings: Settings) -> Path | None:
    """The `pdfjs-dist` folder, if it is installed (`Settings.pdfjs`, else node_modules of the source)."""
    folder = settings.pdfjs or SOURCE_ROOT / "node_modules" / "pdfjs-dist"
    return folder if (folder / PDFJS_FILES["pdf.min.mjs"]).is_file() else None


def add_routes(app: FastAPI, hub: Hub, settings: Settings) -> None:
    """`GET /view/{doc_id}` and the PDF.js files under `/viewer/`."""

    @app.get("/viewer/pdfjs/{name}", include_in_schema=False)
    def pdfjs(name: str) -> Any:
        folder = pdfjs_dir(settings)
        if folder is None or name not in PDFJS_FILES:
            return error(404, "no such viewer file")
        return _script(folder / PDFJS_FILES[name])

    @app.get("/viewer/pdfjs/standard_fonts/{name}", include_in_schema=False)
    def font(name: str) -> Any:
        folder = pdfjs_dir(settings)
        path = folder / "standard_fonts" / name if folder is not None and _FONT.fullmatch(name) else None
        if path is None or not path.is_file():
            return error(404, "no such viewer file")
        return FileResponse(path, media_type="application/octet-stream", headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/viewer/viewer.js", include_in_schema=False)
    def script() -> Any:
        return _script(STATIC / "viewer.js")

    @app.get("/view/{doc_id}", tags=["documents"], response_class=HTMLResponse)
    def view(
        request: Request,
        doc_id: int,
        page: int | None = Query(None, ge=1, description="The cited page (PDF and other paged formats)."),
        chunk: int | None = Query(None, ge=0, description="The cited passage's chunk id."),
        q: str = Query("", max_length=MAX_QUOTE, description="The quoted passage, highlighted."),
        text: bool = Query(False, description="The text view, even for a PDF."),
        lang: str | None = Query(
            None,
            max_length=8,
            description="The reader's language (sv, lv, fr, es, en); by default the page's (cookie, Accept-Language).",
        ),
    ) -> Any:
        """An indexed document inside the app, at the cited page with the quote highlighted."""
        from sihub.assistant.i18n import ui_lang  # the assistant layer loads with the first view

        from .text import request_lang

        lang = lang or request_lang(request)

        doc = hub.document(doc_id)
        if doc is None:
            return error(404, f"no document with id {doc_id}")
        is_pdf = doc.path.lower().endswith(".pdf")
        if is_pdf and not text and pdfjs_dir(settings) is not None and hub.file_of(doc) is not None:
            return _page(pdf_view(doc, page or 1, q, ui_lang(lang)))
        chunks = hub.assistant.chunks(doc.path)
        return _page(text_view(doc, chunks, page, chunk, q, ui_lang(lang), pdf_missing=is_pdf and not text))


def _script(path: Path) -> FileResponse:
    return FileResponse(
        path,
        media_type="text/javascript; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"},
    )


def _page(body: tuple[str, str]) -> HTMLResponse:
    """The viewer page with its content security policy (`body` is the HTML and its nonce)."""
    content, nonce = body
    policy = (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data: blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(content, headers=headers)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


STYLE = """
body { font-family: system-ui, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #1f2937; background: #f3f4f6; }
header { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid #d1d5db; padding: 8px 12px;
  display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
header h1 { font-size: 1.05em; margin: 0; overflow-wrap: anywhere; flex: 1 1 260px; }
header a, header button { font: inherit; color: #1d4ed8; }
header button { background: #fff; border: 1px solid #d1d5db; border-radius: 6px; padding: 2px 10px; cursor: pointer; }
header button:disabled { opacity: 0.4; cursor: default; }
a:focus-visible, button:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
main { padding: 12px; max-width: 1100px; margin: 0 auto; }
#stage { position: relative; margin: 0 auto; background: #fff; box-shadow: 0 1px 4px rgba(0,0,0,.2); }
#marks { position: absolute; inset: 0; pointer-events: none; }
.quote-mark { position: absolute; background: rgba(250, 204, 21, .38); outline: 2px solid rgba(217, 119, 6, .8); }
.text-page { background: #fff; border: 1px solid #d1d5db; border-radius: 6px; padding: 12px 16px; margin-bottom: 12px; }
.text-page h2 { font-size: .9em; margin: 0 0 6px; color: #6b7280; }
.text-page .text { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.5; }
mark#quote { background: #fde68a; scroll-margin-top: 30vh; }
.note { color: #92400e; }
"""


def _head(title: str, nonce: str, lang: str) -> str:
    return (
        f'<!doctype html><html lang="{_esc(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_esc(title)} · sihub</title><style nonce="{nonce}">{STYLE}</style></head>'
    )


def pdf_view(doc: Document, page: int, quote: str, lang: str = "en") -> tuple[str, str]:
    """The PDF.js page: the toolbar, the canvas and its marks, the data for `static/viewer.js`."""
    from sihub.assistant.i18n import label

    nonce = secrets.token_urlsafe(16)
    data = {
        "file": f"/files/{int(doc.id)}",
        "page": page,
        "quote": quote,
        "pageLabel": label(lang, "viewer_page", page="{page}", pages="{pages}"),
        "failed": label(lang, "viewer_failed"),
    }
    # JSON inside <script>: no "</script>" or "<!--" can close it early.
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    text_link = view_url(doc.id, page, None, quote, lang) or ""
    text_link = text_link.replace("#quote", "") + ("&" if "?" in text_link else "?") + "text=1#quote"
    body = (
        f'<body data-view="pdf"><header><h1 lang="{_esc(doc.lang)}">{_esc(doc.title or doc.path)}</h1>'
        f'<button id="prev" type="button" aria-label="{_esc(label(lang, "previous_page"))}">◀</button>'
        f'<span id="page-info" role="status">{_esc(label(lang, "page_heading", page=page))}</span>'
        f'<button id="next" type="button" aria-label="{_esc(label(lang, "next_page"))}">▶</button>'
        f'<a href="{_esc(text_link)}">{_esc(label(lang, "text_view"))}</a>'
        f'<a href="/files/{int(doc.id)}#page={page}">{_esc(label(lang, "original_file"))}</a></header>'
        '<main><div id="stage"><canvas id="page-canvas"></canvas><div id="marks"></div></div></main>'
        f'<script type="application/json" id="viewer-data">{payload}</script>'
        '<script type="module" src="/viewer/viewer.js"></script></body></html>'
    )
    return _head(doc.title or doc.path, nonce, lang) + body, nonce


def _page_texts(chunks: list[Chunk]) -> dict[int | None, list[str | None]]:
    """Each page's text, character by character, from the chunks that cover it (chunks overlap;
    a stretch no chunk covers stays None)."""
    pages: dict[int | None, list[str | None]] = {}
    for c in chunks:
        chars = pages.setdefault(c.page, [])
        if len(chars) < c.end:
            chars.extend([None] * (c.end - len(chars)))
        chars[c.start : c.start + len(c.text)] = list(c.text)
    return pages


def text_view(
    doc: Document,
    chunks: list[Chunk],
    page: int | None,
    chunk_id: int | None,
    quote: str,
    lang: str = "en",
    pdf_missing: bool = False,
) -> tuple[str, str]:
    """The document's indexed text, page by page, the quote in `<mark id="quote">`."""
    from sihub.assistant.i18n import label

    nonce = secrets.token_urlsafe(16)
    pages = _page_texts(chunks)
    target = next((c for c in chunks if c.id == chunk_id), None) if chunk_id is not None else None
    where: tuple[int | None, int, int] | None = None
    if quote:
        if target is not None and quote in target.text:
            at = target.start + target.text.index(quote)
            where = (target.page, at, at + len(quote))
        else:  # the first page (the cited one first) that holds it
            order = sorted(pages, key=lambda p: (p != page, p or 0))
            for p in order:
                text = "".join(ch or " " for ch in pages[p])
                at = text.find(quote)
                if at >= 0:
                    where = (p, at, at + len(quote))
                    break
    sections = []
    for p in sorted(pages, key=lambda p: p or 0):
        text = "".join(ch if ch is not None else "\n" for ch in pages[p])
        if where is not None and where[0] == p:
            _, a, b = where
            inner = _esc(text[:a]) + '<mark id="quote">' + _esc(text[a:b]) + "</mark>" + _esc(text[b:])
        else:
            inner = _esc(text)
        heading = f"<h2>{_esc(label(lang, 'page_heading', page=p))}</h2>" if p else ""
        anchor = f' id="page-{p}"' if p else ""
        sections.append(
            f'<section class="text-page"{anchor}>{heading}<div class="text" lang="{_esc(doc.lang)}">{inner}</div></section>'
        )
    note = f'<p class="note">{_esc(label(lang, "pdfjs_missing"))}</p>' if pdf_missing else ""
    missing = f'<p class="note">{_esc(label(lang, "quote_missing"))}</p>' if quote and where is None else ""
    scroll = (
        f'<script nonce="{nonce}">var m=document.getElementById("quote");if(m)m.scrollIntoView({{block:"center"}});</script>'
        if where
        else ""
    )
    body = (
        f'<body data-view="text" data-highlighted="{1 if where else 0}"><header>'
        f'<h1 lang="{_esc(doc.lang)}">{_esc(doc.title or doc.path)}</h1>'
        f'<a href="/files/{int(doc.id)}">{_esc(label(lang, "original_file"))}</a></header><main>{note}{missing}{"".join(sections)}</main>'
        f"{scroll}</body></html>"
    )
    return _head(doc.title or doc.path, nonce, lang) + body, nonce
