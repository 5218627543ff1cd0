"""Question handling before retrieval: language, chat filler, filters.

- The language of a question decides how its words are stemmed for the lexical search and
  whether an exact-term match in a document is a same-language match. Short questions are
  where langdetect guesses wildly, so letters only one of our languages uses (å, ā, ñ, ç …)
  and common function words are counted as well; the UI language is the last fallback.
- Chat filler ("can you tell me", "kan du berätta", …) carries no topic: it is dropped from
  the lexical query (the embedder gets the question as typed).
- Filters (`lang=fr`, `country=LV`, …) restrict the search to matching chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sihub.errors import SihubError
from sihub.ingest.lang import SUPPORTED, detect

from . import places
from .i18n import cues, hinted_language

FILTER_KEYS = ("lang", "country", "partner", "year", "type", "file")
"""`lang` is a chunk's language, `file` a document path (glob or folder prefix), the rest catalogue fields."""


@dataclass
class Query:
    text: str
    """The question as typed (what the embedder sees)."""
    lang: str = "und"
    lexical_text: str = ""
    """The question without chat filler (what the lexical search sees); empty = `text`."""
    filters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lexical(self) -> str:
        return self.lexical_text or self.text


# Letters that only one of the five languages writes (case-folded), and a few very frequent
# function words per language (deliberately short lists): each language's data file
# (`lang/<code>.json`, cues "letters" and "function_words").
_LETTER_HINTS = {lang: letters for lang, letters in cues("letters").items() if letters}
_WORD_HINTS = cues("function_words")
_WORD_SETS = {lang: set(words) for lang, words in _WORD_HINTS.items()}
_WORD = re.compile(r"\w+", re.UNICODE)


def _hint_scores(text: str) -> dict[str, float]:
    low = text.lower()
    scores = {lang: 0.0 for lang in SUPPORTED}
    for lang, letters in _LETTER_HINTS.items():
        scores[lang] += 2.0 * sum(low.count(ch) for ch in letters)
    # é and á are shared by several languages: a weak vote each.
    scores["fr"] += 0.5 * low.count("é")
    scores["es"] += 0.5 * sum(low.count(ch) for ch in "áíóú")
    for word in _WORD.findall(low):
        for lang, words in _WORD_SETS.items():
            if word in words:
                scores[lang] += 1.0
    return scores


def hint_language(text: str, margin: float = 0.5) -> str | None:
    """A guess from letters and function words alone (for questions too short for langdetect)."""
    scores = _hint_scores(text)
    best = max(scores, key=lambda lang: scores[lang])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] <= 0 or ranked[0] - ranked[1] < margin:
        return None
    return best


def _supported_guess(text: str) -> tuple[str, float]:
    """langdetect's best language among the hub's languages only, with its probability."""
    from langdetect import LangDetectException

    from sihub.ingest import lang as langmod

    with langmod._lock:
        try:
            detector = langmod._factory().create()
            detector.set_prior_map({code: 1.0 for code in SUPPORTED})
            detector.append(text[:3000])
            probs = detector.get_probabilities()
        except LangDetectException:
            return "und", 0.0
    return (str(probs[0].lang), float(probs[0].prob)) if probs else ("und", 0.0)


# Languages the detector confuses with a hub language on short texts ("ca" for Spanish, "no" for
# Swedish): read as that hub language.
_NEIGHBOURS = {"no": "sv", "nb": "sv", "nn": "sv", "da": "sv", "lt": "lv", "ca": "es", "gl": "es", "pt": "es"}


@lru_cache(maxsize=1024)
def question_language(text: str, fallback: str = "und") -> str:
    """ISO 639-1 code of a question; one of the hub's languages unless nothing points anywhere.
    The one detector of the search and the answer (both read a question in the same language).
    Kept for the latest questions (the detector is seeded, so an answer never changes): a
    comparison asks one question once overall and once per country, and detection was most of
    its time (`bench/compare_threshold.py --timing`).

    Names keep their own letters inside any language ("Zaļā adata", "Umeå"): when only a few
    capitalised words (not the first) hold a language's own letters, the question is first read
    without them, and a clear reading decides. Then long questions go to the detector, short ones
    to letters and function words, and the detector restricted to the hub's languages;
    `fallback` when nothing tells.
    """
    words = text.split()
    # A name is written with a capital; the question's first word has one anyway. A lower-case
    # word with a language's own letters ("ģimenēm") is that language, not a name in it.
    named = [w for i, w in enumerate(words) if i and w[:1].isupper() and hinted_language(w)]
    if named and 3 * len(named) <= len(words):
        plain = " ".join(w for w in words if not hinted_language(w))
        if sum(ch.isalpha() for ch in plain) >= 12:
            guess, prob = _supported_guess(plain)
            if prob >= 0.9:
                return guess
    letters = sum(ch.isalpha() for ch in text)
    if letters >= 40:
        lang = detect(text, fallback="und", min_letters=40)
        if lang != "und":
            return _NEIGHBOURS.get(lang, lang)
    strong = hint_language(text, margin=2.0)
    if strong:
        return strong
    guess, prob = _supported_guess(text) if letters >= 4 else ("und", 0.0)
    hinted = hint_language(text)
    if guess != "und" and (prob >= 0.5 or hinted in (None, guess)):
        return guess
    return hinted or fallback


# Polite openings that carry no topic ("kan du berätta", "pourriez-vous me dire"), per language
# (matched at the start, case-insensitive): each data file's "chat_filler".
_FILLER = [piece for pieces in cues("chat_filler").values() for piece in pieces]
_FILLER_RE = re.compile(r"^\s*(?:(?:" + "|".join(_FILLER) + r")(?!\w)\s*[,:;!]?\s*)+", re.IGNORECASE | re.UNICODE)


def strip_filler(text: str) -> str:
    """The question without polite openings; the question itself when nothing else would be left."""
    rest = _FILLER_RE.sub("", text, count=1).strip()
    rest = (
        re.sub(r"^(that|if|whether|om|si|que|si|vai)\s+", "", rest, flags=re.IGNORECASE)
        if rest != text.strip()
        else rest
    )
    return rest if _WORD.search(rest) else text


def parse_filters(items: list[str] | tuple[str, ...] | None) -> dict[str, list[str]]:
    """`["country=LV", "lang=fr,es"]` -> {"country": ["LV"], "lang": ["fr", "es"]}; bad keys raise."""
    out: dict[str, list[str]] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise SihubError(f"filter {item!r}: expected KEY=VALUE, e.g. country=LV")
        if key not in FILTER_KEYS:
            raise SihubError(f"filter {item!r}: unknown key {key!r} (use one of {', '.join(FILTER_KEYS)})")
        values = [v.strip() for v in value.split(",") if v.strip()]
        out.setdefault(key, []).extend(values)
    return out


def normalise_filters(filters: dict[str, object] | list[str] | tuple[str, ...] | None) -> dict[str, list[str]]:
    """Filters as {key: [values]} from either ["country=LV", ...] or {"country": "LV" | ["LV", ...]}."""
    if not filters:
        return {}
    if isinstance(filters, (list, tuple)):
        return parse_filters(filters)
    items = []
    for key, value in filters.items():
        for v in value if isinstance(value, (list, tuple, set)) else [value]:
            if v is not None and str(v).strip():
                items.append(f"{key}={v}")
    return parse_filters(items)


def parse_query(
    text: str, filters: dict[str, list[str]] | None = None, lang: str | None = None, ui_lang: str = "und"
) -> Query:
    """A Query with its language (given, detected, or the UI language) and filler-free lexical text."""
    return Query(
        text=text,
        lang=lang or question_language(text, fallback=ui_lang),
        lexical_text=strip_filler(text),
        filters=dict(filters or {}),
    )


# ---- language-neutral signals: names and codes, country mentions ----------------------------

_ANY_STOP = frozenset(w for words in _WORD_HINTS.values() for w in words)
_SENTENCE_END = re.compile(r"[.!?:;¿¡]$")


def name_terms(text: str) -> list[str]:
    """Lower-cased words of a question that look like names or codes, which read the same in
    every language: words with digits (WP5, 2021), several capitals (EaSI, BuiCaSuS, ESF) or a
    capital not at the start of a sentence (Villaseren, Göteborg). A capitalised first word
    counts only when the next word is capitalised too (Germoir Solidaire: …)."""
    raw = text.split()
    words = [w.strip("\"'()[]{}«»“”„‘’,.!?:;¿¡") for w in raw]
    out: list[str] = []
    for i, w in enumerate(words):
        if not w or not any(ch.isalpha() or ch.isdigit() for ch in w):
            continue
        at_start = i == 0 or bool(_SENTENCE_END.search(raw[i - 1])) or raw[i][:1] in "¿¡"
        digits = any(ch.isdigit() for ch in w)
        capitals = sum(ch.isupper() for ch in w)
        capitalised = w[:1].isupper()
        if capitalised and at_start and not digits and capitals < 2:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            capitalised = nxt[:1].isupper()
        if not (digits or capitals >= 2 or capitalised):
            continue
        for piece in _WORD.findall(w.lower()):
            if piece in _ANY_STOP or len(piece) < 2:  # single letters and digits are everywhere
                continue
            out.append(piece)
    return list(dict.fromkeys(out))


def country_mentions(text: str) -> set[str]:
    """Country codes (ES, FR, LV, SE, EU, DK, ...) whose name or adjective the text uses."""
    return set(places.mentions(text))
