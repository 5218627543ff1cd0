"""What every tab shares: the page's parts (`Page`), the filter drop-downs and small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError
from sihub.settings import Settings

from ..auth import Guard
from ..hub import FILTER_FIELDS, Hub

ANY = "any"
"""The drop-down value that sets no filter."""
FILTER_LABELS = {
    "lang": "Language",
    "country": "Country",
    "partner": "Partner",
    "type": "Document type",
    "year": "Year",
}


@dataclass
class Page:
    """What a tab's builder needs: the hub it calls, the settings, the coordinator guard."""

    hub: Hub
    settings: Settings
    guard: Guard

    @property
    def disabled_note(self) -> str:
        """What coordinator tabs say when no password is configured ("" when one is)."""
        if self.guard.enabled:
            return ""
        return "**Uploads and deletions are disabled**: start sihub with `SIHUB_ADMIN_PASSWORD` set to enable them."


def client(request: Any) -> str:
    """The address of the request's client (for the password rate limit)."""
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def request_lang(request: Any) -> str:
    """The reader's language: the first of the browser's languages (Accept-Language) that the
    hub speaks, else English."""
    from sihub.assistant.i18n import LANGS

    header = ""
    headers = getattr(request, "headers", None)
    if headers is not None:
        header = headers.get("accept-language", "") or ""
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def filter_dropdowns(prefix: str) -> list[Any]:
    """One drop-down per filter field, ids `{prefix}-{field}`, each starting at `ANY`."""
    import gradio as gr

    return [
        gr.Dropdown(choices=[ANY], value=ANY, label=FILTER_LABELS[f], elem_id=f"{prefix}-{f}", min_width=120)
        for f in FILTER_FIELDS
    ]


def filters_of(values: tuple | list) -> dict[str, Any]:
    """The filters the drop-downs' `values` set (in FILTER_FIELDS order)."""
    out: dict[str, Any] = {}
    for name, value in zip(FILTER_FIELDS, values, strict=True):
        if value and value != ANY:
            out[name] = int(value) if name == "year" and str(value).isdigit() else value
    return out


def filter_updates(hub: Hub) -> list[Any]:
    """New choices for the filter drop-downs, from the documents indexed now."""
    import gradio as gr

    try:
        choices = hub.filter_choices()
    except SihubError:
        choices = {f: [] for f in FILTER_FIELDS}
    return [gr.update(choices=[ANY, *choices[f]]) for f in FILTER_FIELDS]
