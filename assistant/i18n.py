"""Interface text in the asker's language (sv, lv, fr, es, en; anything else falls back to English),
and the letters that tell the hub's languages apart (`hinted_language`, used by the question
language detector in `query.py`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

LANGS = ("sv", "lv", "fr", "es", "en")

# Interface text and question cue words, one data file per language (`lang/<code>.json`):
# adding a language is adding a file. Language and country names come from CLDR through Babel.
LANG_DIR = Path(__file__).with_name("lang")


@cache
def language_data(lang: str) -> dict:
    """What sihub knows of `lang` (read once from `lang/<lang>.json`): its interface text
    ("labels") and the cue words that tell what a question asks for ("cues", `kinds.py`)."""
    return json.loads((LANG_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def cues(name: str, langs: tuple[str, ...] = LANGS) -> dict[str, list[str] | str]:
    """The cue `name` of each language's data file, by language (in the order of `langs`)."""
    return {lang: language_data(lang)["cues"].get(name, []) for lang in langs}


def labels(lang: str) -> dict[str, str]:
    """The interface text of `lang`."""
    return language_data(lang)["labels"]


def ui_texts(lang: str) -> dict[str, str]:
    """The web page's text in `lang` (tab names, buttons, filter labels, ...; `sihub.web.text`)."""
    return language_data(ui_lang(lang))["ui"]


def ui_text(lang: str, key: str, /, **values: object) -> str:
    """The web page's text `key` in `lang` (English for unsupported languages), formatted."""
    text = ui_texts(lang).get(key) or ui_texts("en")[key]
    return text.format(**values) if values else text


def autonym(lang: str) -> str:
    """The name of language `lang` in itself (CLDR: "svenska", "latviešu"), for a language menu."""
    from babel import Locale

    return Locale.parse(lang).get_display_name(lang) or lang


def ui_lang(lang: str) -> str:
    """The interface language used for `lang`: itself when supported, else English."""
    return lang if lang in LANGS else "en"


def label(lang: str, key: str, /, **values: object) -> str:
    """The interface text `key` in `lang` (English for unsupported languages), formatted."""
    text = labels(ui_lang(lang)).get(key) or labels("en")[key]
    return text.format(**values) if values else text


def lang_name(code: str, in_lang: str) -> str:
    """The name of language `code` written in the interface language (CLDR, through Babel:
    "lettiska", "Latvian"); the code itself if unknown."""
    return _language_names(ui_lang(in_lang)).get(code, code)


@cache
def _language_names(in_lang: str) -> dict[str, str]:
    from babel import Locale

    return dict(Locale.parse(in_lang).languages)


def country_name(code: str, in_lang: str) -> str:
    """The name of country (or region) `code` in the interface language, from CLDR through Babel:
    "LV" reads "Lettland" to a Swedish asker, "EU" "Unión Europea" to a Spanish one. A value CLDR
    does not know as a territory code (a name already) is returned as it is."""
    from babel import Locale

    text = str(code).strip()
    return Locale.parse(ui_lang(in_lang)).territories.get(text.upper(), text) if text else text


# ---- question language -------------------------------------------------------------------------

_HINTS = (
    ("lv", re.compile(r"[āēīūķļņģ]", re.IGNORECASE)),
    ("sv", re.compile(r"å", re.IGNORECASE)),
    ("es", re.compile(r"[ñ¿¡]", re.IGNORECASE)),
)


def hinted_language(text: str) -> str | None:
    """The hub language whose own letters `text` uses (Latvian long vowels, Swedish å, Spanish ñ ¿ ¡)."""
    for lang, pattern in _HINTS:
        if pattern.search(text):
            return lang
    return None
