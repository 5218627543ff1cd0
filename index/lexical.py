"""Lexical analysis shared by indexing and querying (FTS5 then does case and diacritic folding).

Words are lower-cased and reduced to a stem in the language of the passage (or of the
question): Snowball stemmers for Swedish, French, Spanish and English, and for Latvian, which
has no Snowball stemmer, stripping of its inflection endings (nouns, adjectives and the usual
verb forms), which measured better than whole words or fixed-length prefixes. Words in other
or unknown languages, numbers and words with digits (codes like VP/2020/010) stay as written.

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

import re
import threading
import unicodedata
from functools import lru_cache

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
CODE_MIN = 6
"""Letters and digits an identifier needs to count as a code (`identifiers(codes_only=True)`):
on the public dev sets' questions, shorter ones are match scores and times ("1-0", "5:30pm")."""
"""Prefix of the whole-identifier token ("VP/2020/010" -> "idxvp2020010")."""

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


def words(text: str) -> list[str]:
    """The words of `text` as written (runs of letters and digits): the one tokenizer of the
    lexical index and of the answer stage's word overlap (`assistant/terms.py`)."""
    return _TOKEN.findall(text)


def tokens(text: str) -> list[str]:
    """The words of `text`, lower-cased."""
    return [t.lower() for t in _TOKEN.findall(text)]


def fold(word: str) -> str:
    """Lower case without diacritics, as FTS5 (unicode61, remove_diacritics 2) compares words:
    "Déploiement" -> "deploiement", "Rīga" -> "riga"."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


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
    """The text stored in the FTS5 column for a chunk: its words' stems, then its identifiers whole."""
    return " ".join([*stem_all(tokens(text), lang), *identifiers(text)])


def query_terms(text: str, lang: str = "und") -> list[str]:
    """The question's identifiers whole, then the distinct stems of its content words, in order
    of appearance."""
    words = tokens(text)
    stop = STOPWORDS.get(lang, frozenset())
    content = [w for w in words if w not in stop] or words
    return list(dict.fromkeys([*identifiers(text), *stem_all(content, lang)]))


def match_query(text: str, lang: str = "und") -> str | None:
    """An FTS5 MATCH expression (OR of quoted terms) safe for any user input; None if empty."""
    terms = query_terms(text, lang)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:64])
