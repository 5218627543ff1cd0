"""What one question may carry: the caps the web page, the API and the CLI put on questions,
chat histories and filters, so that no request costs more than an ordinary one (issue 18).

Each check raises BadInputError with one line that says what was too much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sihub.errors import BadInputError
from sihub.settings import Settings

MAX_FILTER_VALUES = 50
"""Most filter values one request may name, all keys together (SQLite refuses about 1,000)."""
MAX_FILTER_CHARS = 200
"""Longest filter value (a `file` filter becomes a LIKE pattern, which SQLite bounds)."""
ANSWER_TURN_FACTOR = 10
"""An assistant turn of a chat history may be this many times `max_question_chars` long."""


def check_question(text: str, settings: Settings, what: str = "question") -> str:
    """`text` if it is neither empty nor longer than `settings.max_question_chars`."""
    if not isinstance(text, str) or not text.strip():
        raise BadInputError(f"the {what} is empty")
    limit = settings.max_question_chars
    if len(text) > limit:
        raise BadInputError(f"the {what} is {len(text):,} characters long; at most {limit:,} are accepted")
    return text


def check_history(history: list[Any] | None, settings: Settings) -> None:
    """At most `max_history_turns` entries; a user turn as long as a question, an answer ten times."""
    if not history:
        return
    if len(history) > settings.max_history_turns:
        raise BadInputError(f"the history has {len(history)} turns; at most {settings.max_history_turns} are accepted")
    for i, entry in enumerate(history):
        content = entry.get("content", "") if isinstance(entry, Mapping) else entry
        role = entry.get("role") if isinstance(entry, Mapping) else "user"
        limit = settings.max_question_chars * (1 if role == "user" else ANSWER_TURN_FACTOR)
        if not isinstance(content, str) or len(content) > limit:
            size = f"{len(content):,} characters" if isinstance(content, str) else "not text"
            raise BadInputError(f"history[{i}] ({role}) is {size}; at most {limit:,} characters are accepted")


def check_filters(filters: Mapping[str, Any] | list[str] | tuple[str, ...] | None) -> None:
    """At most MAX_FILTER_VALUES values (alternatives "lang=fr,es" count one each), no key or
    value longer than MAX_FILTER_CHARS characters."""
    if not filters:
        return
    if isinstance(filters, Mapping):
        pairs = [
            (k, v) for k, value in filters.items() for v in (value if isinstance(value, list | tuple) else [value])
        ]
    else:
        pairs = [tuple(str(item).partition("=")[::2]) for item in filters]
    words = [str(w) for pair in pairs for w in pair]
    if len(pairs) + sum(w.count(",") for w in words) > MAX_FILTER_VALUES:
        raise BadInputError(f"too many filter values: at most {MAX_FILTER_VALUES} are accepted")
    longest = max(len(w) for w in words)
    if longest > MAX_FILTER_CHARS:
        raise BadInputError(f"a filter is {longest:,} characters long; at most {MAX_FILTER_CHARS} are accepted")
