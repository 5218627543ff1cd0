"""Whether the passages address what a question names: countries, cities, organisations, codes.

"Is there a competence centre in Denmark?" over passages about Sweden's centre scores, to the
embedder, as high as a real answer; so does "Which German organisations took part?" over the
list of partners. A question whose names the passages do not address is not answered from them.
"""

from __future__ import annotations

import re

from sihub.types import Hit

from . import places, terms

# A question made of unknown names must not cost more than an ordinary one (issue 18):
# `names_in` returns at most MAX_NAMES names (each is then looked up in the index).
MAX_NAMES = 8

_WORDS = re.compile(r"\w+", re.UNICODE)
_YEARS = re.compile(r"(?<!\w)(?:1[89]|20)\d\d(?!\d)")


def names_in(question: str) -> list[str]:
    """What a question names: capitalised words past the first, acronyms, numbers of 3+ digits
    (the first `MAX_NAMES` of them)."""
    out = []
    for i, w in enumerate(_WORDS.findall(question)):
        if w.isdigit():
            keep = len(w) >= 3
        else:
            keep = (i > 0 and w[:1].isupper() and w.lower() not in terms.STOPWORDS) or (len(w) >= 2 and w.isupper())
        if keep and w not in out:
            out.append(w)
            if len(out) == MAX_NAMES:
                break
    return out


def places_unaddressed(question: str, hits: list[Hit]) -> tuple[list[str], list[str]]:
    """The countries and cities `question` names (as it words them), and those of them that the
    passages `hits` never name in any of the five languages (nor, for a country, come from)."""
    countries = places.mentions(question)
    cities = places.cities(question)
    named = {**countries, **cities}
    if not named:
        return [], []
    texts = " ".join(f"{h.title} {h.chunk.heading} {h.chunk.text}" for h in hits)
    covered = places.mentions(texts, set(countries)).keys() | {
        str((h.doc_meta or {}).get("country") or "").upper() for h in hits
    }
    covered |= places.cities(texts, set(cities)).keys()
    return list(named.values()), [word for key, word in named.items() if key not in covered]


def absent_from(words: list[str], hits: list[Hit]) -> list[str]:
    """Those of `words` that no passage of `hits` (title, heading, text) contains, compared by
    `terms.key` (folded, first five letters)."""
    if not words:
        return []
    present = set().union(*(terms.keys(f"{h.title} {h.chunk.heading} {h.chunk.text}") for h in hits)) if hits else set()
    return [w for w in words if terms.key(w) not in present]


def unsupported(question: str, hits: list[Hit]) -> list[str]:
    """Names of the question that the passages `hits` do not hold: places they never name in any
    language (`places_unaddressed`), and other names and codes none of them contains."""
    if not hits:
        return []
    named_places, out = places_unaddressed(question, hits)
    place_words = {terms.key(w) for w in _WORDS.findall(" ".join(named_places))}
    others = [w for w in names_in(question) if terms.key(w) not in place_words]
    return out + absent_from(others, hits)


def years_unmentioned(question: str, texts: list[str]) -> list[str]:
    """The years `question` names ("after 2025", "2022. gadā") that none of `texts` mentions.

    A year is part of what a question asks: "Will the portal still be online in 2025?" is
    not answered by passages about the hub that never mention 2025, however close in meaning.
    `texts` are the passages an answer would quote (not every passage found: a year is common
    enough to turn up somewhere among them). On the gold questions, each of the 22 answerable
    ones that names a year has it on the answer's passage.
    """
    years = list(dict.fromkeys(_YEARS.findall(question)))
    mentioned = {y for t in texts for y in _YEARS.findall(t)}
    return [y for y in years if y not in mentioned]
