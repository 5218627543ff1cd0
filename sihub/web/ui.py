"""The web page (Gradio Blocks): one tab per module under `tabs/`, put together here.

The tabs' handlers only call `Hub` and the HTML helpers in `render`; no model is loaded here.
What crosses tabs is wired here: after an upload or a deletion, and when the page loads, every
tab that shows documents (or offers their values as filters) is refreshed.
"""

# No `from __future__ import annotations`: Gradio reads `gr.Request` in handler annotations.
from typing import Any

from sihub.settings import Settings

from .auth import Guard
from .hub import Hub
from .render import CSS, HEAD
from .tabs import add, chat, documents, gaps, practices
from .tabs.add import UPLOAD_TOKEN_TTL
from .tabs.base import Page, request_lang


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
        gr.Markdown(
            "## sihub · ask the social-innovation knowledge hub\nAsk in Swedish, Latvian, French, Spanish or English; every claim links to its source."
        )
        with gr.Tabs():
            chat_tab = chat.build(page)
            practices_tab = practices.build(page)
            docs_tab = documents.build(page)
            add_tab = add.build(page)
            gaps.build(page)

        def load_all(query: str, request: gr.Request):
            return [
                *docs_tab.load(page, query),
                *chat_tab.load(page),
                *practices_tab.load(page, request_lang(request)),
            ]

        outputs = [*docs_tab.load_outputs, *chat_tab.load_outputs, *practices_tab.load_outputs]
        docs_tab.refresh.click(load_all, [docs_tab.query], outputs)
        docs_tab.deleted.then(load_all, [docs_tab.query], outputs, show_progress="hidden")
        add_tab.added.then(load_all, [docs_tab.query], outputs, show_progress="hidden")
        demo.load(load_all, [docs_tab.query], outputs, show_progress="hidden")
    return demo
