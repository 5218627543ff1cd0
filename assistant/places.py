"""Countries and cities named in a text, in the hub's five languages (sv, lv, fr, es, en).

A question about Denmark over documents about Sweden reads, to an embedder, much like a
question about Sweden; a table of country names settles it. And "Gēteborgā" in a Latvian
question is the "Gothenburg" of an English report, which no spelling rule finds. Each place is
listed by the word beginnings of its names (and a country's adjective) in the five languages,
without diacritics, so that inflected forms match ("Spānijas", "lettiska", "espagnole",
"suecos", "Vācijas", "Gēteborgā").
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
    "PL": "poland polen polsk pologne polonais polonia polaco polij polu",
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

# Cities whose names differ across the five languages (the same spelling everywhere needs no
# entry: the question's word is then found as it is). Partner-country cities, then capitals.
CITY_WORDS = {
    "Gothenburg": "gothenburg goteborg geteborg gotemburgo gotebourg",
    "Malmo": "malmo malme",
    "Stockholm": "stockholm stokholm estocolmo",
    "Seville": "sevil",
    "Zaragoza": "zaragoza saragossa saragosse saragos",
    "Copenhagen": "copenhagen kopenhamn kopenhag copenhague",
    "Brussels": "brussels bryssel brisel bruxelles bruselas",
    "Lisbon": "lisbon lissabon lisabon lisbonne lisboa",
    "Vienna": "vienna wien vine vienne",
    "Warsaw": "warsaw warszawa varsav varsovie varsovia",
    "Prague": "prague prag praha praga",
    "Athens": "athens aten atenas athenes",
    "Helsinki": "helsinki helsingfors",
    "Vilnius": "vilnius viln",
    "Tallinn": "tallinn tallin",
    "London": "london londres londona",
    "Munich": "munich munchen minhen",
    "Cologne": "cologne koln kelne",
    "Milan": "milan milano",
    "Florence": "florence florens florencia florencij firenze",
    "Naples": "naples neapel neapol napoles",
    "The Hague": "the_hague haag hage la_haye la_haya",
}

# Beginnings this short, and the listed ones, match whole words only (Latvian "vācu", German,
# must not match "vācu..." words of other meanings).
_WHOLE = 3
_PLAIN_WORDS = {"polu", "cehu", "danu", "vacu", "francu", "spanu", "vine", "haag", "hage", "prag", "aten", "malme"}


@lru_cache(maxsize=2)
def _table(kind: str) -> tuple[list[tuple[str, str]], list[tuple[re.Pattern[str], str]]]:
    """Single-word beginnings (longest first) and multi-word names ("reino_unido", "pays-bas")."""
    words, phrases = [], []
    for key, entries in (COUNTRY_WORDS if kind == "country" else CITY_WORDS).items():
        for w in entries.split():
            if "_" in w or "-" in w:
                parts = re.split(r"[_-]", w)
                phrases.append((re.compile(r"\b" + r"[\s-]+".join(map(re.escape, parts)) + r"\b"), key))
            else:
                words.append((w, key))
    return sorted(words, key=lambda p: -len(p[0])), phrases


def _find(kind: str, text: str, keys: set[str] | None) -> dict[str, str]:
    words, phrases = _table(kind)
    if keys is not None:  # only the places asked about: a passage is checked for one country
        if not keys:
            return {}
        words = [(p, k) for p, k in words if k in keys]
        phrases = [(p, k) for p, k in phrases if k in keys]
    folded = fold(text)
    same = len(folded) == len(text)
    found: dict[str, str] = {}
    for pattern, key in phrases:
        if key not in found and (m := pattern.search(folded)):
            found[key] = text[m.start() : m.end()] if same else m.group()
    for match in _WORD.finditer(folded):
        word = match.group()
        for prefix, key in words:
            whole = len(prefix) <= _WHOLE or prefix in _PLAIN_WORDS
            if (word == prefix) if whole else word.startswith(prefix):
                if key not in found:
                    found[key] = text[match.start() : match.end()] if same else word
                break
    return found


def mentions(text: str, codes: set[str] | None = None) -> dict[str, str]:
    """Countries `text` names, as {code: the word or phrase that names it} (only `codes` when given)."""
    return _find("country", text, codes)


def cities(text: str, names: set[str] | None = None) -> dict[str, str]:
    """Cities of `CITY_WORDS` that `text` names, as {English name: the word that names it}."""
    return _find("city", text, names)


def city_names(name: str) -> list[str]:
    """The listed spellings of a city of `CITY_WORDS` (word beginnings, some whole names)."""
    return [w.replace("_", " ") for w in CITY_WORDS.get(name, "").split()]
