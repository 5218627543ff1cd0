"""The web page (Gradio Blocks): chat with sources, documents, and adding documents.

The handlers only call `Hub` and the HTML helpers in `render`; no model is loaded here.
"""

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from sihub.errors import BadInputError, SihubError
from sihub.index.sync import Progress
from sihub.settings import Settings
from sihub.types import Answer, FileResult

from .auth import Denied, Guard
from .guards import UPLOAD_COOKIE
from .hub import FILTER_FIELDS, Hub
from .render import CSS, HEAD, answer_markdown, documents_html, esc, pre, report_lines, sources_html

EXAMPLES = [
    "Vilka verktyg finns för att mäta social påverkan?",
    "Kad stājās spēkā Sociālā uzņēmuma likums Latvijā?",
    "Comment les incubateurs accompagnent-ils les entreprises sociales ?",
    "¿Cómo se incluyen cláusulas sociales en la contratación pública?",
    "Which best practices of support to social innovation did the partners collect?",
]

FILTER_LABELS = {
    "lang": "Language",
    "country": "Country",
    "partner": "Partner",
    "type": "Document type",
    "year": "Year",
}
ANY = "any"
UPLOAD_TOKEN_TTL = 3600
"""Seconds an unlocked page may upload files (the cookie's life, and how long uploads are kept)."""
# Stores the upload token `unlock` returns as a cookie sent with the page's file uploads only.
SET_UPLOAD_COOKIE = (
    "(token) => { if (token) { document.cookie = "
    f"'{UPLOAD_COOKIE}=' + token + '; path=/gradio_api/upload; max-age={UPLOAD_TOKEN_TTL}; SameSite=Strict'"
    " + (location.protocol === 'https:' ? '; Secure' : ''); } }"
)


# "Copy with references" and "Download Markdown" run in the page on the latest answer's Markdown:
# nothing is written on the server. The clipboard API needs a secure context (https or
# localhost); elsewhere the copy falls back to selecting a text area.
COPY_MARKDOWN = """(text) => {
  if (!text) return;
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text); return; }
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}"""
DOWNLOAD_MARKDOWN = """(text) => {
  if (!text) return;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "text/markdown;charset=utf-8"}));
  link.download = "sihub-answer.md";
  document.body.appendChild(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 0);
}"""


def ui_assets() -> tuple[Any, str, str]:
    """Theme (system fonts: the page needs no outside network), CSS and the head script."""
    import gradio as gr

    theme = gr.themes.Soft(
        font=["system-ui", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"],
        font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"],
    )
    return theme, CSS, HEAD


class _BarProgress(Progress):
    """Feeds sync's progress callbacks to the Gradio progress bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.total = 0
        self.done = 0

    def start(self, files: int) -> None:
        self.total = max(files, 1)
        self.bar((0, self.total), desc="ingesting", unit="files")

    def file_done(self, result: FileResult) -> None:
        if result.status in ("removed", "skipped"):
            return
        self.done += 1
        self.bar(
            (min(self.done, self.total), self.total), desc=f"{Path(result.path).name}: {result.status}", unit="files"
        )


def _client(request: Any) -> str:
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def _uploaded(files: list | None) -> tuple[list[Path], list[str]]:
    """The files of a `gr.File` value that Gradio's upload folder holds, and a line for each
    other one (a path the client made up is never read)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()).resolve()
    ok: list[Path] = []
    bad: list[str] = []
    for f in files or []:
        path = Path(f if isinstance(f, str) else getattr(f, "name", str(f))).resolve()
        (ok if path.is_relative_to(folder) and path.is_file() else bad).append(path)
    return ok, [f"{p.name}: not a file uploaded to this page" for p in bad]


def _copier(path: Path) -> Any:
    """A writer (hub.Writer) that copies the file at `path`."""

    def copy(out: Any) -> None:
        with path.open("rb") as src:
            shutil.copyfileobj(src, out)

    return copy


def _new_conversation() -> dict[str, Any]:
    """The chat's server-side state: the messages shown, the turns asked, the answers given, and
    the latest answer as Markdown with its references (what the page copies and downloads)."""
    return {"chat": [], "turns": [], "answers": {}, "n": 0, "markdown": ""}


def build_ui(hub: Hub, settings: Settings, guard: Guard | None = None):  # noqa: ANN201 - gr.Blocks
    import gradio as gr

    from sihub.ingest.readers import READERS

    guard = guard or Guard(settings.admin_password)
    disabled_note = (
        ""
        if guard.enabled
        else "**Uploads and deletions are disabled**: start sihub with `SIHUB_ADMIN_PASSWORD` set to enable them."
    )

    # ---- handlers -------------------------------------------------------------------------

    def filters_of(values: tuple) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(FILTER_FIELDS, values, strict=True):
            if value and value != ANY:
                out[name] = int(value) if name == "year" and str(value).isdigit() else value
        return out

    def respond(question: str, convo: dict, *filter_values: Any):
        # The chat's messages live in `convo` (server-side state), never in what the client
        # sends: a message the client made up (a file, a long history) is not read.
        question = (question or "").strip()
        if not question:
            yield gr.update(), gr.update(), gr.update(), convo
            return
        convo = {**_new_conversation(), **convo}
        chat = list(convo["chat"])
        filters = filters_of(filter_values)
        try:
            hub.check(question, None, filters)
        except SihubError as exc:
            convo["chat"] = [*chat, {"role": "assistant", "content": f"**{esc(exc)}**"}]
            yield convo["chat"], gr.update(), gr.update(), convo
            return
        turn = convo["n"] + 1
        convo = {**convo, "turns": list(convo["turns"]), "answers": dict(convo["answers"]), "n": turn}
        chat += [
            {"role": "user", "content": esc(question)},
            {"role": "assistant", "content": "*Searching the documents…*"},
        ]
        convo["chat"] = chat
        yield chat, "", gr.update(), convo
        try:
            final: Answer | None = None
            history = convo["turns"][-settings.max_history_turns :]  # a follow-up leans on the latest turns
            for item in hub.ask_stream(question, None, history, filters):
                if isinstance(item, Answer):
                    final = item
                    break
                chat[-1] = {"role": "assistant", "content": esc(item) + " ▍"}
                yield chat, "", gr.update(), convo
        except (SihubError, sqlite3.Error) as exc:
            message = exc if isinstance(exc, SihubError) else "the index cannot answer this question now"
            chat[-1] = {"role": "assistant", "content": f"**{esc(message)}**"}
            yield chat, "", gr.update(), convo
            return
        if final is None:
            return
        chat[-1] = {"role": "assistant", "content": answer_markdown(final, turn)}
        convo["turns"].append({"question": question, "answer": final.answer, "language": final.language})
        convo["answers"][str(len(chat) - 1)] = final.to_json()
        from sihub.assistant.export import to_markdown  # the assistant layer loads where answers are shown

        convo["markdown"] = to_markdown(final)
        try:
            ids = hub.doc_ids()
        except SihubError:
            ids = {}
        yield chat, "", sources_html(final, turn, ids), convo

    def new_conversation():
        return [], "", sources_html(None, 0, {}), _new_conversation()

    def latest_markdown(convo: dict):
        """The latest answer's Markdown; the buttons that take it away work once there is one."""
        text = (convo or {}).get("markdown", "")
        return text, gr.update(interactive=bool(text)), gr.update(interactive=bool(text))

    def on_like(convo: dict, data: gr.LikeData):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer = (convo or {}).get("answers", {}).get(str(index))
        if answer is None or not isinstance(data.liked, bool):
            return gr.update()
        hub.feedback.add(1 if data.liked else -1, answer)
        return gr.update()

    def filter_updates():
        try:
            choices = hub.filter_choices()
        except SihubError:
            choices = {f: [] for f in FILTER_FIELDS}
        return [gr.update(choices=[ANY, *choices[f]]) for f in FILTER_FIELDS]

    def doc_choices() -> list[tuple[str, str]]:
        try:
            return [(f"{d.id} · {d.path}", str(d.id)) for d in hub.documents()]
        except SihubError:
            return []

    def list_documents(query: str):
        try:
            return documents_html(hub.documents(), query or "")
        except SihubError as exc:
            return f"<p>{esc(exc)}</p>"

    def on_load():
        return [list_documents(""), gr.update(choices=doc_choices(), value=None), *filter_updates()]

    def delete_document(doc_id: str, password: str, query: str, request: gr.Request):
        try:
            guard.check(password, _client(request))
            if not doc_id:
                raise BadInputError("choose a document first")
            doc = hub.document(int(doc_id))
            if doc is None:
                raise BadInputError(f"no document with id {doc_id}")
            out = hub.delete(doc)
            message = f"{doc.path}: removed from the index" + (f" ({out['note']})" if out.get("note") else "")
        except (Denied, SihubError) as exc:
            message = f"error: {exc}"
        return f"<p>{esc(message)}</p>", list_documents(query), gr.update(choices=doc_choices(), value=None)

    def unlock(password: str, request: gr.Request):
        """Check the password; then the page may upload files (with the token as a cookie)."""
        try:
            guard.check(password, _client(request))
        except Denied as exc:
            return pre([f"error: {exc}"]), "", gr.update(interactive=False)
        return pre(["unlocked: choose the files to add"]), guard.issue(UPLOAD_TOKEN_TTL), gr.update(interactive=True)

    def add_documents(files: list | None, password: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        try:
            guard.check(password, _client(request))
        except Denied as exc:
            return pre([f"error: {exc}"]), gr.update(), gr.update(), *filter_updates()
        paths, lines = _uploaded(files)
        try:
            report, refused = hub.add_uploads(
                [(p.name, _copier(p)) for p in paths],
                progress=_BarProgress(progress),
            )
            lines += [f"{r.path}: {r.reason}" for r in refused]
            lines += report_lines(report) if report else ["no file to add" if not lines else "nothing was added"]
        except (SihubError, OSError) as exc:
            lines.append(f"error: {exc}")
        finally:
            for p in paths:  # Gradio's copy: the library holds the file now
                p.unlink(missing_ok=True)
        return pre(lines), list_documents(""), gr.update(choices=doc_choices(), value=None), *filter_updates()

    # ---- layout ---------------------------------------------------------------------------

    # Files uploaded to the page but never added are deleted after an hour (and at shutdown).
    with gr.Blocks(
        title="sihub — social-innovation knowledge hub", delete_cache=(UPLOAD_TOKEN_TTL, UPLOAD_TOKEN_TTL)
    ) as demo:
        gr.Markdown(
            "## sihub · ask the social-innovation knowledge hub\nAsk in Swedish, Latvian, French, Spanish or English; every claim links to its source."
        )
        convo = gr.State(_new_conversation())
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            elem_id="chat",
                            height=520,
                            sanitize_html=True,
                            feedback_options=("Like", "Dislike"),
                            buttons=["copy"],
                            placeholder="Ask a question about the hub's documents, in any of its languages.",
                        )
                        with gr.Row():
                            box = gr.Textbox(
                                placeholder="Ask in Swedish, Latvian, French, Spanish or English…",
                                show_label=False,
                                elem_id="question",
                                scale=5,
                                min_width=200,
                                max_length=settings.max_question_chars,
                                autofocus=True,
                            )
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=70)
                            new_btn = gr.Button("New conversation", elem_id="new-conversation", scale=1, min_width=120)
                        with gr.Row():
                            copy_btn = gr.Button(
                                "Copy with references", elem_id="copy-answer", size="sm", interactive=False
                            )
                            download_btn = gr.Button(
                                "Download Markdown", elem_id="download-answer", size="sm", interactive=False
                            )
                        with gr.Accordion("Latest answer as Markdown", open=False):
                            markdown = gr.Textbox(
                                show_label=False,
                                elem_id="answer-markdown",
                                lines=6,
                                max_lines=20,
                                interactive=False,
                                buttons=["copy"],
                                placeholder="The latest answer with its numbered references appears here.",
                            )
                        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=box, label="Examples")
                        with gr.Accordion("Filters (apply to the next question)", open=False):
                            with gr.Row():
                                filters = [
                                    gr.Dropdown(
                                        choices=[ANY],
                                        value=ANY,
                                        label=FILTER_LABELS[f],
                                        elem_id=f"filter-{f}",
                                        min_width=120,
                                    )
                                    for f in FILTER_FIELDS
                                ]
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(sources_html(None, 0, {}), elem_id="sources", js_on_load=None)
            with gr.Tab("Documents", id="documents"):
                with gr.Row():
                    doc_query = gr.Textbox(
                        placeholder="Search title, file, language, partner…",
                        show_label=False,
                        elem_id="doc-search",
                        scale=4,
                    )
                    refresh_btn = gr.Button("Refresh", scale=1, min_width=80)
                docs_table = gr.HTML(elem_id="doc-table", js_on_load=None)
                with gr.Accordion("Delete a document (coordinators)", open=False):
                    if disabled_note:
                        gr.Markdown(disabled_note)
                    with gr.Row():
                        del_choice = gr.Dropdown(
                            label="Document", choices=[], elem_id="delete-choice", scale=3, interactive=guard.enabled
                        )
                        del_password = gr.Textbox(
                            label="Coordinator password",
                            type="password",
                            elem_id="delete-password",
                            scale=2,
                            interactive=guard.enabled,
                        )
                    del_btn = gr.Button(
                        "Delete from the index", variant="stop", elem_id="delete", interactive=guard.enabled
                    )
                    del_result = gr.HTML(js_on_load=None)
            with gr.Tab("Add documents", id="add"):
                if disabled_note:
                    gr.Markdown(disabled_note)
                else:
                    gr.Markdown(
                        f"Type the coordinator password and press **Unlock**, then choose the files. They are "
                        f"saved in `{esc(Path(settings.library).name)}/uploads/` and indexed; the others stay as they "
                        "are. Formats: " + ", ".join(sorted(READERS)) + "."
                    )
                with gr.Row():
                    up_password = gr.Textbox(
                        label="Coordinator password",
                        type="password",
                        elem_id="upload-password",
                        interactive=guard.enabled,
                        scale=4,
                    )
                    unlock_btn = gr.Button("Unlock", elem_id="unlock", interactive=guard.enabled, scale=1)
                up_token = gr.Textbox(visible=False, elem_id="upload-token")
                up_files = gr.File(
                    label="Documents",
                    file_count="multiple",
                    file_types=sorted(READERS),
                    elem_id="upload-files",
                    interactive=False,
                )
                up_btn = gr.Button("Add to the library", variant="primary", elem_id="upload", interactive=guard.enabled)
                up_result = gr.HTML(elem_id="upload-result", js_on_load=None)

        # ---- events ---------------------------------------------------------------------------

        ask_inputs = [box, convo, *filters]
        ask_outputs = [chatbot, box, sources, convo]
        take_away = [markdown, copy_btn, download_btn]
        for asked in (box.submit, ask_btn.click):
            asked(respond, ask_inputs, ask_outputs, show_progress="hidden").then(
                latest_markdown, [convo], take_away, show_progress="hidden"
            )
        new_btn.click(new_conversation, None, [chatbot, box, sources, convo], show_progress="hidden").then(
            latest_markdown, [convo], take_away, show_progress="hidden"
        )
        copy_btn.click(None, [markdown], None, js=COPY_MARKDOWN)
        download_btn.click(None, [markdown], None, js=DOWNLOAD_MARKDOWN)
        chatbot.like(on_like, [convo], None)
        doc_query.change(list_documents, doc_query, docs_table, show_progress="hidden")
        refresh_btn.click(on_load, None, [docs_table, del_choice, *filters])
        del_btn.click(delete_document, [del_choice, del_password, doc_query], [del_result, docs_table, del_choice])
        for unlocked in (unlock_btn.click, up_password.submit):
            unlocked(unlock, [up_password], [up_result, up_token, up_files]).then(
                None, [up_token], None, js=SET_UPLOAD_COOKIE
            )
        up_btn.click(add_documents, [up_files, up_password], [up_result, docs_table, del_choice, *filters])
        demo.load(on_load, None, [docs_table, del_choice, *filters], show_progress="hidden")
    return demo
