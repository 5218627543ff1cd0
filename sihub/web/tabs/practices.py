"""The "Best practices" tab: the catalogue as cards (title, partner, country, year, type,
languages, abstract, pages, links to open the document and to ask about it), filtered by
country, partner, type, year, language and words, with the count of documents for each value.

Country and language names come from CLDR in the reader's language (the browser's first
language among the hub's).
"""

from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError

from ..render import esc
from ..text import request_lang, say, t
from .base import ANY, Page

FIELDS = ("country", "partner", "type", "year", "lang")


def facet_choices(name: str, counts: dict[str, int], shown: int, ui: str) -> list[tuple[str, str]]:
    """A drop-down's choices: "any (N)", then each value with its count, named in `ui`."""
    from sihub.assistant.i18n import country_name, lang_name

    def named(value: str) -> str:
        if name == "country":
            return country_name(value, ui)
        if name == "lang":
            return lang_name(value, ui)
        return value

    return [(f"{say(ui, 'any')} ({shown})", ANY), *((f"{named(v)} ({n})", v) for v, n in counts.items())]


def card(d: dict[str, Any], ui: str) -> str:
    """One document's card; every value from the document is escaped (shown as text)."""
    from sihub.assistant.i18n import country_name, lang_name

    country = country_name(str(d["country"]), ui) if d.get("country") else ""
    facts = [esc(x) for x in (d.get("partner"), country, d.get("year"), d.get("type")) if x not in (None, "")]
    langs = ", ".join(lang_name(x, ui) for x in (d.get("langs") or [d.get("lang")]) if x and x != "und")
    pages = say(ui, "pages_short", pages=int(d["pages"])) if d.get("pages") else ""
    lang = esc(d.get("lang") or "und")
    title = d.get("title") or d["file"]
    return (
        f'<article class="practice-card" id="practice-{int(d["id"])}" data-country="{esc(d.get("country") or "")}">'
        f'<h3 lang="{lang}">{esc(title)}</h3>'
        + (f'<div class="practice-meta">{" · ".join(facts)}</div>' if facts else "")
        + f'<div class="practice-langs">{esc(langs)}{" · " + esc(pages) if pages else ""}</div>'
        + (f'<p class="practice-abstract" lang="{lang}">{esc(d["abstract"])}</p>' if d.get("abstract") else "")
        + '<div class="practice-links">'
        f'<a class="open-doc" href="/view/{int(d["id"])}?lang={esc(ui)}" target="_blank" rel="noopener">{esc(say(ui, "open"))}</a>'
        f'<a class="ask-doc" href="#question" data-file="{esc(d["file"])}" data-title="{esc(title)}">'
        f"{esc(say(ui, 'ask_about'))}</a>"
        "</div></article>"
    )


def cards_html(found: dict[str, Any], ui: str) -> str:
    docs = found["documents"]
    caption = say(ui, "practice_count", shown=len(docs), total=found["total"])
    empty = f'<p class="src-empty">{esc(say(ui, "no_match"))}</p>'
    body = "".join(card(d, ui) for d in docs) or empty
    return f'<div class="practices"><p class="practice-count" role="status">{esc(caption)}</p>{body}</div>'


@dataclass
class PracticesTab:
    text: Any
    filters: list[Any]
    cards: Any

    def load(self, page: Page, ui: str) -> list[Any]:
        return browse(page, "", (ANY,) * len(FIELDS), ui)

    @property
    def load_outputs(self) -> list[Any]:
        return [self.cards, *self.filters]


def browse(page: Page, text: str, values: tuple, ui: str) -> list[Any]:
    """The cards and the drop-downs' choices (with counts) for these filter values."""
    import gradio as gr

    from sihub.assistant.catalogue import Query

    chosen = {f: (v if v and v != ANY else None) for f, v in zip(FIELDS, values, strict=True)}
    try:
        found = page.hub.browse(Query.of(text, **chosen))
    except SihubError as exc:
        return [f"<p>{esc(exc)}</p>", *(gr.update() for _ in FIELDS)]
    shown = len(found["documents"])
    updates = [
        gr.update(choices=facet_choices(f, found["facets"][f], shown, ui), value=chosen[f] or ANY) for f in FIELDS
    ]
    return [cards_html(found, ui), *updates]


def build(page: Page) -> PracticesTab:
    import gradio as gr

    with gr.Tab(t("tab_practices"), id="practices"):
        with gr.Row():
            text = gr.Textbox(
                placeholder=t("practice_search"),
                show_label=False,
                elem_id="practice-search",
                scale=3,
                min_width=200,
            )
        with gr.Row():
            filters = [
                gr.Dropdown(
                    choices=[(ANY, ANY)], value=ANY, label=t(f"filter_{f}"), elem_id=f"practice-{f}", min_width=120
                )
                for f in FIELDS
            ]
        cards = gr.HTML(elem_id="practice-cards", js_on_load=None)

    def changed(text: str, country: str, partner: str, kind: str, year: str, lang: str, request: gr.Request):
        return browse(page, text, (country, partner, kind, year, lang), request_lang(request))

    inputs = [text, *filters]
    text.input(changed, inputs, [cards, *filters], show_progress="hidden")
    for dropdown in filters:
        dropdown.input(changed, inputs, [cards, *filters], show_progress="hidden")
    return PracticesTab(text=text, filters=filters, cards=cards)
