"""The web page in the reader's language.

Every piece of interface text lives in the language data files (`assistant/lang/<code>.json`,
section "ui"). The reader's language is the one they chose in the page's language menu (kept
in the `sihub_lang` cookie), else the first of their browser's languages (Accept-Language)
that the hub speaks, else English.

Two kinds of text follow it:

- what a tab's builder lays out once (tab names, button labels, placeholders) is a Gradio
  translation key, `t("key")`, looked up in the browser by Gradio's i18n (`translations()`);
- what a handler renders for one request (source cards, the catalogue's cards, the gaps table)
  is `say(lang, "key")` with `lang = request_lang(request)`.

So that both agree, `LangPage` tells the page the language the server chose: Gradio reads
`navigator.language` to pick its translations, and the page starts by setting it.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from typing import Any

COOKIE = "sihub_lang"
"""The cookie that keeps the language chosen in the page's menu (a year, the whole site)."""

# Runs in the page when the language menu changes: keep the choice, reload in that language.
CHOOSE_LANGUAGE = (
    "(lang) => { if (!lang) return; document.cookie = "
    f"'{COOKIE}=' + encodeURIComponent(lang) + '; path=/; max-age=31536000; SameSite=Lax'"
    " + (location.protocol === 'https:' ? '; Secure' : ''); location.reload(); }"
)


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The interface language: `chosen` (the cookie) when the hub speaks it, else the first
    language of an Accept-Language header that it speaks (by quality, then order), else "en"."""
    from sihub.assistant.i18n import LANGS

    if chosen and chosen in LANGS:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        base = code.strip().lower().split("-")[0]
        if base in LANGS and quality > 0:
            ranked.append((-quality, i, base))
    return min(ranked)[2] if ranked else "en"


def cookie_lang(cookie_header: str | None) -> str | None:
    """The language kept in the `sihub_lang` cookie of a Cookie header, if any."""
    if not cookie_header:
        return None
    try:
        jar = SimpleCookie(cookie_header)
    except CookieError:
        return None
    return jar[COOKIE].value if COOKIE in jar else None


def request_lang(request: Any) -> str:
    """The reader's language for a request (a Gradio or Starlette request, or None)."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return "en"
    return negotiate(headers.get("accept-language"), cookie_lang(headers.get("cookie")))


def say(lang: str, key: str, /, **values: object) -> str:
    """Interface text `key` in `lang`, formatted (for HTML rendered per request)."""
    from sihub.assistant.i18n import ui_text

    return ui_text(lang, key, **values)


def t(key: str) -> Any:
    """Interface text `key` as a Gradio translation key: the browser shows it in the page's language."""
    from gradio.i18n import I18nData

    from sihub.assistant.i18n import ui_texts

    if key not in ui_texts("en"):
        raise KeyError(f"no interface text {key!r} in assistant/lang/en.json")
    return I18nData(key)


def translations() -> Any:
    """Gradio's translations of every interface text, one table per language of the hub."""
    import gradio as gr

    from sihub.assistant.i18n import LANGS, ui_texts

    return gr.I18n(**{lang: dict(ui_texts(lang)) for lang in LANGS})


def language_choices() -> list[tuple[str, str]]:
    """The language menu: each language of the hub by its own name (CLDR)."""
    from sihub.assistant.i18n import LANGS, autonym

    return [(autonym(lang), lang) for lang in LANGS]


class LangPage:
    """ASGI middleware: the web page ("/") starts by telling the browser the reader's language.

    Gradio picks the language of its translations from `navigator.language`; a script put first
    in the page's head sets it (and `<html lang>`) to the language the server negotiated (the
    cookie, then Accept-Language), so what the browser translates and what the server renders
    agree, and a language chosen in the menu holds across visits.
    """

    def __init__(self, app: Any, path: str = "/") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        script = _script(negotiate(headers.get("accept-language"), cookie_lang(headers.get("cookie"))))
        start: dict | None = None
        parts: list[bytes] = []

        async def rewrite(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers") or []).get(b"content-type", b"")
                if not kind.startswith(b"text/html"):
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _inject(b"".join(parts), script)
            head = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
            head.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": head})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def _script(lang: str) -> bytes:
    code = json.dumps(lang)  # one of the hub's language codes: letters only
    return (
        "<script>(function(){var l=" + code + ";try{"
        "Object.defineProperty(navigator,'language',{get:function(){return l;}});"
        "Object.defineProperty(navigator,'languages',{get:function(){return [l];}});"
        "}catch(e){}document.documentElement.lang=l;})();</script>"
    ).encode()


def _inject(body: bytes, script: bytes) -> bytes:
    """`body` with `script` right after its `<head>` tag (unchanged when it has none)."""
    at = body.lower().find(b"<head")
    end = body.find(b">", at) if at >= 0 else -1
    return body if end < 0 else body[: end + 1] + script + body[end + 1 :]
