"""Lexical analysis shared by indexing and querying (FTS5 then does case and diacritic folding).

Words are lower-cased and reduced to a stem in the language of the passage (or of the
question): Snowball stemmers for Swedish, French, Spanish and English, and for Latvian, which
has no Snowball stemmer, stripping of its inflection endings (nouns, adjectives and the usual
verb forms), which measured better than whole words or fixed-length prefixes. Words in other
or unknown languages, numbers and words with digits (codes like VP/2020/010) stay as written.

Stop words are dropped from questions only: they cost nothing in the stored text but make an
OR query match everything.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

ANALYZER_VERSION = "stem-2"
_TOKEN = re.compile(r"\w+", re.UNICODE)

_SNOWBALL = {"sv": "swedish", "fr": "french", "es": "spanish", "en": "english"}
_local = threading.local()

# Latvian inflection endings (noun and adjective cases, definite adjectives, infinitives,
# present, past and future verb forms, participles); the longest that leaves 3 letters is stripped.
_LV_ENDINGS = sorted(
    set(
        """
        ajiem ajām ajai ajam ajos ajās iem ām ēm īm ūm os ās ēs īs us as es is ai am ei ij ie ī ā ē
        u a e i o s š ais ajā ajo ajs ojai ojam ojos ošs oša ošā ošo ošu ošie ošās ties ēties īties
        oties āties ot āt ēt īt ut t ja jā jām jāt sim siet šu si sies tos ts ta tu tā tās ti tie
        dams dama damies jis jusi ušas ušie ušo ušu ušā ušai ušam ams ama amais amā amo āms āma ēts
        ēta īts īta
        """.split()
    ),
    key=len,
    reverse=True,
)

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "a an the of and or to in on at by for with from as is are was were be been being do does did has have had "
        "it its this that these those there what which who whom whose how when where why can could would should "
        "will shall may might must i you he she we they me my your our their about into than then so not no any "
        "some all".split()
    ),
    "sv": frozenset(
        "och att det som är en ett den de för med på av till i om vad vilka vilken vilket hur när var varför "
        "finns har hade kan kunde ska skulle vill inte så sig sin sitt sina man du jag vi ni han hon de dem "
        "denna detta dessa där eller men från efter under över vid blir blev bli varit vara".split()
    ),
    "fr": frozenset(
        "le la les l un une des du de d et ou à au aux en dans par pour sur avec sans est sont été être a ont "
        "avait que qu qui quoi quel quelle quels quelles comment où quand pourquoi combien ce cet cette ces "
        "il elle ils elles on nous vous je tu se sa son ses leur leurs ne pas plus y".split()
    ),
    "es": frozenset(
        "el la los las lo un una unos unas de del y o a al en por para con sin es son fue fueron ser está están "
        "ha han había que qué quien quién quienes cual cuál cuáles como cómo donde dónde cuando cuándo cuanto "
        "cuánto cuántos cuántas porque por qué se su sus le les este esta estos estas ese esa eso no sí más".split()
    ),
    "lv": frozenset(
        "un ir bija būs kā kas ko kam ar par uz no pie pēc līdz vai ka lai bet jo tā tas tie tās to šis šī šie "
        "kur kad cik kāds kāda kādi kādas kuri kura kurš kuras kurā kuru tiek tika tiks var varēja savu savā "
        "arī vēl tikai ne nav".split()
    ),
}


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _stemmer(lang: str):  # noqa: ANN202 - PyStemmer object
    """A Snowball stemmer for `lang`, one per thread (PyStemmer objects are not thread-safe)."""
    cache = getattr(_local, "stemmers", None)
    if cache is None:
        cache = _local.stemmers = {}
    if lang not in cache:
        import Stemmer

        cache[lang] = Stemmer.Stemmer(_SNOWBALL[lang])
    return cache[lang]


@lru_cache(maxsize=200_000)
def stem_lv(word: str) -> str:
    """Latvian light stemmer: strip the longest inflection ending that leaves 3+ letters."""
    if len(word) <= 3:
        return word
    for end in _LV_ENDINGS:
        if word.endswith(end) and len(word) - len(end) >= 3:
            return word[: -len(end)]
    return word


def stem_all(words: list[str], lang: str) -> list[str]:
    """Stems of lower-cased words in `lang`; words with digits and other languages unchanged."""
    if lang in _SNOWBALL:
        stemmer = _stemmer(lang)
        return [w if _has_digit(w) else stemmer.stemWord(w) for w in words]
    if lang == "lv":
        return [w if _has_digit(w) else stem_lv(w) for w in words]
    return words


def _has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def analyze(text: str, lang: str = "und") -> str:
    """The text stored in the FTS5 column for a chunk."""
    return " ".join(stem_all(tokens(text), lang))


def query_terms(text: str, lang: str = "und") -> list[str]:
    """Distinct stems of a question's content words, in order of appearance."""
    words = tokens(text)
    stop = STOPWORDS.get(lang, frozenset())
    content = [w for w in words if w not in stop] or words
    return list(dict.fromkeys(stem_all(content, lang)))


def match_query(text: str, lang: str = "und") -> str | None:
    """An FTS5 MATCH expression (OR of quoted terms) safe for any user input; None if empty."""
    terms = query_terms(text, lang)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:64])
