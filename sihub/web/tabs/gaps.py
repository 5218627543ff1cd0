"""The "Gaps" tab (coordinators): the questions the documents could not answer and the answers
rated thumbs-down, grouped by topic across languages, the biggest first, with a CSV download."""

from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError

from ..auth import Denied
from ..render import esc, pre
from ..text import request_lang, say, t
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


def topics_html(found: dict[str, Any], lang: str = "en") -> str:
    """The topics as a table, its text in the interface language `lang`; every question is
    escaped (shown as text)."""
    from sihub.assistant.i18n import lang_name

    if not found["topics"]:
        return f'<p class="src-empty">{esc(say(lang, "gaps_none"))}</p>'
    rows = []
    for topic in found["topics"]:
        langs = ", ".join(f"{lang_name(k, lang)} {v}" for k, v in topic["languages"].items())
        examples = "".join(f"<li>{esc(x)}</li>" for x in topic["examples"] if x != topic["label"])
        rows.append(
            f'<tr class="gap-topic"><td class="gap-count">{int(topic["count"])}</td>'
            f'<td><div class="gap-label">{esc(topic["label"])}</div>'
            + (f'<ul class="gap-examples">{examples}</ul>' if examples else "")
            + f'</td><td class="gap-langs">{esc(langs)}</td></tr>'
        )
    caption = say(lang, "gaps_caption", questions=found["questions"], topics=len(found["topics"]))
    heads = "".join(f"<th>{esc(say(lang, key))}</th>" for key in ("gaps_asked", "gaps_topic", "languages"))
    return (
        f'<div class="doc-table gaps"><p role="status">{esc(caption)}</p><table><thead><tr>{heads}</tr></thead>'
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
        return topics_html(found, request_lang(request)), csv_text(found), gr.update(interactive=bool(found["topics"]))

    with gr.Tab(t("tab_gaps"), id="gaps"):
        gr.Markdown(t("gaps_intro"))
        if page.disabled_note:
            gr.Markdown(page.disabled_note)
        with gr.Row():
            password = gr.Textbox(
                label=t("password"), type="password", elem_id="gaps-password", interactive=guard.enabled
            )
            since = gr.Textbox(label=t("gaps_since"), placeholder="2026-11-01", elem_id="gaps-since")
        with gr.Row():
            button = gr.Button(t("gaps_show"), variant="primary", elem_id="gaps-show", interactive=guard.enabled)
            download = gr.Button(t("download_csv"), elem_id="gaps-download", interactive=False)
        table = gr.HTML(elem_id="gaps-table", js_on_load=None)
        csv = gr.Textbox(visible=False, elem_id="gaps-csv")

    for shown in (button.click, password.submit):
        shown(show, [password, since], [table, csv, download])
    download.click(None, [csv], None, js=DOWNLOAD_CSV)
    return GapsTab(table=table)
