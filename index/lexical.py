"""Lexical analysis shared by indexing and querying (FTS5 does case and diacritic folding)."""

from __future__ import annotations

import re

ANALYZER_VERSION = "plain-1"
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def analyze(text: str, lang: str = "und") -> str:
    """The text stored in the FTS5 column for a chunk."""
    return " ".join(tokens(text))


def match_query(text: str, lang: str = "und") -> str | None:
    """An FTS5 MATCH expression (OR of quoted terms) safe for any user input; None if empty."""
    terms = list(dict.fromkeys(analyze(text, lang).split()))
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:64])
