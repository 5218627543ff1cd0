"""The "Gaps" tab (coordinators): the questions the documents could not answer and the answers
rated thumbs-down, grouped by topic across languages, the biggest first, with a CSV download."""

from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError

from ..auth import Denied
from ..render import esc, pre
from .base import Page, client

DOWNLOAD_CSV = """(text) => {
  if (!text) return;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "text/csv;charset=utf-8"}));
  link.download = "sihub-gaps.csv";
  document.body.appendChild(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 0);
}"""


def topics_html(found: dict[str, Any]) -> str:
    """The topics as a table; every question is escaped (shown as text)."""
    from sihub.assistant.i18n import lang_name

    if not found["topics"]:
        return '<p class="src-empty">No unanswered or thumbs-down questions recorded yet.</p>'
    rows = []
    for t in found["topics"]:
        langs = ", ".join(f"{lang_name(k, 'en')} {v}" for k, v in t["languages"].items())
        examples = "".join(f"<li>{esc(x)}</li>" for x in t["examples"] if x != t["label"])
        rows.append(
            f'<tr class="gap-topic"><td class="gap-count">{int(t["count"])}</td>'
            f'<td><div class="gap-label">{esc(t["label"])}</div>'
            + (f'<ul class="gap-examples">{examples}</ul>' if examples else "")
            + f'</td><td class="gap-langs">{esc(langs)}</td></tr>'
        )
    caption = f"{found['questions']} questions in {len(found['topics'])} topics"
    return (
        f'<div class="doc-table gaps"><p role="status">{esc(caption)}</p><table><thead><tr><th>Asked</th>'
        f"<th>Topic (its most central question) and other questions</th><th>Languages</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


@dataclass
class GapsTab:
    table: Any


def build(page: Page) -> GapsTab:
    import gradio as gr

    hub, guard = page.hub, page.guard

    def show(password: str, since: str, request: gr.Request):
        from sihub.assistant.gaps import csv_text

        try:
            guard.check(password, client(request))
            found = hub.gap_report((since or "").strip() or None)
        except (Denied, SihubError, ValueError) as exc:
            return pre([f"error: {exc}"]), "", gr.update(interactive=False)
        return topics_html(found), csv_text(found), gr.update(interactive=bool(found["topics"]))

    with gr.Tab("Gaps", id="gaps"):
        gr.Markdown(
            "Questions the documents could not answer, and answers rated thumbs-down, grouped by topic "
            "across languages — what the hub should collect next. Coordinators only."
        )
        if page.disabled_note:
            gr.Markdown(page.disabled_note)
        with gr.Row():
            password = gr.Textbox(
                label="Coordinator password", type="password", elem_id="gaps-password", interactive=guard.enabled
            )
            since = gr.Textbox(label="Since (date, optional)", placeholder="2026-11-01", elem_id="gaps-since")
        with gr.Row():
            button = gr.Button("Show gaps", variant="primary", elem_id="gaps-show", interactive=guard.enabled)
            download = gr.Button("Download CSV", elem_id="gaps-download", interactive=False)
        table = gr.HTML(elem_id="gaps-table", js_on_load=None)
        csv = gr.Textbox(visible=False, elem_id="gaps-csv")

    for shown in (button.click, password.submit):
        shown(show, [password, since], [table, csv, download])
    download.click(None, [csv], None, js=DOWNLOAD_CSV)
    return GapsTab(table=table)
