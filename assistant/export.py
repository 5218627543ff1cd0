"""An answer to take away: Markdown with numbered references (issue 23, item 5).

One rendering for every place an answer leaves the hub (`sihub ask --markdown`,
`POST /api/ask?format=markdown`, the chat's copy and download buttons, the OpenAI-compatible
endpoint, the MCP `ask` tool), so a pasted answer names its sources the same way everywhere:
`[n]` in the text is reference `[n]` below it, with title, partner, country, year, file and page.
"""

from __future__ import annotations

import re

from sihub.types import Answer, Citation

from .i18n import country_name, label

_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def to_markdown(answer: Answer, *, question: bool = True) -> str:
    """The answer as Markdown: the question (left out where the reader just asked it, as in a
    chat client), the text with its `[n]` markers, the note, then the references."""
    lang = answer.language
    parts = [f"**{label(lang, 'question')}:** {inline(answer.question)}"] if question else []
    parts.append(answer.answer.strip())
    if answer.note:
        parts.append(f"*{inline(answer.note)}*")
    if answer.citations:
        parts.append(references(answer.citations, lang))
    return "\n\n".join(parts) + "\n"


def references(citations: list[Citation], lang: str) -> str:
    """The references block, its heading in the answer's language `lang`, one line per citation."""
    return "\n".join([f"**{label(lang, 'references')}**", "", *(reference(c, lang) for c in citations)])


def reference(c: Citation, lang: str) -> str:
    """`- [n] Title — partner, country, year — file, p. N`, the country named in `lang`.

    Catalogue fields a document lacks are left out rather than shown empty."""
    facts = [str(v) for v in _catalogue(c, lang) if v not in (None, "")]
    where = inline(c.file) + (", " + label(lang, "page", page=c.page) if c.page else "")
    head = f"[{c.n}] {inline(c.title or c.file)}"
    return "- " + " — ".join(dict.fromkeys(x for x in (head, inline(", ".join(facts)), where) if x))


def _catalogue(c: Citation, lang: str) -> tuple:
    """Partner, country (named in `lang`) and year of the cited document, None where unknown."""
    meta = c.meta or {}
    country = meta.get("country")
    return meta.get("partner"), country_name(str(country), lang) if country else None, meta.get("year")


def inline(text: str) -> str:
    """`text` on one line with Markdown's markup characters escaped: a title or file name from a
    document is shown as written, never read as a link, emphasis or HTML."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
