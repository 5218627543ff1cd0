"""What kind of answer a question asks for, and whether a passage offers one.

"What did the Riga conference cost?" is answered by an amount of money; passages about the
Riga conference that give no amount do not answer it, however close they are in meaning.
These kinds are told apart, in the hub's five languages (sv, lv, fr, es, en):

- `money`: cost, budget, price, amount of money -> a figure with a currency;
- `time`:  when, which year, at what time -> a year, a date, a month, a season or a clock time;
- `score`: what (average) rating, grade or mark -> a score: a decimal ("4,6"), one figure out
  of another ("4 of 5", "8/10") or a percentage;
- `duration`: how long, for how many months -> a figure before a unit of time ("nine months",
  "18 mēnešus", "tres años"; the units' words are CLDR's, through Babel) or a span of years
  ("2021–2023");
- `count`: how many, how much, what share -> a figure (digits or a number word);
- `None`:  anything else (who, what, which, how) -> no check.

`asks_several` tells a question that asks for several things ("Which projects…", "Vilka
teman…"), which a table or a list answers best.

The patterns are deliberately narrow (a question that is not clearly one of the kinds gets no
check), since a wrong kind turns away a real answer. Their words are data: each language's file
`lang/<code>.json` lists its cues (question words of each kind, money words, currencies, month
names, number words, the words that name a part such as "Work Package"), and this module joins
them across languages; adding a language is adding its file.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from functools import lru_cache

from sihub.index.lexical import stem_all

from .i18n import LANGS, language_data
from .terms import KEYS_REMEMBERED, content_words, fold, key, keys

Kind = str  # "money" | "time" | "score" | "duration" | "count"

_F = re.IGNORECASE


def _cues(name: str) -> list[str]:
    """The cue fragments `name` of every language's data file (`lang/<code>.json`, "cues"),
    longest first: regular-expression pieces over folded, lower-case text."""
    found = {piece for lang in LANGS for piece in language_data(lang)["cues"].get(name, [])}
    return sorted(found, key=lambda piece: (-len(piece), piece))


def _any(name: str) -> str:
    return "|".join(_cues(name))


# Words of money anywhere in the question ("the total budget of ...", "¿Cuánto costó ...?").
_MONEY_WORDS = re.compile(rf"\b({_any('money')})", _F)
# "How should the budget be shared?" asks for no amount: how / why questions, unless they ask
# how much or how many.
_OPEN = re.compile(rf"^(?:{_any('open')})", _F)
# Question words, looked for at the start of a clause only: "when" in "what cannot change
# when replicating it" asks for no date.
_CLAUSE_KINDS = [
    ("time", re.compile(rf"({_any('time')})\b", _F)),
    ("score", re.compile(rf"({_any('score')})", _F)),
    # Before `count`: "¿Cuántos meses…?", "cik ilgi" ask for a length of time, not any figure.
    ("duration", re.compile(rf"({_any('duration')})", _F)),
    ("count", re.compile(rf"({_any('count')})", _F)),
]
_CLAUSE = re.compile(rf"[,;:¿?]|\b(?:{_any('clause_joiners')})\b", _F)
# How many words may come before the question word in its clause ("In which year ...").
_LEAD = 2


def asked(question: str) -> Kind | None:
    """The kind of answer `question` asks for, or None when it is not clearly one."""
    q = " ".join(fold(question).split())
    if _MONEY_WORDS.search(q) and not _OPEN.match(q.lstrip("¿¡ ")):
        return "money"
    clauses = [c.split() for c in _CLAUSE.split(q)]
    for kind, pattern in _CLAUSE_KINDS:
        for words in clauses:
            if any(pattern.match(" ".join(words[i:])) for i in range(min(_LEAD, len(words) - 1) + 1)):
                return kind
    return None


# Questions that ask for several things: "Which projects…", "What are the steps…", "Vilka
# teman…", "Quels modules…", "¿Qué funciones…", "¿Cuáles son…", "Kādus soļus…".
_SEVERAL = re.compile(rf"^(?:{_any('several')})", _F)


def asks_several(question: str) -> bool:
    """Whether `question` asks for several things (a list, the rows of a table), not one.
    Names are left out first: "Which BuiCaSuS work package…" asks for one."""
    words = question.lstrip("¿¡ ").split()
    plain = [w for i, w in enumerate(words) if i == 0 or not w[:1].isupper()]
    return bool(_SEVERAL.match(fold(" ".join(plain))))


def several_of(question: str) -> str | None:
    """The comparison key (terms.key) of what a question asking for several things asks
    for: its first content word ("¿Qué funciones tendría…" -> "funci", "Vilka teman…" -> "teman")."""
    words = content_words(question)
    return key(words[0]) if words else None


# Currency signs and codes are the same in every language; currency and scale words are not.
_CURRENCY = rf"(?:€|\$|£|eur\b|{_any('currency')})"
_SCALE = rf"(?:k|m|mn|{_any('scale')})"
_MONEY = re.compile(
    rf"(\d[\d\s.,\u00a0\u202f]*\s*(?:{_SCALE}\.?\s*)?{_CURRENCY}|[€$£]\s*\d|(?:eur|sek|usd|gbp)\.?\s*\d|\d\s*(?:mnkr|mkr|tkr|k€|m€))",
    _F,
)
# Month names (word beginnings, folded) and seasons of the five languages; English "may" and
# Swedish "vår" are left out, being common words too; a short name that other words begin with
# ("mars", "juni") counts whole only (`whole_months`).
_MONTH_NAMES = _cues("months")
_MONTHS = _MONTH_NAMES + _cues("seasons")
_WHOLE_MONTHS = frozenset(_cues("whole_months"))
_TIME = re.compile(r"\b(?:1[89]|20)\d\d\b|\b\d{1,2}[.:h]\d{2}\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")
_NUMBER_WORDS = frozenset(_cues("number_words"))
_WORD = re.compile(r"\w+")


def _names_time(word: str) -> bool:
    return any((word == m) if m in _WHOLE_MONTHS else word.startswith(m) for m in _MONTHS)


def offers(text: str, kind: Kind | None, context: str = "", given: frozenset[str] = frozenset()) -> bool:
    """Whether `text` holds something of `kind` (always True for no kind).

    `context` is the passage around `text`: a figure in a table row counts as money when the
    passage names the currency elsewhere (a header "Izdevumu pozīcija (EUR)"). `given` are the
    figures the question states itself (`given_figures`): "How many of the 35 best practices came
    from each country?" is not answered by "the collection of 35 best practices".
    """
    if kind is None:
        return True
    if kind == "money":
        if _MONEY.search(text):
            return True
        # A table row with a figure, in a passage whose header names the currency.
        return bool(context and "|" in text and _figures(text) and re.search(_CURRENCY, context, _F))
    return _offers_in_itself(text, kind, given)


def given_figures(question: str) -> frozenset[str]:
    """The figures and number words a question states ("the 35 best practices", "tre partner")."""
    folded = fold(question)
    return frozenset(_plain(n) for n in _figures(folded)) | frozenset(
        w for w in _WORD.findall(folded) if w in _NUMBER_WORDS
    )


_SPACES = re.compile(r"[\s\u00a0\u202f]")


def _plain(number: str) -> str:
    """A number without the spaces that group its digits ("1 000" -> "1000")."""
    return _SPACES.sub("", number)


@lru_cache(maxsize=KEYS_REMEMBERED)  # sentences, as many as `terms.keys`
def _offers_in_itself(text: str, kind: Kind, given: frozenset[str] = frozenset()) -> bool:
    """`offers` for the kinds the text alone decides (remembered: the same
    passages' sentences are weighed question after question)."""
    if kind == "time":
        folded = fold(text)
        return bool(_TIME.search(folded)) or any(_names_time(w) for w in _WORD.findall(folded))
    if kind == "score":
        return any(_plain(m.group(1)) not in given for m in _SCORE.finditer(fold(text)))
    if kind == "duration":
        return _offers_duration(text)
    counted = fold(_without_ordinals(text))
    figures = [n for n in _figures(_LABEL.sub(" ", _DATE_DAY.sub(" ", counted))) if _plain(n) not in given]
    return bool(figures) or any(w in _NUMBER_WORDS and w not in given for w in _WORD.findall(counted))


# Numbers that are not how many of something: the day of a date ("16 and 17 February",
# "17 de abril", "16.–17. februārī", "February 16") and a Latvian ordinal ("5. darba paketē").
_MONTH_WORD = (
    r"(?:"
    + "|".join(m + (r"\b" if m in _WHOLE_MONTHS else r"\w*") for m in sorted(_MONTH_NAMES, key=len, reverse=True))
    + ")"
)
_DAY = r"\d{1,2}\.?"
_DATE_DAY = re.compile(
    rf"\b{_DAY}(?:\s*(?:[-–]|{_any('date_joiners')})\s*{_DAY})?\s*(?:de\s+)?{_MONTH_WORD}"
    rf"|\b{_MONTH_WORD}\s+\d{{1,2}}\b(?!\d)"
)
# A score: a decimal of a few digits ("4,6", "8.25"; not "1,000"), a figure out of another ("4
# of 5", "3,9/5", "4,6 no 5", "17 sur 20") or a percentage.
_SCORE = re.compile(
    rf"(?<![\d.,])(\d{{1,2}}[.,]\d{{1,2}}(?!\d)(?![.,]\d)|\d{{1,3}}(?:[.,]\d{{1,2}})?(?=\s*(?:/|{_any('score_of')})"
    rf"\s*\d{{1,3}}\b)|\d{{1,3}}(?:[.,]\d{{1,2}})?(?=\s*(?:%|{_any('percent')})))"
)
# A number that names a part rather than counts: "Work Package 5", "arbetspaket 4", "module 4",
# "fase 2", "Ley 5/2011", "article 3", "page 12" (folded; the word's inflections by its start).
_LABEL_WORDS = _any("label_words")
_LABEL = re.compile(rf"\b(?:{_LABEL_WORDS})\w{{0,3}}\s+(?:n[or]\.?\s*)?\d+(?:[./]\d+)?\b(?!\s*%)")
# A number with a full stop before a lower-case word: "5. darba paketē" (not "was 46. Most came").
_ORDINAL = re.compile(r"\b\d{1,3}\.\s+(?=\w)")


def _without_ordinals(text: str) -> str:
    """`text` without such ordinals; a day before a month ("17. februārī") is `_DATE_DAY`'s."""

    def drop(m: re.Match[str]) -> str:
        word = _WORD.match(text, m.end())
        keep = not text[m.end()].islower() or (word is not None and _names_time(fold(word.group(0))))
        return m.group(0) if keep else " "

    return _ORDINAL.sub(drop, text)


# Units of time as CLDR writes a length of them in each language ("{0} mēneši", "{0} meses"),
# compared by stem (`index/lexical.py`'s stemmers), so other cases match too ("mēnešus").
_DURATION_UNITS = ("duration-year", "duration-month", "duration-week", "duration-day")
_YEAR_SPAN = re.compile(r"\b(?:1[89]|20)\d\d\s*[-–—]\s*(?:(?:1[89]|20)\d\d|\d\d)\b")


@lru_cache(maxsize=1)
def _duration_stems() -> frozenset[str]:
    """The folded stems of the words CLDR writes after a length of time, in every language."""
    from babel.units import format_unit

    out: set[str] = set()
    for lang in LANGS:
        for unit in _DURATION_UNITS:
            for n in (0, 1, 2, 5, 21):
                words = _WORD.findall(format_unit(n, unit, length="long", locale=lang).lower())
                out.update(fold(s) for s in stem_all([w for w in words if not w.isdigit()], lang))
    return frozenset(s for s in out if len(s) > 1)


@lru_cache(maxsize=1)
def _number_stems() -> frozenset[str]:
    """The folded stems of the number words of every language (`number_words`), in each language."""
    words = sorted(_NUMBER_WORDS)
    return frozenset(fold(s) for lang in LANGS for s in stem_all(words, lang)) | _NUMBER_WORDS


@lru_cache(maxsize=KEYS_REMEMBERED)
def _stems(word: str) -> frozenset[str]:
    """A lower-case word's folded stems in every language, and the word folded."""
    return frozenset(fold(stem_all([word], lang)[0]) for lang in LANGS) | {fold(word)}


def _offers_duration(text: str) -> bool:
    """Whether `text` gives a length of time: a figure or a number word followed (within one
    word: "nine months", "18 mēnešus", "six-month") by a unit of time, or a span of years."""
    if _YEAR_SPAN.search(text):
        return True
    tokens = _WORD.findall(text.lower().replace("-", " "))
    units, numbers = _duration_stems(), _number_stems()
    for i, t in enumerate(tokens[:-1]):
        if t.isdigit() or _stems(t) & numbers:
            if any(_stems(u) & units for u in tokens[i + 1 : i + 3]):
                return True
    return False


_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,\s\u00a0\u202f]\d+)*")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")


def _figures(text: str) -> list[str]:
    """The numbers of `text` that are not years (a year says when, not how many)."""
    return [n for n in _NUMBER.findall(text) if not _YEAR.fullmatch(n)]


# How many words before and after a figure say what it counts or costs: "163 candidatures reçues",
# "the budget of EUR 1 860 000", "Vid slutet av 2021 användes appen av 1 240 föräldrar". In a
# table row, the whole row does ("Empleos creados en los proyectos activos | 112").
UNIT_BEFORE, UNIT_AFTER = 3, 3
_TOKEN = re.compile(r"\d+(?:[.,\s\u00a0\u202f]\d+)*|\w+")


@lru_cache(maxsize=KEYS_REMEMBERED)  # sentences, as many as `terms.keys`
def _figure_words(text: str, given: frozenset[str] = frozenset()) -> frozenset[str]:
    """The comparison keys (`terms.key`) of the words next to the figures of `text` (years, days
    of dates, labels such as "Phase 2" and the figures the question gives left out)."""
    out: set[str] = set()
    for line in _without_ordinals(text).split("\n"):
        plain = _LABEL.sub(" ", _DATE_DAY.sub(" ", fold(line)))
        tokens = _TOKEN.findall(plain)
        figures = [
            i for i, t in enumerate(tokens) if t[0].isdigit() and not _YEAR.fullmatch(t) and _plain(t) not in given
        ]
        if not figures:
            continue
        if "|" in line:
            out |= keys(" ".join(t for t in tokens if not t[0].isdigit()))
            continue
        for i in figures:
            near = tokens[max(0, i - UNIT_BEFORE) : i] + tokens[i + 1 : i + 1 + UNIT_AFTER]
            out |= keys(" ".join(t for t in near if not t[0].isdigit()))
    return frozenset(out)


def figure_of(text: str, wanted: AbstractSet[str], given: frozenset[str] = frozenset()) -> bool:
    """Whether `text` gives a figure next to one of the `wanted` words (comparison keys of the
    question's words, and of their translations into the text's language): "163 candidatures"
    for a question on how many applications (in Latvian, "pieteikumu", translated), not "35 best
    practices" for a question on how many tools."""
    return bool(wanted and _figure_words(text, given) & wanted)
