"""The "Chat" tab: questions, streamed cited answers, their sources, filters, votes, and the
answer to take away (copy with references, Markdown download)."""

# No `from __future__ import annotations` in the tabs: Gradio reads handler annotations
# (gr.Request, gr.LikeData) as types to decide what it passes.

import sqlite3
from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError
from sihub.types import Answer

from ..render import answer_markdown, esc, sources_html, take_away_links
from ..text import request_lang, say, t
from .base import Page, filter_dropdowns, filter_updates, filters_of

EXAMPLES = [
    "Vilka verktyg finns för att mäta social påverkan?",
    "Kad stājās spēkā Sociālā uzņēmuma likums Latvijā?",
    "Comment les incubateurs accompagnent-ils les entreprises sociales ?",
    "¿Cómo se incluyen cláusulas sociales en la contratación pública?",
    "Which best practices of support to social innovation did the partners collect?",
]

# Each answer in the chat has its own "Copy with references" and "Download Markdown" links (the
# answer's Markdown is kept in memory by `Hub.kept`; the page's script in `render.HEAD` fetches
# it). The buttons under the chat do the same for the latest answer, from the page alone. The clipboard API needs a secure context (https or
# localhost); elsewhere the copy falls back to selecting a text area.
# The latest answer's buttons: the page's own copy and save (`render.py`'s script, shared with
# the links under each answer).
COPY_MARKDOWN = "(text) => { if (text) window.sihubCopy(text); }"
DOWNLOAD_MARKDOWN = '(text) => { if (text) window.sihubSave(text, "sihub-answer.md"); }'


def new_conversation() -> dict[str, Any]:
    """The chat's server-side state: the messages shown, the turns asked, the answers given, and
    the latest answer as Markdown with its references (what the page copies and downloads)."""
    return {"chat": [], "turns": [], "answers": {}, "n": 0, "markdown": ""}


@dataclass
class ChatTab:
    box: Any
    filters: list[Any]
    sources: Any

    def load(self, page: Page, lang: str) -> list[Any]:
        return [*filter_updates(page.hub, lang), sources_html(None, 0, {}, say(lang, "sources_empty"))]

    @property
    def load_outputs(self) -> list[Any]:
        return [*self.filters, self.sources]


def build(page: Page) -> ChatTab:
    import gradio as gr

    hub, settings = page.hub, page.settings

    def answers(question: str, history: list, filters: dict, by_country: bool, lang: str):
        """The answer's text as it grows, then the Answer: a comparison when asked for (the switch,
        or a question that asks to compare countries), else the streamed answer."""
        from sihub.assistant.compare import asks_comparison

        if by_country or asks_comparison(question):
            yield say(lang, "comparing")
            yield hub.compare(question, "country", None, history, filters)
            return
        yield from hub.ask_stream(question, None, history, filters)

    def respond(question: str, convo: dict, about: str, by_country: bool, request: gr.Request, *filter_values: Any):
        # (`request` before the filters: Gradio passes it only to a positional parameter)
        # The chat's messages live in `convo` (server-side state), never in what the client
        # sends: a message the client made up (a file, a long history) is not read.
        lang = request_lang(request)
        question = (question or "").strip()
        if not question:
            yield gr.update(), gr.update(), gr.update(), convo
            return
        convo = {**new_conversation(), **convo}
        chat = list(convo["chat"])
        filters = filters_of(filter_values)
        if (about or "").strip():
            filters["file"] = about.strip()  # "Ask about it" on a catalogue card
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
            {"role": "assistant", "content": f"*{esc(say(lang, 'searching'))}*"},
        ]
        convo["chat"] = chat
        yield chat, "", gr.update(), convo
        try:
            final: Answer | None = None
            history = convo["turns"][-settings.max_history_turns :]  # a follow-up leans on the latest turns
            for item in answers(question, history, filters, bool(by_country), lang):
                if isinstance(item, Answer):
                    final = item
                    break
                chat[-1] = {"role": "assistant", "content": esc(item) + " ▍"}
                yield chat, "", gr.update(), convo
        except (SihubError, sqlite3.Error) as exc:
            message = exc if isinstance(exc, SihubError) else say(lang, "index_busy")
            chat[-1] = {"role": "assistant", "content": f"**{esc(message)}**"}
            yield chat, "", gr.update(), convo
            return
        if final is None:
            return
        from sihub.assistant.export import to_markdown  # the assistant layer loads where answers are shown

        convo["markdown"] = to_markdown(final)
        url = f"/answers/{hub.kept.keep(convo['markdown'])}/sihub-answer-{turn}.md"
        links = take_away_links(url, say(lang, "copy_answer"), say(lang, "download_answer"))
        chat[-1] = {"role": "assistant", "content": answer_markdown(final, turn) + links}
        convo["turns"].append({"question": question, "answer": final.answer, "language": final.language})
        convo["answers"][str(len(chat) - 1)] = final.to_json()
        try:
            ids = hub.doc_ids()
        except SihubError:
            ids = {}
        yield chat, "", sources_html(final, turn, ids), convo

    def clear(request: gr.Request):
        return [], "", sources_html(None, 0, {}, say(request_lang(request), "sources_empty")), new_conversation()

    def latest_markdown(convo: dict):
        """The latest answer's Markdown; the buttons that take it away work once there is one."""
        text = (convo or {}).get("markdown", "")
        return text, gr.update(interactive=bool(text)), gr.update(interactive=bool(text))

    def on_like(convo: dict, data: gr.LikeData):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer = (convo or {}).get("answers", {}).get(str(index))
        if answer is None or not isinstance(data.liked, bool):
            return gr.update()
        hub.vote(1 if data.liked else -1, answer)
        return gr.update()

    with gr.Tab(t("tab_chat"), id="chat"):
        convo = gr.State(new_conversation())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(
                    label=t("tab_chat"),
                    elem_id="chat",
                    height=520,
                    sanitize_html=True,
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                    placeholder=t("chat_placeholder"),
                )
                about = gr.Textbox(
                    label=t("about_label"),
                    elem_id="ask-about",
                    max_lines=1,
                    max_length=1000,
                    placeholder=t("about_placeholder"),
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder=t("question_placeholder"),
                        show_label=False,
                        elem_id="question",
                        scale=5,
                        min_width=200,
                        max_length=settings.max_question_chars,
                        autofocus=True,
                    )
                    ask_btn = gr.Button(t("ask"), variant="primary", elem_id="ask", scale=1, min_width=70)
                    new_btn = gr.Button(t("new_conversation"), elem_id="new-conversation", scale=1, min_width=120)
                with gr.Row():
                    copy_btn = gr.Button(t("copy_answer"), elem_id="copy-answer", size="sm", interactive=False)
                    download_btn = gr.Button(
                        t("download_answer"), elem_id="download-answer", size="sm", interactive=False
                    )
                with gr.Accordion(t("latest_markdown"), open=False):
                    markdown = gr.Textbox(
                        show_label=False,
                        elem_id="answer-markdown",
                        lines=6,
                        max_lines=20,
                        interactive=False,
                        buttons=["copy"],
                        placeholder=t("latest_markdown_placeholder"),
                    )
                by_country = gr.Checkbox(label=t("compare_switch"), value=False, elem_id="compare-by-country")
                gr.Examples(examples=[[q] for q in EXAMPLES], inputs=box, label=t("examples"))
                with gr.Accordion(t("filters"), open=False):
                    with gr.Row():
                        filters = filter_dropdowns("filter")
            with gr.Column(scale=2, min_width=300):
                gr.Markdown(t("sources"))
                sources = gr.HTML(sources_html(None, 0, {}), elem_id="sources", js_on_load=None)

    ask_inputs = [box, convo, about, by_country, *filters]
    ask_outputs = [chatbot, box, sources, convo]
    take_away = [markdown, copy_btn, download_btn]
    for asked in (box.submit, ask_btn.click):
        asked(respond, ask_inputs, ask_outputs, show_progress="hidden").then(
            latest_markdown, [convo], take_away, show_progress="hidden"
        )
    new_btn.click(clear, None, [chatbot, box, sources, convo], show_progress="hidden").then(
        latest_markdown, [convo], take_away, show_progress="hidden"
    )
    copy_btn.click(None, [markdown], None, js=COPY_MARKDOWN)
    download_btn.click(None, [markdown], None, js=DOWNLOAD_MARKDOWN)
    chatbot.like(on_like, [convo], None)
    return ChatTab(box=box, filters=filters, sources=sources)
