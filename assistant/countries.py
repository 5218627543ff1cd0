"""Countries named in a text, in the hub's five languages (sv, lv, fr, es, en).

A question about Denmark over documents about Sweden reads, to an embedder, much like a
question about Sweden; a table of country names settles it. Each country is listed by the word
beginnings of its name and adjective in the five languages, without diacritics, so that
inflected forms match ("Spānijas", "lettiska", "espagnole", "suecos", "Vācijas").
"""

from __future__ import annotations

import re
from functools import lru_cache

from .terms import fold

_WORD = re.compile(r"\w+", re.UNICODE)

# code: word beginnings (folded). Partner countries and the EU first; then the rest of the EU
# and its neighbours, which questions name when they ask about what the documents do not cover.
COUNTRY_WORDS = {
    "ES": "spain spanish spanien spansk espagn espana espanol spanij spanu",
    "FR": "france french frankrike fransk francai francia frances francij francu",
    "LV": "latvia latvian lettland lettisk letton letonia latvij latviesu latvies",
    "SE": "sweden swedish sverige svensk suede suedois suecia sueco sueca zviedr",
    "EU": "european europe europa europeisk eiropa eiropas eu ue",
    "AT": "austria austrian osterrik autrich austriac austrij",
    "BE": "belgium belgian belgien belgisk belgique belge belgica belga belgij",
    "BG": "bulgaria bulgarian bulgarien bulgarisk bulgar bulgarij",
    "HR": "croatia croatian kroatien kroatisk croatie croate croacia croata horvatij horvat",
    "CY": "cyprus cypriot cypern cypriotisk chypre chypriot chipre chipriot kipr",
    "CZ": "czech tjeckien tjeckisk tcheque tchequie chequia checo checa cehij cehu",
    "DK": "denmark danish danmark dansk danemark danois dinamarca danes danu danij",
    "EE": "estonia estonian estland estnisk estonie estonien estonio igaunij igaun",
    "FI": "finland finnish finsk finlande finlandais finlandia finlandes somij",
    "DE": "germany german tyskland tysk allemagn allemand alemania aleman vacij vacu",
    "GR": "greece greek grekland grekisk grece grec grecia griego griek",
    "HU": "hungary hungarian ungern ungersk hongrie hongrois hungria hungaro ungarij ungar",
    "IE": "ireland irish irland irlande irlandais irlanda irlandes irij",
    "IT": "italy italian italien italiensk itali",
    "LT": "lithuania lithuanian litauen litauisk lituanie lituanien lituania lituano lietuv",
    "LU": "luxembourg luxemburg luxemburgo luksemburg",
    "MT": "malta maltese maltesisk malte maltais maltes",
    "NL": "netherlands dutch nederlanderna nederlandsk holland pays-bas neerlandais paises_bajos neerlandes niderland",
    "PL": "poland polish polen polsk pologne polonais polonia polaco polij polu",
    "PT": "portug",
    "RO": "romania romanian rumanien rumansk roumanie roumain rumania rumano rumanij rumanu",
    "SK": "slovakia slovak slovakien slovakisk slovaquie slovaque eslovaquia eslovaco slovakij",
    "SI": "slovenia slovenian slovene slovenien slovensk slovenie eslovenia esloveno slovenij",
    "NO": "norway norwegian norge norsk norvege norvegien noruega noruego norvegij norveg",
    "IS": "iceland icelandic islandsk islande islandais islandia islandes islandij",
    "CH": "switzerland swiss schweiz schweizisk suisse suiza suizo sveice",
    "GB": "united_kingdom britain british england storbritannien brittisk royaume-uni britanni reino_unido "
    "britanic lielbritanij",
    "UA": "ukraine ukrainian ukrainsk ukrainien ucrania ucraniano ukrain",
}

# Beginnings this short, and the listed ones, match whole words only (Latvian "vācu", German,
# must not match "vācu..." words of other meanings).
_WHOLE = 3
_PLAIN_WORDS = {"polu", "cehu", "danu", "vacu", "francu", "spanu"}


@lru_cache(maxsize=1)
def _table() -> tuple[list[tuple[str, str]], list[tuple[re.Pattern[str], str]]]:
    """Single-word beginnings (longest first) and multi-word names ("reino_unido", "pays-bas")."""
    words, phrases = [], []
    for code, entries in COUNTRY_WORDS.items():
        for w in entries.split():
            if "_" in w or "-" in w:
                parts = re.split(r"[_-]", w)
                phrases.append((re.compile(r"\b" + r"[\s-]+".join(map(re.escape, parts)) + r"\b"), code))
            else:
                words.append((w, code))
    return sorted(words, key=lambda p: -len(p[0])), phrases


def mentions(text: str, codes: set[str] | None = None) -> dict[str, str]:
    """Countries `text` names, as {code: the word or phrase that names it} (only `codes` when given)."""
    words, phrases = _table()
    folded = fold(text)
    found: dict[str, str] = {}
    for pattern, code in phrases:
        if (codes is None or code in codes) and code not in found and (m := pattern.search(folded)):
            found[code] = text[m.start() : m.end()] if len(folded) == len(text) else m.group()
    for match in _WORD.finditer(folded):
        word = match.group()
        for prefix, code in words:
            if codes is not None and code not in codes:
                continue
            whole = len(prefix) <= _WHOLE or prefix in _PLAIN_WORDS
            if (word == prefix) if whole else word.startswith(prefix):
                if code not in found:
                    found[code] = text[match.start() : match.end()] if len(folded) == len(text) else word
                break
    return found
