"""Lexical analysis shared by indexing and querying (FTS5 then does case and diacritic folding).

Words are lower-cased and reduced to a stem in the language of the passage (or of the
question). What the analyzer knows of a language is data, one file per language
(`lang/<code>.json`): its stemmer, a Snowball one (PyStemmer) or, where Snowball has none
(Latvian), a list of inflection endings to strip (nouns, adjectives and the usual verb forms;
this measured better than whole words or fixed-length prefixes), and its stop words, each list
with its source. The lexical search and the answer stage (`assistant/terms.py`) read the same
files; a part of a stop-word list marked `"only": "search"` or `"only": "answers"` is read by
that one alone (each kept the words it was measured with). Adding a language is adding a
file. Words in languages without a file, numbers and words with digits (codes like VP/2020/010)
stay as written. A change to a stemmer changes the stored text: it needs a new
`ANALYZER_VERSION`.

Identifiers (programme and grant codes such as 2022-1-XX01-KA220-ADU-000012345 or VP/2020/010,
law numbers, dates written with separators, e-mail addresses and web addresses) are indexed in
pieces, as every word is, and besides as one whole token (`identifiers`): a question that quotes
the code matches that token, which is as rare as the code, instead of pieces that each stand in
many passages. The whole token is the pieces joined behind a marker prefix (`ID_MARK`), so it is
one word for the FTS5 tokenizer and never equals an ordinary word or number.

Stop words are dropped from questions only: they cost nothing in the stored text but make an
OR query match everything.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from sihub.errors import SihubError

ANALYZER_VERSION = "stem-3-ids"
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Candidates for an identifier: a web address, or word pieces joined by - / . @ : _ + (no spaces).
# Pieces are letters and digits (possessive, and a piece starts at a word boundary), so a long
# run of word characters is scanned once: with `\w+` pieces that may also hold the "_" separator,
# a 45,000-letter word took minutes (each start backtracked over the rest of the word).
_IDENT = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+|\b[^\W_]++(?:[-/.@:_+][^\W_]++)+", re.UNICODE)
# A number with a decimal or thousands separator ("1.5", "12,000") is a number, not an identifier.
_DECIMAL = re.compile(r"\d+[.,]\d+")
# A date or a period in figures: 15.03.2022, 2022-03-15, 03/2022, 2024-2026, 2021/22.
_DATE = re.compile(
    r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|(?:19|20)\d\d[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-](?:19|20)\d\d"
    r"|(?:19|20)\d\d[-–/](?:(?:19|20)?\d\d)|\d{1,2}[:.]\d\d(?:[ap]m)?"
)
ID_MARK = "idx"
"""Prefix of the whole-identifier token ("VP/2020/010" -> "idxvp2020010")."""
CODE_MIN = 6
"""Letters and digits an identifier needs to count as a code (`identifiers(codes_only=True)`):
on the public dev sets' questions, shorter ones are match scores and times ("1-0", "5:30pm")."""

_local = threading.local()

# What the analyzer knows of each language, one data file per language (`lang/<code>.json`):
# its stemmer and its stop words. Adding a language is adding a file.
LANG_DIR = Path(__file__).with_name("lang")


@dataclass(frozen=True)
class Language:
    """The lexical knowledge of one language, read from `lang/<code>.json`."""

    code: str
    snowball: str | None
    """The Snowball stemmer's name in PyStemmer ("swedish"), or None."""
    endings: tuple[str, ...]
    """Inflection endings stripped where Snowball has no stemmer, longest first."""
    noun_endings: tuple[str, ...]
    """The case endings of nouns alone, longest first, for proper nouns (`stem_noun`); none:
    nouns are stemmed as every word."""
    min_stem: int
    """Letters an ending must leave."""
    stop_words: frozenset[str]
    """Words dropped from questions by the lexical search (function and question words)."""
    answer_stop_words: frozenset[str]
    """Words the answer stage's term overlap ignores (`assistant/terms.py`)."""


@cache
def languages() -> tuple[str, ...]:
    """The codes of the languages the analyzer knows (one data file each)."""
    return tuple(sorted(f.stem for f in LANG_DIR.glob("*.json")))


@cache
def language(lang: str) -> Language | None:
    """What the analyzer knows of `lang` (read once), or None for a language it does not know."""
    if lang not in languages():
        return None
    path = LANG_DIR / f"{lang}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stemmer = data.get("stemmer", {})
        return Language(
            code=lang,
            snowball=stemmer.get("snowball"),
            endings=tuple(sorted(stemmer.get("endings", []), key=len, reverse=True)),
            noun_endings=tuple(sorted(stemmer.get("noun_endings", []), key=len, reverse=True)),
            min_stem=int(stemmer.get("min_stem", 3)),
            stop_words=_words(data, "search"),
            answer_stop_words=_words(data, "answers"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise SihubError(f"{path}: not a language file of the analyzer ({type(e).__name__}: {e})") from e


def _words(data: dict, reader: str) -> frozenset[str]:
    """The stop words of a language file that `reader` ("search" or "answers") uses: every part
    of its list, but a part marked `"only"` for the other reader."""
    parts = data.get("stop_words", [])
    return frozenset(w.lower() for part in parts if part.get("only", reader) == reader for w in part["words"])


def stop_words(lang: str) -> frozenset[str]:
    """The stop words of `lang` (none for a language the analyzer does not know)."""
    spec = language(lang)
    return spec.stop_words if spec else frozenset()


@cache
def all_stop_words() -> frozenset[str]:
    """The stop words of every language the analyzer knows: what a language-blind reader (a
    capitalised word that opens a sentence) treats as no topic."""
    return frozenset().union(*(stop_words(lang) for lang in languages()))


@cache
def answer_stop_words() -> frozenset[str]:
    """The words of every language that the answer stage's term overlap ignores (it reads
    sentences without knowing their language)."""
    return frozenset().union(*(spec.answer_stop_words for lang in languages() if (spec := language(lang))))


def words(text: str) -> list[str]:
    """The words of `text` as written (runs of letters and digits): the one tokenizer of the
    lexical index and of the answer stage's word overlap (`assistant/terms.py`)."""
    return _TOKEN.findall(text)


def tokens(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return [t.lower() for t in _TOKEN.findall(text)]


class _Marks(dict):
    """`str.translate` table that drops combining marks (`unicodedata.combining`) and keeps every
    other character, filled in as characters are met (a text holds few distinct ones)."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_MARKS = _Marks()


def fold(word: str) -> str:
    """Lower case without diacritics, as FTS5 (unicode61, remove_diacritics 2) compares words:
    "Déploiement" -> "deploiement", "Rīga" -> "riga". (Plain ASCII is its own decomposition; the
    marks go in one `str.translate`: the answer stage folds whole sentences.)"""
    low = word.lower()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    return decomposed if decomposed.isascii() else decomposed.translate(_MARKS)


def identifiers(text: str, codes_only: bool = False) -> list[str]:
    """The whole-identifier tokens of `text`, in order, without repeats: every run of two or more
    word pieces joined by separators (no spaces) that holds a digit or an "@", and every web
    address ("https://…", "www.…"; trailing punctuation dropped), as pieces joined after `ID_MARK`.
    Words joined by hyphens alone ("cross-sector") are not identifiers. With `codes_only`, dates
    and periods written in figures ("15.03.2022", "2024-2026"), clock times and identifiers of
    fewer than `CODE_MIN` letters and digits (a score "2-1") are left out: they are indexed whole,
    but many passages hold the same, so they identify nothing."""
    out: list[str] = []
    for m in _IDENT.finditer(text):
        raw = m.group().rstrip(".,;:!?")
        if codes_only and _DATE.fullmatch(raw):
            continue
        web = raw.lower().startswith(("http://", "https://", "www."))
        if not (web or "@" in raw or any(ch.isdigit() for ch in raw)):
            continue
        if _DECIMAL.fullmatch(raw):
            continue
        if web:  # the whole address, and its host alone ("www.avise.org")
            address = re.sub(r"^https?://", "", raw, flags=re.IGNORECASE)
            host = address.split("/", 1)[0]
            parts = [address, host] if host != address else [address]
        else:
            parts = [raw]
        for part in parts:
            pieces = [t.lower() for t in _TOKEN.findall(part)]
            if len(pieces) >= 2 and not (codes_only and len("".join(pieces)) < CODE_MIN):
                out.append(ID_MARK + "".join(pieces))
    return list(dict.fromkeys(out))


def _stemmer(name: str):  # noqa: ANN202 - PyStemmer object
    """The Snowball stemmer `name`, one per thread (PyStemmer objects are not thread-safe)."""
    cache = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    if name not in cache:
        import Stemmer

        cache[name] = Stemmer.Stemmer(name)
    return cache[name]


@lru_cache(maxsize=200_000)
def strip_ending(word: str, lang: str, nouns: bool = False) -> str:
    """A light stemmer for a language without a Snowball one: strip the longest inflection
    ending of `lang` (with `nouns`, noun ending) that leaves `min_stem` letters or more."""
    spec = language(lang)
    if spec is None or len(word) <= spec.min_stem:
        return word
    for end in spec.noun_endings if nouns else spec.endings:
        if word.endswith(end) and len(word) - len(end) >= spec.min_stem:
            return word[: -len(end)]
    return word


def stem_all(words: list[str], lang: str) -> list[str]:
    """Stems of lower-cased words in `lang`; words with digits and other languages unchanged."""
    spec = language(lang)
    if spec is None:
        return words
    if spec.snowball:
        stemmer = _stemmer(spec.snowball)
        return [w if _has_digit(w) else stemmer.stemWord(w) for w in words]
    if spec.endings:
        return [w if _has_digit(w) else strip_ending(w, lang) for w in words]
    return words


def stem_noun(word: str, lang: str) -> str:
    """The stem of a lower-cased proper noun (a place name) in `lang`: its noun ending stripped
    where the language file lists noun endings (a name is a noun, and the general endings' verb
    forms would cut it short), else its stem as any word's."""
    spec = language(lang)
    if spec is not None and spec.noun_endings:
        return strip_ending(word, lang, nouns=True)
    return stem_all([word], lang)[0]


def _has_digit(word: str) -> bool:
    return not word.isalpha() and any(ch.isdigit() for ch in word)  # (letters are never digits)


def analyze(text: str, lang: str = "und") -> str:
    """The text stored in the FTS5 column for a chunk: its words' stems, then its identifiers whole."""
    return " ".join([*stem_all(tokens(text), lang), *identifiers(text)])


def query_terms(text: str, lang: str = "und") -> list[str]:
    """The question's identifiers whole, then the distinct stems of its content words, in order
    of appearance."""
    words = tokens(text)
    stop = stop_words(lang)
    content = [w for w in words if w not in stop] or words
    return list(dict.fromkeys([*identifiers(text), *stem_all(content, lang)]))


def match_query(text: str, lang: str = "und") -> str | None:
    """An FTS5 MATCH expression (OR of quoted terms) safe for any user input; None if empty."""
    terms = query_terms(text, lang)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:64])
