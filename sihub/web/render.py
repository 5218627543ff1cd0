"""HTML for the web page: answers with linked `[n]` markers, source cards, the documents table.

Everything that comes from a document or a user (text, titles, file names, headings) goes
through `html.escape` here, so it is always shown as text and never interpreted as HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from sihub.types import Answer, Citation, Document, IngestReport

LANGUAGES = {
    "sv": "Svenska",
    "lv": "Latviešu",
    "fr": "Français",
    "es": "Español",
    "en": "English",
    "de": "Deutsch",
    "und": "unknown language",
}

_MARKER = re.compile(r"\[(\d{1,3})\]")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def lang_label(code: str) -> str:
    name = LANGUAGES.get(code or "und")
    return f"{(code or 'und').upper()} · {name}" if name else (code or "und").upper()


def anchor(turn: int, n: int) -> str:
    """The element id of citation `n` of answer number `turn` (unique within the page)."""
    return f"src-{turn}-{n}"


def file_url(doc_id: int | None, page: int | None, file: str) -> str | None:
    """Where the original document opens; PDFs open at the cited page."""
    if doc_id is None:
        return None
    url = f"/files/{int(doc_id)}"
    if page and file.lower().endswith(".pdf"):
        url += f"#page={int(page)}"
    return url


MAX_QUOTE = 2000
"""Longest quote a viewer address carries (a quote is at most a few sentences)."""


def view_url(
    doc_id: int | None, page: int | None = None, chunk_id: int | None = None, quote: str = "", lang: str = ""
) -> str | None:
    """Where the document opens inside the app (`viewer.py`): at the cited page, the quote highlighted."""
    from urllib.parse import urlencode

    if doc_id is None:
        return None
    params: dict[str, Any] = {}
    if page:
        params["page"] = int(page)
    if chunk_id is not None:
        params["chunk"] = int(chunk_id)
    if quote:
        params["q"] = quote[:MAX_QUOTE]
    if lang:
        params["lang"] = lang
    return f"/view/{int(doc_id)}" + (f"?{urlencode(params)}" if params else "") + ("#quote" if quote else "")


def answer_markdown(answer: Answer, turn: int, upto: int | None = None) -> str:
    """The answer as chat Markdown: the text escaped, each valid `[n]` a link to its source card.

    `upto` cuts the text (for progressive display) before markers are linked, so a marker is
    never split in half.
    """
    text = answer.answer if upto is None else answer.answer[:upto]
    valid = {c.n for c in answer.citations}
    out = []
    last = 0
    for m in _MARKER.finditer(text):
        out.append(esc(text[last : m.start()]))
        n = int(m.group(1))
        if n in valid:
            out.append(f'<a href="#{anchor(turn, n)}" class="cite-link" data-cite="{anchor(turn, n)}">[{n}]</a>')
        else:
            out.append(esc(m.group(0)))
        last = m.end()
    out.append(esc(text[last:]))
    body = "".join(out)
    if upto is None and answer.note:
        body += f"\n\n*{esc(answer.note)}*"
    return body


def take_away_links(url: str, copy: str, download: str) -> str:
    """Under an answer in the chat: copy it with its references, download it as Markdown. The
    page's script (`HEAD`) fetches `url`, the answer's Markdown kept by the server, whose last
    part is the file name. (The chat keeps a link's class and address, not its data- attributes.)"""
    return (
        f'\n\n<span class="take-away-links"><a class="take-away take-away-copy" href="{esc(url)}">{esc(copy)}</a>'
        f' · <a class="take-away take-away-download" href="{esc(url)}">{esc(download)}</a></span>'
    )


def highlighted(text: str, quote: str) -> str:
    """The chunk, escaped, with the quoted sentence(s) wrapped in <mark>."""
    at = text.find(quote) if quote else -1
    if at < 0:
        return esc(text)
    return esc(text[:at]) + "<mark>" + esc(quote) + "</mark>" + esc(text[at + len(quote) :])


def citation_card(c: Citation, turn: int, doc_id: int | None, lang: str = "en") -> str:
    """A source card, its labels in the answer's language `lang`."""
    from sihub.assistant.i18n import label  # the assistant layer loads only where answers are shown

    where = esc(c.file) + (f" · {esc(label(lang, 'page', page=int(c.page)))}" if c.page else "")
    url = view_url(doc_id, c.page, c.chunk_id, c.quote, lang)
    original = file_url(doc_id, c.page, c.file)
    text = label(lang, "open_document_page", page=int(c.page)) if c.page else label(lang, "open_document")
    link = (
        f'<div class="src-links"><a class="open-doc" href="{esc(url)}" target="_blank" rel="noopener">{esc(text)}</a>'
        f' <a class="open-file" href="{esc(original)}" target="_blank" rel="noopener">{esc(label(lang, "original_file"))}</a></div>'
        if url
        else ""
    )
    heading = f'<div class="src-heading">{esc(c.heading)}</div>' if c.heading else ""
    meta = " · ".join(esc(c.meta[k]) for k in ("partner", "country", "year", "type") if c.meta.get(k))
    return (
        f'<article class="src-card" id="{anchor(turn, c.n)}">'
        f'<header><span class="src-n">[{c.n}]</span> <span class="src-title">{esc(c.title or c.file)}</span></header>'
        f'<div class="src-where"><span class="src-file">{where}</span> '
        f'<span class="src-lang" title="{esc(label(lang, "passage_lang"))}">{esc(lang_label(c.lang))}</span>'
        + (f' <span class="src-meta">{meta}</span>' if meta else "")
        + "</div>"
        + heading
        + f'<p class="src-text">{highlighted(c.text, c.quote)}</p>'
        + link
        + "</article>"
    )


def sources_html(answer: Answer | None, turn: int, doc_ids: dict[str, int], empty: str = "") -> str:
    """The source cards of an answer; before any, `empty` (the page's "sources appear here")."""
    if answer is None:
        return f'<div class="src-empty">{esc(empty)}</div>'
    if not answer.citations:
        related = "".join(
            f"<li>{esc(r.get('title') or r.get('file'))} <small>{esc(r.get('file'))}</small></li>"
            for r in answer.related
        )
        from sihub.assistant.i18n import label

        lang = answer.language
        return (
            f'<div class="src-empty">{esc(label(lang, "no_support"))}'
            + (f"<br>{esc(label(lang, 'related'))}<ul>{related}</ul>" if related else "")
            + "</div>"
        )
    if answer.groups:
        return grouped_sources_html(answer, turn, doc_ids)
    cards = "".join(citation_card(c, turn, doc_ids.get(c.file), answer.language) for c in answer.citations)
    return f'<div class="src-list">{cards}</div>'


def grouped_sources_html(answer: Answer, turn: int, doc_ids: dict[str, int]) -> str:
    """A comparison's source cards under one heading per group; a group without any says so."""
    from sihub.assistant.i18n import label

    by_n = {c.n: c for c in answer.citations}
    parts = []
    for g in answer.groups:
        cards = "".join(
            citation_card(by_n[n], turn, doc_ids.get(by_n[n].file), answer.language)
            for n in g["citations"]
            if n in by_n
        )
        body = cards or f'<div class="src-empty">{esc(label(answer.language, "no_support"))}</div>'
        parts.append(
            f'<section class="src-group" data-key="{esc(g["key"])}" data-found="{str(bool(g["found"])).lower()}">'
            f"<h4>{esc(g['label'])}</h4>{body}</section>"
        )
    return f'<div class="src-list">{"".join(parts)}</div>'


def documents_html(docs: Iterable[Document], query: str = "", lang: str = "en") -> str:
    """The documents table, its headings in the interface language `lang`."""
    from .text import say

    q = query.strip().lower()
    rows = []
    count = 0
    for d in docs:
        fields = [d.title, d.path, " ".join(d.langs), *(str(v) for v in d.meta.values())]
        if q and not any(q in (f or "").lower() for f in fields):
            continue
        count += 1
        rows.append(
            "<tr>"
            f"<td>{esc(d.id)}</td><td>{esc(d.title)}</td><td class='doc-file'>{esc(d.path)}</td>"
            f"<td>{esc(', '.join(d.langs) or d.lang)}</td><td>{esc(d.pages or '–')}</td><td>{esc(d.chunks)}</td>"
            f"<td>{esc(d.meta.get('partner', ''))}</td><td>{esc(d.meta.get('country', ''))}</td>"
            f"<td>{esc((d.ingested_at or '')[:19].replace('T', ' '))}</td>"
            "</tr>"
        )
    columns = ("title", "file", "languages", "pages", "chunks", "partner", "country", "ingested")
    head = "<tr><th>id</th>" + "".join(f"<th>{esc(say(lang, f'col_{c}'))}</th>" for c in columns) + "</tr>"
    caption = (
        say(lang, "documents_matching", count=count, query=query.strip())
        if q
        else say(lang, "documents_count", count=count)
    )
    return f'<div class="doc-table"><p>{esc(caption)}</p><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def report_lines(report: IngestReport) -> list[str]:
    """What the CLI prints after an ingest: one line per problem, then the summary."""
    lines = []
    for r in report.results:
        if r.status in ("failed", "skipped"):
            lines.append(f"{r.path}: {r.reason}" + (" (skipped)" if r.status == "skipped" else ""))
        elif r.status in ("added", "updated", "unchanged", "renamed"):
            lines.append(f"{r.path}: {r.status}" + (f" ({r.chunks} chunks)" if r.chunks else ""))
        for w in r.warnings:
            lines.append(f"{r.path}: {w}")
    lines.append(report.summary())
    return lines


def pre(lines: Iterable[str]) -> str:
    return '<pre class="report">' + esc("\n".join(lines)) + "</pre>"


CSS = """
.src-list { display: flex; flex-direction: column; gap: 10px; max-height: 72vh; overflow-y: auto; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  background: var(--background-fill-primary); scroll-margin-top: 12px; }
.src-card.flash { outline: 3px solid #f59e0b; }
.src-card header { font-weight: 600; }
.src-n { color: var(--color-accent); }
.src-where, .src-heading { font-size: 0.85em; opacity: 0.8; margin-top: 2px; }
.src-lang { display: inline-block; padding: 0 6px; border-radius: 10px; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); }
.src-text { white-space: pre-wrap; font-size: 0.92em; margin: 6px 0; overflow-wrap: anywhere; max-height: 15em;
  overflow-y: auto; position: relative; }
.src-text mark { background: #fde68a; color: inherit; padding: 0 1px; }
.src-empty { opacity: 0.7; padding: 8px; }
.src-group { display: flex; flex-direction: column; gap: 8px; }
.src-group h4 { margin: 6px 0 0; }
.doc-table { overflow-x: auto; }
.doc-table table { width: 100%; border-collapse: collapse; font-size: 0.9em; }
.doc-table th, .doc-table td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--border-color-primary);
  vertical-align: top; }
.doc-file { overflow-wrap: anywhere; }
.practices { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.practice-count { grid-column: 1 / -1; margin: 0; opacity: 0.8; }
.practice-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  background: var(--background-fill-primary); display: flex; flex-direction: column; gap: 4px; min-width: 0; }
.practice-card h3 { margin: 0; font-size: 1.05em; overflow-wrap: anywhere; }
.practice-meta, .practice-langs { font-size: 0.85em; opacity: 0.8; }
.practice-abstract { font-size: 0.92em; margin: 4px 0; overflow-wrap: anywhere; }
.practice-links { display: flex; gap: 14px; margin-top: auto; }
.practice-links a { font-weight: 600; color: var(--color-accent); }
.practice-links a:focus-visible, a.cite-link:focus-visible, a.open-doc:focus-visible { outline: 2px solid var(--color-accent); }
.gap-count { font-weight: 700; width: 3em; }
.gap-label { font-weight: 600; overflow-wrap: anywhere; }
.gap-examples { margin: 2px 0 0 1em; padding: 0; font-size: 0.9em; opacity: 0.85; overflow-wrap: anywhere; }
pre.report { white-space: pre-wrap; overflow-wrap: anywhere; }
.src-links { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.9em; }
#chat a.cite-link, a.cite-link { text-decoration: none; font-weight: 600; color: var(--color-accent); }
@media (max-width: 820px) {
  .practices { grid-template-columns: 1fr; }
  .src-list { max-height: none; }
  .doc-table th:nth-child(1), .doc-table td:nth-child(1),
  .doc-table th:nth-child(9), .doc-table td:nth-child(9) { display: none; }
}
"""

# Clicking `[n]` in an answer scrolls the sources panel to that card (and briefly outlines it).
HEAD = """
<script>
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest("a.cite-link, a[href^='#src-']") : null;
  if (!a) return;
  var id = a.getAttribute("data-cite") || (a.getAttribute("href") || "").slice(1);
  var card = document.getElementById(id);
  ev.preventDefault();
  ev.stopPropagation();
  if (!card) return;
  card.scrollIntoView({behavior: "smooth", block: "center"});
  card.classList.add("flash");
  setTimeout(function () { card.classList.remove("flash"); }, 1600);
}, true);
// "Ask about it" on a catalogue card: the chat asks about that document only, from the question box.
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest("a.ask-doc") : null;
  if (!a) return;
  ev.preventDefault();
  var box = document.querySelector("#ask-about textarea, #ask-about input");
  if (box) {
    box.value = a.getAttribute("data-file") || "";
    box.dispatchEvent(new Event("input", {bubbles: true}));
  }
  var tab = document.querySelector("[role=tab]");  // the Chat tab comes first, in every language
  if (tab) tab.click();
  setTimeout(function () {
    var q = document.querySelector("#question textarea");
    if (q) q.focus();
  }, 50);
}, true);
// Copy a text, or save it as a file: for the take-away links under each answer and for the
// latest answer's buttons (`tabs/chat.py`).
window.sihubCopy = function (text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  var area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
};
window.sihubSave = function (text, name) {
  var link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "text/markdown;charset=utf-8"}));
  link.download = name;
  document.body.appendChild(link);
  link.click();
  setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
};
// "Copy with references" and "Download Markdown" under each answer: the answer's Markdown, kept by
// the server for a while (`Hub.keep_answer`), is fetched and copied or saved; nothing opens.
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest("a.take-away") : null;
  if (!a) return;
  ev.preventDefault();
  ev.stopPropagation();
  fetch(a.getAttribute("href")).then(function (r) {
    if (!r.ok) throw new Error(r.status);
    return r.text();
  }).then(function (text) {
    if (a.classList.contains("take-away-copy")) return window.sihubCopy(text);
    window.sihubSave(text, a.getAttribute("href").split("/").pop());
  }).catch(function () { a.classList.add("take-away-gone"); });
}, true);
// Each card shows its whole chunk in a scrolling box, opened at the highlighted quote.
new MutationObserver(function () {
  document.querySelectorAll(".src-text").forEach(function (box) {
    var mark = box.querySelector("mark");
    if (!mark || box.dataset.placed) return;
    box.dataset.placed = "1";
    box.scrollTop = Math.max(0, mark.offsetTop - 24);
  });
}).observe(document.documentElement, {childList: true, subtree: true});
</script>
"""
