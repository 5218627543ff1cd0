"""The web page (Gradio Blocks): one tab per module under `tabs/`, put together here.

The tabs' handlers only call `Hub` and the HTML helpers in `render`; no model is loaded here.
What crosses tabs is wired here: after an upload or a deletion, and when the page loads, every
tab that shows documents (or offers their values as filters) is refreshed. The page speaks the
reader's language (`text`): the builders name their labels by key, the handlers render in
`request_lang(request)`, and the language menu at the top keeps a choice in a cookie.
"""

# No `from __future__ import annotations`: Gradio reads `gr.Request` in handler annotations.
from typing import Any

from sihub.settings import Settings

from .auth import Guard
from .hub import Hub
from .render import CSS, HEAD
from .tabs import add, chat, documents, gaps, practices
from .tabs.add import UPLOAD_TOKEN_TTL
from .tabs.base import Page
from .text import CHOOSE_LANGUAGE, language_choices, request_lang, t


def ui_assets() -> tuple[Any, str, str]:
    """Theme (system fonts: the page needs no outside network), CSS and the head script."""
    import gradio as gr

    theme = gr.themes.Soft(
        font=["system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )
    return theme, CSS, HEAD


def build_ui(hub: Hub, settings: Settings, guard: Guard | None = None):  # noqa: ANN201 - gr.Blocks
    import gradio as gr

    page = Page(hub, settings, guard or Guard(settings.admin_password))
    # Files uploaded to the page but never added are deleted after an hour (and at shutdown).
    with gr.Blocks(
        title="sihub — social-innovation knowledge hub", delete_cache=(UPLOAD_TOKEN_TTL, UPLOAD_TOKEN_TTL)
    ) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(t("header"), elem_id="page-header")
            language = gr.Dropdown(
                choices=language_choices(),
                value="en",
                label=t("ui_language"),
                elem_id="ui-language",
                scale=0,
                min_width=200,
            )
        with gr.Tabs():
            chat_tab = chat.build(page)
            practices_tab = practices.build(page)
            docs_tab = documents.build(page)
            add_tab = add.build(page)
            gaps.build(page)

        def load_all(query: str, request: gr.Request):
            lang = request_lang(request)
            return [
                *docs_tab.load(page, query, lang),
                *chat_tab.load(page, lang),
                *practices_tab.load(page, lang),
            ]

        outputs = [*docs_tab.load_outputs, *chat_tab.load_outputs, *practices_tab.load_outputs]
        language.input(None, [language], None, js=CHOOSE_LANGUAGE)

        def reader_language(request: gr.Request) -> str:
            return request_lang(request)

        demo.load(reader_language, None, [language], show_progress="hidden")
        docs_tab.refresh.click(load_all, [docs_tab.query], outputs)
        docs_tab.deleted.then(load_all, [docs_tab.query], outputs, show_progress="hidden")
        add_tab.added.then(load_all, [docs_tab.query], outputs, show_progress="hidden")
        demo.load(load_all, [docs_tab.query], outputs, show_progress="hidden")
    return demo
