"""Follow-up questions: "och i Lettland?" after a question about Sweden means the same question there.

A chat turn that is short, or opens like a continuation ("and", "what about", "och", "et",
"y", "un"), or has hardly a topic word of its own, is read together with the previous turn:
the search query is the follow-up plus the earlier question's content terms that the
follow-up does not already name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import terms
from .i18n import cues
from .state import Resolved

# Openings that continue the previous turn (lower case), and words that point back at the
# previous answer: each language's data file (`lang/<code>.json`, cues "continuations" and
# "anaphora").
_CONTINUATIONS = tuple(c for items in cues("continuations").values() for c in items)
_ANAPHORA = frozenset(w for words in cues("anaphora").values() for w in words)
_SHORT = 4  # content words at most, for a question to lean on the previous one


@dataclass
class Turn:
    question: str
    answer: str = ""
    language: str | None = None


def turns(history: Iterable[Any] | None) -> list[Turn]:
    """Normalise a chat history: Answer objects, {question, answer} dicts, (question, answer)
    pairs, or chat messages [{role: user|assistant, content}]."""
    out: list[Turn] = []
    for item in history or []:
        if hasattr(item, "question") and hasattr(item, "answer"):
            out.append(Turn(str(item.question), str(item.answer), getattr(item, "language", None)))
        elif isinstance(item, Mapping) and "role" in item:
            content = item.get("content")
            text = content if isinstance(content, str) else ""
            if item["role"] == "user":
                out.append(Turn(text))
            elif item["role"] == "assistant" and out:
                out[-1].answer = text
        elif isinstance(item, Mapping) and "question" in item:
            out.append(Turn(str(item["question"]), str(item.get("answer") or ""), item.get("language")))
        elif isinstance(item, list | tuple) and len(item) >= 1 and isinstance(item[0], str):
            out.append(Turn(item[0], str(item[1]) if len(item) > 1 and item[1] else ""))
    return [t for t in out if t.question.strip()]


def is_followup(question: str) -> bool:
    """Whether a question leans on the previous turn."""
    low = " ".join(question.lower().split()).lstrip("¿¡-–— ")
    if any(low.startswith(c.lstrip("¿")) or low.startswith(c) for c in _CONTINUATIONS):
        return True
    words = re.findall(r"\w+", low)
    if not words:
        return False
    content = terms.content_words(question)
    if len(content) <= _SHORT and len(words) <= 7:
        return True
    return any(w in _ANAPHORA for w in words) and len(content) <= _SHORT + 2


def _is_name(word: str) -> bool:
    return word[:1].isupper() and word.lower() not in terms.STOPWORDS


def resolve(question: str, history: Iterable[Any] | None = None) -> Resolved:
    """The search query for `question` given the earlier turns of the chat."""
    past = turns(history)
    if not past or not is_followup(question):
        return Resolved(question, question)
    # The topic lives in the latest question that was not itself a bare follow-up.
    anchor = past[-1]
    for t in reversed(past):
        anchor = t
        if not is_followup(t.question):
            break
    own = terms.keys(question)
    carried = [w for w in terms.content_words(anchor.question) if terms.key(w) not in own]
    # "och i Lettland?" after a question about Sweden replaces the place, "and in 2021?" the year:
    # a name or number of the follow-up displaces the earlier question's names or numbers.
    words = re.findall(r"\w+", question)
    if any(_is_name(w) for w in words[1:]):
        names = {w for w in re.findall(r"\w+", anchor.question)[1:] if _is_name(w)}
        carried = [w for w in carried if w not in names]
    if any(w.isdigit() for w in words):
        carried = [w for w in carried if not w.isdigit()]
    query = " ".join([question.strip(), *carried]) if carried else question
    return Resolved(question, query, followup_of=anchor.question, language=past[-1].language)
