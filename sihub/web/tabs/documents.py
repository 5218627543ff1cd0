"""The "Documents" tab: the indexed documents as a table with a search box, and deletion
(coordinators)."""

from dataclasses import dataclass
from typing import Any

from sihub.errors import BadInputError, SihubError

from ..auth import Denied
from ..render import documents_html, esc
from ..text import request_lang, say, t
from .base import Page, client


@dataclass
class DocumentsTab:
    table: Any
    query: Any
    choice: Any
    refresh: Any
    deleted: Any
    """The deletion's event: what other tabs show is reloaded after it."""

    def load(self, page: Page, query: str = "", lang: str = "en") -> list[Any]:
        import gradio as gr

        return [list_documents(page, query, lang), gr.update(choices=doc_choices(page), value=None)]

    @property
    def load_outputs(self) -> list[Any]:
        return [self.table, self.choice]


def doc_choices(page: Page) -> list[tuple[str, str]]:
    try:
        return [(f"{d.id} · {d.path}", str(d.id)) for d in page.hub.documents()]
    except SihubError:
        return []


def list_documents(page: Page, query: str, lang: str = "en") -> str:
    try:
        return documents_html(page.hub.documents(), query or "", lang)
    except SihubError as exc:
        return f"<p>{esc(exc)}</p>"


def build(page: Page) -> DocumentsTab:
    import gradio as gr

    hub, guard = page.hub, page.guard

    def delete_document(doc_id: str, password: str, query: str, request: gr.Request):
        try:
            guard.check(password, client(request))
            if not doc_id:
                raise BadInputError("choose a document first")
            doc = hub.document(int(doc_id))
            if doc is None:
                raise BadInputError(f"no document with id {doc_id}")
            out = hub.delete(doc)
            message = say(request_lang(request), "removed", file=doc.path) + (
                f" ({out['note']})" if out.get("note") else ""
            )
        except (Denied, SihubError) as exc:
            message = f"error: {exc}"
        return f"<p>{esc(message)}</p>", list_documents(page, query, request_lang(request))

    with gr.Tab(t("tab_documents"), id="documents"):
        with gr.Row():
            query = gr.Textbox(placeholder=t("doc_search"), show_label=False, elem_id="doc-search", scale=4)
            refresh = gr.Button(t("refresh"), scale=1, min_width=80)
        table = gr.HTML(elem_id="doc-table", js_on_load=None)
        with gr.Accordion(t("delete_accordion"), open=False):
            if page.disabled_note:
                gr.Markdown(page.disabled_note)
            with gr.Row():
                choice = gr.Dropdown(
                    label=t("document"), choices=[], elem_id="delete-choice", scale=3, interactive=guard.enabled
                )
                password = gr.Textbox(
                    label=t("password"),
                    type="password",
                    elem_id="delete-password",
                    scale=2,
                    interactive=guard.enabled,
                )
            button = gr.Button(t("delete"), variant="stop", elem_id="delete", interactive=guard.enabled)
            result = gr.HTML(js_on_load=None)

    def search(query: str, request: gr.Request):
        return list_documents(page, query, request_lang(request))

    query.change(search, query, table, show_progress="hidden")
    deleted = button.click(delete_document, [choice, password, query], [result, table])
    return DocumentsTab(table=table, query=query, choice=choice, refresh=refresh, deleted=deleted)
