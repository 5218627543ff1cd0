"""Countries and cities named in a text, from data, in the hub's five languages (sv, lv, fr, es, en).

A question about Denmark over documents about Sweden reads, to an embedder, much like a
question about Sweden; knowing the names of countries settles it. And "Gēteborgā" in a Latvian
question is the "Gothenburg" of an English report, which no spelling rule finds.

- Countries: CLDR through Babel, in the five languages: the country's name, and as its
  adjective the name of a language whose home it is ("franska", "lettiska", "espagnol",
  "Latvian"); the European
  Union by its names and their initials ("EU", "UE", Latvian "ES"). The countries are those of
  Europe (every country with a city in the gazetteer) and the EU. A language names a country
  when it is official in no other European country ("portugués") or that country is CLDR's
  likely territory of the language ("français": France, not Belgium).
- Cities: `cities.tsv`, built from GeoNames (CC BY 4.0) and CLDR by `bench/gazetteer.py`: the
  EU and EFTA cities of 100 000 inhabitants or more (30 000 in the partner countries) and
  Europe's capitals, each with its exonyms (Bryssel, Bruselas, Brisele, Varsovie, Gotemburgo).

Matching is language-aware and treats names as proper nouns:

- a name written with a capital in the data (every city and country name) matches only a word
  written with a capital in the text: Swedish "Island" (Iceland) is not English "island";
  CLDR's lower-case language names (Swedish "lettiska", French "suédois") match in any case;
  stop words of the five languages (`index/lang/<code>.json`) never name a place;
- a name of one language is compared through that language's stemmer (Snowball; the Latvian
  noun endings of `index/lang/lv.json`), so inflected forms match: "Spānijas", "lettiska",
  "espagnole", "Göteborgs" (a word shorter than the name by more than a letter is not one of
  its forms: French "islandais" stems to "island", which English writes for something else);
  the untagged names of GeoNames through the Latvian and Swedish
  rules, the two languages that inflect place names ("Parīzē", "Briselē", "Gēteborgā" are
  Parīze, Brisele, Gēteborga);
- all comparisons are made without diacritics ("Goteborg" = "Göteborg").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sihub.index import lexical as lexmod

from .terms import fold

LANGS = ("sv", "lv", "fr", "es", "en")
# Languages whose rules inflect untagged place names (Latvian cases, the Swedish genitive).
_INFLECTING = ("lv", "sv")
_WORD = re.compile(r"\w+", re.UNICODE)
_DATA = Path(__file__).with_name("cities.tsv")
EU = "EU"


@dataclass(frozen=True)
class _Name:
    key: str
    """Country code or city key (the city's main name in the gazetteer)."""
    words: tuple[str, ...]
    """Folded words of the name; the last one is compared by `stem` when the name has a language."""
    langs: tuple[str, ...]
    """Languages whose stemmer compares the last word (none: exact folded words only)."""
    cased: bool
    """The name is a proper noun: the text must write its first word with a capital."""
    initials: bool = False
    """An acronym ("EU"): the text must write it in capitals."""


# Function words of every language: a capitalised one opens a sentence, it names nothing
# (Latvian "Kāds" is not a spelling of Cádiz).
_FUNCTION_WORDS = lexmod.all_stop_words()


@lru_cache(maxsize=100_000)
def _stem(word: str, lang: str) -> str:
    """The folded stem of a lower-case word of a place name in `lang` (`lexical.stem_noun`: the
    noun endings of the language's file, where it lists them, as Latvian does)."""
    return fold(lexmod.stem_noun(word, lang))


def _keys(word: str, langs: tuple[str, ...]) -> set[tuple[str, str]]:
    low = word.lower()
    out = {("", fold(low))}
    out |= {(lang, _stem(low, lang)) for lang in langs}
    return out


@lru_cache(maxsize=1)
def _gazetteer() -> tuple[dict[str, str], dict[str, list[str]]]:
    """City key -> country code, and city key -> its names, from `cities.tsv`."""
    country: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        _gid, code, main, alts = line.split("\t")
        country[main] = code
        names[main] = alts.split("|")
    return country, names


def _country_names() -> list[tuple[str, str, str]]:
    """(code, name, language) for every European country and the EU, from CLDR."""
    from babel import Locale
    from babel.core import get_global
    from babel.languages import get_official_languages

    codes = sorted(set(_gazetteer()[0].values()))
    likely = get_global("likely_subtags")
    official: dict[str, list[str]] = defaultdict(list)  # language -> European countries
    for code in codes:
        for spoken in get_official_languages(code):
            if "_" not in spoken:
                official[spoken].append(code)
    home: dict[str, list[str]] = defaultdict(list)  # country -> languages named after it
    for spoken, where in official.items():
        territory = str(likely.get(spoken, "")).split("_")[-1]
        if len(where) == 1 or territory in where:
            home[where[0] if len(where) == 1 else territory].append(spoken)
    out = []
    for lang in LANGS:
        loc = Locale(lang)
        for code in codes:
            if code in loc.territories:
                out.append((code, loc.territories[code], lang))
            for spoken in home.get(code, ()):
                if spoken in loc.languages:
                    out.append((code, loc.languages[spoken], lang))
        for region in ("EU", "150"):  # the European Union; Europe
            out.append((EU, loc.territories[region], lang))
    return out


@lru_cache(maxsize=2)
def _table(kind: str) -> tuple[dict[tuple[str, str], list[_Name]], dict[str, list[_Name]]]:
    """Single-word names by (language or "", folded stem or word); longer names by first word."""
    entries: list[_Name] = []
    if kind == "country":
        for code, name, lang in _country_names():
            words = tuple(fold(w) for w in _WORD.findall(name))
            if not words:
                continue
            cased = name[:1].isupper()
            entries.append(_Name(code, words, (lang,), cased))
            if code == EU and len(words) > 1 and all(w[:1].isupper() for w in name.split()):
                initials = "".join(w[0] for w in words)
                entries.append(_Name(code, (initials,), (), True, initials=True))
    else:
        for key, names in _gazetteer()[1].items():
            for name in names:
                words = tuple(fold(w) for w in _WORD.findall(name))
                if words:
                    entries.append(_Name(key, words, _INFLECTING, True))
    single: dict[tuple[str, str], list[_Name]] = defaultdict(list)
    multi: dict[str, list[_Name]] = defaultdict(list)
    for e in entries:
        if len(e.words) == 1:
            for k in _keys(e.words[0], e.langs):
                single[k].append(e)
        else:
            multi[e.words[0]].append(e)
    return dict(single), dict(multi)


@lru_cache(maxsize=3)
def _openings_by_key(kind: str) -> dict[str, frozenset[str]]:
    """Per country or city key, the first three letters (folded) of the first word of each of its
    names: a word that begins otherwise cannot name it, in any inflected form (inflections change
    endings), so `_find` need not stem it."""
    single, multi = _table(kind)
    out: dict[str, set[str]] = defaultdict(set)
    for entries in (*single.values(), *multi.values()):
        for e in entries:
            out[e.key].add(e.words[0][:3])
    return {k: frozenset(v) for k, v in out.items()}


def _openings(kind: str, keys: set[str]) -> frozenset[str]:
    """The openings (`_openings_by_key`) of the names of `keys`."""
    by_key = _openings_by_key(kind)
    return frozenset().union(*(by_key.get(k, frozenset()) for k in keys))


def _find(kind: str, text: str, keys: set[str] | None, cased: bool = True) -> dict[str, str]:
    if keys is not None and not keys:
        return {}
    single, multi = _table(kind)
    words = list(_WORD.finditer(text))
    folded = [fold(m.group()) for m in words]
    # Looking for given places in a long text (the passages of an answer): only the words that
    # begin as one of their names do are looked up.
    openings = _openings(kind, keys) if keys is not None else None
    found: dict[str, str] = {}

    def ok(e: _Name, raw: str) -> bool:
        if keys is not None and e.key not in keys:
            return False
        if e.initials:
            return raw.isupper()
        return not (cased and e.cased) or raw[:1].isupper()

    for i, m in enumerate(words):
        raw = m.group()
        if openings is not None and folded[i][:3] not in openings:
            continue
        if raw.lower() in _FUNCTION_WORDS:
            continue
        for e in multi.get(folded[i], ()):
            n = len(e.words)
            if e.key in found or not ok(e, raw) or tuple(folded[i : i + n - 1]) != e.words[:-1]:
                continue
            if i + n - 1 < len(words) and _keys(words[i + n - 1].group(), e.langs) & _keys(e.words[-1], e.langs):
                found[e.key] = text[m.start() : words[i + n - 1].end()]
        for k in _keys(raw, LANGS):
            for e in single.get(k, ()):
                if e.key in found or not ok(e, raw):
                    continue
                if k[0] and (k[0] not in e.langs or len(raw) < len(e.words[0]) - 1):
                    continue  # a stem compares in the name's own languages, for its inflected forms
                found[e.key] = raw
    return found


def mentions(text: str, codes: set[str] | None = None) -> dict[str, str]:
    """Countries `text` names, as {code: the word or phrase that names it} (only `codes` when given)."""
    return _find("country", text, codes)


def cities(text: str, names: set[str] | None = None, cased: bool = True) -> dict[str, str]:
    """Cities of the gazetteer that `text` names, as {city key: the word or phrase that names it}.
    `cased=False` reads a word already known to be a name (a question's lower-cased name terms)."""
    return _find("city", text, names, cased)


def city_names(key: str) -> list[str]:
    """Every name of a city of the gazetteer (its main name first)."""
    return list(_gazetteer()[1].get(key, []))


def city_country(key: str) -> str | None:
    """The country code of a city of the gazetteer."""
    return _gazetteer()[0].get(key)
