"""`sihub serve`: the Gradio web chat, mounted on a FastAPI app that also serves the HTTP API."""

from __future__ import annotations

import html

from sihub.settings import Settings


def _sources_html(answer) -> str:  # noqa: ANN001
    if not answer.citations:
        return "<p>No sources.</p>"
    cards = []
    for c in answer.citations:
        where = html.escape(c.file) + (f", p. {c.page}" if c.page else "")
        text = html.escape(c.text)
        quote = html.escape(c.quote)
        if quote and quote in text:
            text = text.replace(quote, f"<mark>{quote}</mark>", 1)
        cards.append(
            f"<div class='card' id='cite-{c.n}'><b>[{c.n}] {html.escape(c.title)}</b><br>"
            f"<small>{where} · {html.escape(c.lang)} · {html.escape(c.heading)}</small>"
            f"<p>{text}</p></div>"
        )
    return "\n".join(cards)


def build_ui(assistant):  # noqa: ANN001, ANN201
    import gradio as gr

    with gr.Blocks(title="sihub") as demo:
        gr.Markdown("## sihub — ask the social-innovation knowledge hub")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480)
                box = gr.Textbox(placeholder="Ask in Swedish, Latvian, French, Spanish or English…", label="Question")
            with gr.Column(scale=2):
                sources = gr.HTML(label="Sources")

        def respond(question: str, history: list):
            if not question.strip():
                return history, "", gr.update()
            answer = assistant.ask(question)
            history = list(history or []) + [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.answer},
            ]
            return history, "", _sources_html(answer)

        box.submit(respond, [box, chat], [chat, box, sources])
    return demo


def create_app(settings: Settings):  # noqa: ANN201
    import gradio as gr
    from fastapi import FastAPI

    from assistant import Assistant

    assistant = Assistant(settings)
    app = FastAPI(title="sihub", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.get("/api/health")
    def health() -> dict:
        from sihub import __version__

        return {"status": "ok", "version": __version__, **assistant.index.stats()}

    return gr.mount_gradio_app(app, build_ui(assistant), path="/")


def serve(settings: Settings) -> None:
    import uvicorn

    app = create_app(settings)
    print(f"sihub: serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
