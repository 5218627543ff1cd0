"""What every tab shares: the page's parts (`Page`), the filter drop-downs and small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sihub.errors import SihubError
from sihub.settings import Settings

from ..auth import Guard
from ..hub import FILTER_FIELDS, Hub
from ..text import request_lang, say, t

__all__ = ["ANY", "Page", "client", "filter_dropdowns", "filter_updates", "filters_of", "request_lang"]

ANY = "any"
"""The drop-down value that sets no filter (shown as the interface text "any")."""


@dataclass
class Page:
    """What a tab's builder needs: the hub it calls, the settings, the coordinator guard."""

    hub: Hub
    settings: Settings
    guard: Guard

    @property
    def disabled_note(self) -> Any:
        """What coordinator tabs say when no password is configured (None when one is)."""
        return None if self.guard.enabled else t("disabled_note")


def client(request: Any) -> str:
    """The address of the request's client (for the password rate limit)."""
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def filter_dropdowns(prefix: str) -> list[Any]:
    """One drop-down per filter field, ids `{prefix}-{field}`, each starting at `ANY`."""
    import gradio as gr

    return [
        gr.Dropdown(choices=[ANY], value=ANY, label=t(f"filter_{f}"), elem_id=f"{prefix}-{f}", min_width=120)
        for f in FILTER_FIELDS
    ]


def filters_of(values: tuple | list) -> dict[str, Any]:
    """The filters the drop-downs' `values` set (in FILTER_FIELDS order)."""
    out: dict[str, Any] = {}
    for name, value in zip(FILTER_FIELDS, values, strict=True):
        if value and value != ANY:
            out[name] = int(value) if name == "year" and str(value).isdigit() else value
    return out


def filter_updates(hub: Hub, lang: str = "en") -> list[Any]:
    """New choices for the filter drop-downs, from the documents indexed now ("any" in `lang`)."""
    import gradio as gr

    try:
        choices = hub.filter_choices()
    except SihubError:
        choices = {f: [] for f in FILTER_FIELDS}
    anything = (say(lang, "any"), ANY)
    return [gr.update(choices=[anything, *((v, v) for v in choices[f])]) for f in FILTER_FIELDS]
