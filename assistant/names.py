"""Whether the passages address what a question names: countries, cities, organisations, codes.

"Is there a competence centre in Denmark?" over passages about Sweden's centre scores, to the
embedder, as high as a real answer; so does "Which German organisations took part?" over the
list of partners. A question whose names the passages do not address is not answered from them.
"""

from __future__ import annotations

import re

import numpy as np

from index.embedder import Embedder
from sihub.types import Hit

from . import places, terms

# How much more a name of the question, absent from every passage, must add to one of the best
# spans' similarity than to the median span to count as addressed there; see `unsupported`.
NAME_GAIN = 0.003
NAME_SPANS = 5
# A question made of unknown names must not cost minutes (issue 18): `names_in` returns at most
# MAX_NAMES names, and `unsupported` embeds copies of the question for at most NAME_CHECK_CHARS
# characters in all (one name of a 1,000-character question, eight of a short one).
MAX_NAMES = 8
NAME_CHECK_CHARS = 1000

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


def subjects(question: str) -> list[str]:
    """The names of `names_in` that say whom or what a question is about: organisations,
    programmes, projects ("Reach for Change", "ALTUM", "BuiCaSuS"). Not places (`places` knows
    their forms in five languages), numbers, nor short acronyms, which change with the language
    ("ESF" is "FSE" in French and Spanish, "EU" is "UE")."""
    return [
        w
        for w in names_in(question)
        if not w.isdigit() and not (w.isupper() and len(w) <= 4) and not places.mentions(w) and not places.cities(w)
    ]


def unsupported(
    question: str, hits: list[Hit], spans: np.ndarray | None, embedder: Embedder | None, query_vec: np.ndarray | None
) -> list[str]:
    """Names of the question that the passages `hits` do not address (so they cannot answer it).

    Countries and cities are looked up in `places`: one the passages never name in any of the
    five languages (nor, for a country, come from) is not addressed. Any other name is not
    addressed when no passage contains it (by its first five letters, as `terms.key` compares)
    and taking it out of the question costs none of the best spans more similarity than it costs
    the typical span (a translated name, "Lettonie" for "Latvia", still ties the question to the
    span that holds it in another language). `spans` are the vectors of the scored spans, best
    first (rows), `query_vec` the question's; without them an absent name is not addressed, nor
    is one past the `NAME_CHECK_CHARS` budget.
    """
    if not hits:
        return []
    texts = [f"{h.title} {h.chunk.heading} {h.chunk.text}" for h in hits]
    present = set().union(*(terms.keys(t) for t in texts))
    countries = places.mentions(question)
    covered = places.mentions(" ".join(texts), set(countries)).keys() | {
        str((h.doc_meta or {}).get("country") or "").upper() for h in hits
    }
    cities = places.cities(question)
    covered |= places.cities(" ".join(texts), set(cities)).keys()
    named = {**countries, **cities}
    out = [word for key, word in named.items() if key not in covered]
    place_words = {terms.key(w) for w in _WORDS.findall(" ".join(named.values()))}
    absent = [w for w in names_in(question) if terms.key(w) not in present and terms.key(w) not in place_words]
    if not absent:
        return out
    if spans is None or embedder is None or query_vec is None or not len(spans):
        return out + absent
    checked = absent[: max(1, NAME_CHECK_CHARS // len(question))]
    out += absent[len(checked) :]
    without = [re.sub(r"(?<!\w)" + re.escape(w) + r"(?!\w)", " ", question, count=1) for w in checked]
    vecs = embedder.embed_queries(without)
    base = spans @ np.asarray(query_vec, dtype=np.float32)
    for w, v in zip(checked, vecs, strict=True):
        # What the name adds to each span's similarity; dropping any word lifts all spans a little,
        # so the best spans are compared with the median span, not with zero.
        gain = base - spans @ v
        if float(np.max(gain[:NAME_SPANS]) - np.median(gain)) <= NAME_GAIN:
            out.append(w)
    return out


def years_unmentioned(question: str, texts: list[str]) -> list[str]:
    """The years `question` names ("after 2025", "2022. gadā") that none of `texts` mentions.

    A year is part of what a question asks: "What will happen to the website after 2025?" is
    not answered by passages about the hub that never mention 2025, however close in meaning.
    `texts` are the passages an answer would quote (not every passage found: a year is common
    enough to turn up somewhere among them). On the gold questions, each of the 22 answerable
    ones that names a year has it on the answer's passage.
    """
    years = list(dict.fromkeys(_YEARS.findall(question)))
    mentioned = {y for t in texts for y in _YEARS.findall(t)}
    return [y for y in years if y not in mentioned]
