"""Retrieval: turn a question into ranked Hits from the index.

`retrieve` ranks chunks (dense, lexical or hybrid, inside the filters); `search` is what
people see: the same ranking, then at most a few passages per document, and neighbouring
chunks of one passage shown as one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sihub.errors import SihubError
from sihub.index import lexical as lexmod
from sihub.index.backend import IndexBackend
from sihub.index.embedder import Embedder
from sihub.index.store import fts_token
from sihub.types import Hit

from . import places, terms
from .fusion import Candidates, FusionParams, fuse
from .lexicon import Lexicon
from .pages import prefer_fact_pages, prefer_sentence_pages
from .query import Query, country_mentions, name_terms
from .quote_cache import QuoteVectors
from .spans import merge_adjacent

MODES = ("hybrid", "dense", "lexical")
DEFAULT_FUSION = FusionParams()
# Least share and number of the index's passages in the question's language for
# `unknown_words` to count.
UNKNOWN_MIN_SHARE = 0.05
UNKNOWN_MIN_PASSAGES = 20
# Chunks each other language's lexical search with the question's translated words adds to
# the candidates (`lexicon.py`).
TRANSLATED_POOL = 30


def retrieve(
    index: IndexBackend,
    embedder: Embedder,
    query: Query,
    k: int = 10,
    mode: str = "hybrid",
    params: FusionParams | None = None,
    pool: int = 100,
    lexicon: Lexicon | None = None,
    vectors: QuoteVectors | None = None,
) -> list[Hit]:
    """The top `k` chunks for a query, best first, every Hit carrying its dense and lexical score.

    Filters restrict both searches before their top lists are cut. In hybrid mode the top
    `pool` chunks of each list become candidates and each candidate gets both scores; with a
    `lexicon` (the Assistant's), the question's words translated into the index's other
    languages add a lexical search in each; with `vectors` (the Assistant's sentence vectors),
    each document is led by its passage whose sentence is nearest the question (`pages.py`).
    """
    if mode not in MODES:
        raise SihubError(f"unknown search mode {mode!r} (use one of {', '.join(MODES)})")
    if not query.text.strip() or k <= 0:
        return []
    allowed = index.chunk_ids_where(query.filters) if query.filters else None
    if allowed is not None and len(allowed) == 0:
        return []
    if mode == "lexical":
        scored = index.search_lexical(query.lexical, k, query.lang, allowed)
        hits = index.hits_for(scored)
        for h in hits:
            h.lexical = h.score
        return hits
    params = params or DEFAULT_FUSION
    use = mode == "hybrid" and params.translated and lexicon is not None
    # The question's words the lexicon has no vector for go to the model in the question's call
    # (each call reads all of the model's weights once) where that gives each text the vector
    # it gets alone (`Embedder.exact_batches`).
    words = lexicon.pending(embedder, query.lexical, query.lang) if use and lexicon is not None else {}
    new = [w for w, v in words.items() if v is None] if getattr(embedder, "exact_batches", False) else []
    vecs = embedder.embed_queries([query.text, *new])
    qvec = vecs[0]
    if mode == "dense":
        hits = index.hits_for(index.search_dense(qvec, k, allowed))
        for h in hits:
            h.dense = h.score
        return hits
    given = {w: v for w, v in words.items() if v is not None} | dict(zip(new, vecs[1:], strict=True))
    translated = lexicon.translate(embedder, query.lexical, query.lang, given) if use and lexicon is not None else {}
    return _hybrid(index, qvec, query, k, params, max(pool, k), allowed, translated, embedder, vectors)


def _hybrid(
    index: IndexBackend,
    qvec: np.ndarray,
    query: Query,
    k: int,
    params: FusionParams,
    pool: int,
    allowed: np.ndarray | None,
    translated: dict[str, dict[str, str]] | None = None,
    embedder: Embedder | None = None,
    vectors: QuoteVectors | None = None,
) -> list[Hit]:
    dense = dict(index.search_dense(qvec, pool, allowed))
    lexical = dict(index.search_lexical(query.lexical, pool, query.lang, allowed))
    # The question in each other language: its translated words, with its names and codes.
    anchors = name_terms(query.text)
    names = anchors if params.names or params.place else []
    other_texts = {
        lang: " ".join([*dict.fromkeys(words.values()), *anchors]) for lang, words in (translated or {}).items()
    }
    other_found = {
        lang: dict(index.search_lexical(text, TRANSLATED_POOL, lang, allowed)) for lang, text in other_texts.items()
    }
    forms_by_name: dict[str, set[str]] = {}
    rarity: dict[str, float] = {}
    name_ids: list[int] = []
    if names:
        langs = sorted(index.language_shares())
        forms_by_name = {t: name_forms(t, langs) for t in names}
        found, df = index.search_terms(sorted(set().union(*forms_by_name.values())), pool)
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        name_ids = [i for i, _ in found if allowed_set is None or i in allowed_set]
        for t, forms in forms_by_name.items():
            rarity[t] = _rarity(sum(df.get(f, 0) for f in forms), index.size)
    # Identifiers the question quotes whole (codes, law numbers, addresses): the passages that
    # hold them are candidates whatever else they say.
    idents = lexmod.identifiers(query.lexical, codes_only=True) if params.identifier else []
    ident_rarity: dict[str, float] = {}
    ident_ids: list[int] = []
    if idents:
        found, df = index.search_terms(idents, pool)
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        ident_ids = [i for i, _ in found if allowed_set is None or i in allowed_set]
        ident_rarity = {t: _rarity(df.get(t, 0), index.size) for t in idents if df.get(t, 0)}
    ids = list(
        dict.fromkeys([*dense, *lexical, *name_ids, *ident_ids, *(i for found in other_found.values() for i in found)])
    )
    if not ids:
        return []
    only_lexical = [i for i in ids if i not in dense]
    if only_lexical:
        vecs = index.vectors_by_id(only_lexical)
        for i, v in vecs.items():
            dense[i] = float(np.dot(v, qvec))
    only_dense = [i for i in ids if i not in lexical]
    if only_dense and lexical:
        lexical.update(index.lexical_scores(query.lexical, query.lang, only_dense))
    hits = index.hits_for([(i, 0.0) for i in ids if i in dense])
    # Which of the question's names (in every form) and identifiers each hit holds, read once
    # from the index's analysed text for the name, place and identifier scores.
    sought = {fts_token(f) for fs in forms_by_name.values() for f in fs} | {fts_token(t) for t in ident_rarity}
    held = _held_terms(index, hits, sought) if sought else {}
    bias = params.lang_center * language_bias(index, qvec, hits, params)
    cands = Candidates(
        ids=np.array([h.chunk.id for h in hits], dtype=np.int64),
        dense=np.array([dense[h.chunk.id] for h in hits]) - bias,
        lexical=np.array([lexical.get(h.chunk.id, 0.0) for h in hits]),
        langs=[h.chunk.lang for h in hits],
        names=_name_scores(hits, held, forms_by_name, rarity) if forms_by_name else None,
        place=_place_scores(hits, held, forms_by_name, rarity, params.place_doc)
        if forms_by_name and params.place
        else None,
        country=_country_flags(query.text, hits) if params.country else None,
        translated=_translated_scores(index, hits, other_texts, other_found) if other_texts else None,
        identifiers=_identifier_scores(hits, held, ident_rarity) if ident_rarity else None,
    )
    share = index.language_shares().get(query.lang, 0.0) if query.lang not in ("", "und") else 1.0
    scores = fuse(cands, query.lang, params, lang_share=share)
    if vectors is not None and embedder is not None:
        scores = prefer_sentence_pages(hits, scores, qvec, bias, embedder, vectors, params)
    scores = prefer_fact_pages(hits, scores, query.text, params)
    for h, s in zip(hits, scores, strict=False):
        h.score = float(s)
        h.dense = dense[h.chunk.id]
        h.lexical = lexical.get(h.chunk.id, 0.0)
    order = np.argsort(-scores, kind="stable")[:k]
    return [hits[i] for i in order]


def _translated_scores(
    index: IndexBackend, hits: list[Hit], texts: dict[str, str], found: dict[str, dict[int, float]]
) -> np.ndarray:
    """Per hit: the BM25 of the question's words translated into the hit's language (`texts`),
    relative to the best hit of that language (0..1); 0 for languages without translations."""
    raw = np.zeros(len(hits))
    for lang, text in texts.items():
        rows = [i for i, h in enumerate(hits) if h.chunk.lang == lang]
        missing = [hits[i].chunk.id for i in rows if hits[i].chunk.id not in found[lang]]
        scores = {**found[lang], **(index.lexical_scores(text, lang, missing) if missing else {})}
        for i in rows:
            raw[i] = max(0.0, scores.get(hits[i].chunk.id, 0.0))
        best = max((raw[i] for i in rows), default=0.0)
        if best > 0:
            raw[rows] /= best
    return raw


def name_forms(word: str, langs: list[str]) -> set[str]:
    """The analysed forms (as the lexical index stores words) of a name in each language, and,
    for a city, of its names in the other languages ("Gēteborgā" -> "gothenburg", "göteborg")."""
    t = word.lower()
    forms = {t, *(lexmod.stem_all([t], lang)[0] for lang in langs)}
    for alias in (
        a.lower() for city in places.cities(word, cased=False) for a in places.city_names(city) if " " not in a
    ):
        forms |= {alias, *(lexmod.stem_all([alias], lang)[0] for lang in langs)}
    return forms


# Passages whose analysed words `analysed_words` remembers: about 8 kB each (a passage's stems),
# so ~16 MB at the most; 50,000 would let a server's memory grow by ~400 MB (bench/RESULTS.md,
# issue 22). A question checks a few dozen passages.
ANALYSED_REMEMBERED = 2_048


@lru_cache(maxsize=ANALYSED_REMEMBERED)
def analysed_words(text: str, lang: str) -> frozenset[str]:
    """The words of `text` as the lexical index stores them (stemmed in `lang`, folded), to
    compare with `name_forms` folded the same way (remembered: the same passages come back
    question after question, to the search's name bonus and to the answer's checks)."""
    return frozenset(fts_token(t) for t in lexmod.analyze(text, lang).split())


def named_in_documents(index: IndexBackend, words: list[str], paths: set[str], limit: int = 500) -> set[str]:
    """Those of `words` that some passage of the documents `paths` contains (in any form of
    `name_forms`): a name the answer's passages lack may stand elsewhere in their documents."""
    return {w for w, holders in documents_naming(index, words, paths, limit).items() if holders is None or holders}


def documents_naming(
    index: IndexBackend, words: list[str], paths: set[str] | None = None, limit: int = 500
) -> dict[str, set[str] | None]:
    """For each of `words`, those of the documents `paths` (None: of the index) that name it in
    some passage (in any form of `name_forms`); None for a word more than `limit` passages hold,
    whose holders the `limit` best matches may not show (a name that common is named everywhere)."""
    langs = sorted(index.language_shares())
    out: dict[str, set[str] | None] = {}
    for w in words:
        found, counts = index.search_terms(sorted(name_forms(w, langs)), limit)
        if sum(counts.values()) > limit:
            out[w] = None
        else:
            held = {h.chunk.path for h in index.hits_for(found)} if found else set()
            out[w] = held if paths is None else held & paths
    return out


def city_documents(index: IndexBackend, question: str) -> frozenset[str]:
    """The documents of the index that name a city `question` names, in any language's form
    (`documents_naming`; a city too common to list its holders is left out). Empty when it
    names none."""
    cities = list(places.cities(question).values())
    if not cities:
        return frozenset()
    return frozenset().union(*(h for h in documents_naming(index, cities).values() if h))


def place_documents(naming: frozenset[str], hits: list[Hit]) -> frozenset[str]:
    """Of the documents of `hits`, those in `naming` (`city_documents`); empty when none or all
    of them are (then the city tells them apart no more)."""
    paths = {h.chunk.path for h in hits}
    held = naming & paths
    return frozenset(held) if held != paths else frozenset()


class TermCounts:
    """`IndexBackend.term_counts`, remembered for one question: the verdict's checks ask about
    overlapping sets of the question's words, and each lookup reads the index's vocabulary."""

    def __init__(self, index: IndexBackend) -> None:
        self.index = index
        self.known: dict[str, int] = {}

    def __call__(self, terms: list[str]) -> dict[str, int]:
        missing = [t for t in dict.fromkeys(terms) if t and t not in self.known]
        if missing:
            self.known.update(dict.fromkeys(missing, 0))
            self.known.update(self.index.term_counts(missing))
        return {t: self.known[t] for t in terms if t}


def unknown_words(
    index: IndexBackend, question: str, lang: str, counts: TermCounts | None = None
) -> tuple[list[str], int]:
    """The question's content words (4+ letters, no digits) that no passage of the index holds in
    any language's analysis, and how many content words it has.

    Words of a question about baking or football are mostly unknown to a social-innovation
    hub, however close the embedder finds its passages. Only counted when the index holds enough
    passages in the question's language for its vocabulary to tell (a handful of French passages
    among English ones know few French words).
    """
    shares = index.language_shares()
    words = [w for w in terms.content_words(question) if len(w) >= 4 and not any(ch.isdigit() for ch in w)]
    share = shares.get(lang, 0.0)
    if not words or share < UNKNOWN_MIN_SHARE or share * index.size < UNKNOWN_MIN_PASSAGES:
        return [], len(words)
    langs = sorted(shares)
    forms = {w: {fts_token(f) for f in name_forms(w, langs)} for w in words}
    held = (counts or index.term_counts)(sorted(set().union(*forms.values())))
    return [w for w in words if not any(held.get(f, 0) for f in forms[w])], len(words)


def language_bias(
    index: IndexBackend, qvec: np.ndarray, hits: list[Hit], params: FusionParams = DEFAULT_FUSION
) -> np.ndarray:
    """q·mean_L for each hit's language L (means shrunk towards the all-chunk mean); zeros when
    the index has one language or no means yet."""
    means = index.language_means() if params.lang_center else {}
    if len(means) < 2:
        return np.zeros(len(hits))
    total = sum(n for n, _ in means.values())
    overall = sum(n * m.astype(np.float64) for n, m in means.values()) / total
    m0 = params.center_prior
    bias = {
        lang: float(qvec @ ((n * m.astype(np.float64) + m0 * overall) / (n + m0))) for lang, (n, m) in means.items()
    }
    fallback = float(qvec @ overall)
    return np.array([bias.get(h.chunk.lang, fallback) for h in hits])


def _held_terms(index: IndexBackend, hits: list[Hit], terms: set[str]) -> dict[int, frozenset[str]]:
    """Per hit (by position): which of `terms` (folded as the lexical index stores words) it holds
    in its heading or text; read from the index's analysed text, analysed again only for a
    passage the index does not hold (one merged from neighbours has no id)."""
    stored = index.terms_in([h.chunk.id for h in hits if h.chunk.id is not None], terms)
    out: dict[int, frozenset[str]] = {}
    for i, h in enumerate(hits):
        if h.chunk.id is None:
            words = analysed_words(f"{h.chunk.heading}\n{h.chunk.text}", h.chunk.lang) & terms
        else:
            words = stored.get(h.chunk.id, ())
        if words:
            out[i] = frozenset(words)
    return out


def _name_scores(
    hits: list[Hit], held: dict[int, frozenset[str]], forms: dict[str, set[str]], rarity: dict[str, float]
) -> np.ndarray:
    """Per hit: the rarity-weighted share of the question's names and codes it contains (in its
    heading or text; `held`, from `_held_terms`)."""
    whole = max(1.0, sum(rarity.values()))
    folded = {t: {fts_token(f) for f in fs} for t, fs in forms.items()}
    out = np.zeros(len(hits))
    for i, words in held.items():
        out[i] = sum(rarity[t] for t, fs in folded.items() if words & fs) / whole
    return out


def _rarity(holders: int, total: int) -> float:
    """How rare a term is among `total` passages when `holders` hold it: 1 for one passage in a
    large index, 0 for a term every passage holds (and for one none holds)."""
    total = max(2, total)
    return float(np.clip(np.log(total / holders) / np.log(total), 0.0, 1.0)) if holders else 0.0


def _identifier_scores(hits: list[Hit], held: dict[int, frozenset[str]], rarity: dict[str, float]) -> np.ndarray:
    """Per hit: the rarity of the rarest of the question's whole identifiers that it holds (0 for none)."""
    folded = {fts_token(t): r for t, r in rarity.items()}
    out = np.zeros(len(hits))
    for i, words in held.items():
        out[i] = max((r for t, r in folded.items() if t in words), default=0.0)
    return out


def _place_scores(
    hits: list[Hit],
    held: dict[int, frozenset[str]],
    forms: dict[str, set[str]],
    rarity: dict[str, float],
    doc_share: float = 0.0,
) -> np.ndarray | None:
    """Per hit: the rarity (in any language's form) of the rarest city of the gazetteer that the
    question names (`places`) and the hit names too; None when the question names none. A city
    most passages name (the hub's own capital) tells little; one a single report names, a lot."""
    cities = [t for t in forms if places.cities(t, cased=False)]
    if not cities:
        return None
    folded = {t: {fts_token(f) for f in forms[t]} for t in cities}
    out = np.zeros(len(hits))
    for i, words in held.items():
        out[i] = max((rarity.get(t, 0.0) for t, fs in folded.items() if words & fs), default=0.0)
    if doc_share > 0:
        # A report names its city on its first page, not on the page with each figure: the
        # other candidates of a document that names it get `doc_share` of its score.
        by_doc: dict[str, float] = {}
        for i, h in enumerate(hits):
            by_doc[h.chunk.path] = max(by_doc.get(h.chunk.path, 0.0), out[i])
        out = np.maximum(out, doc_share * np.array([by_doc[h.chunk.path] for h in hits]))
    return out


def _country_flags(text: str, hits: list[Hit]) -> np.ndarray | None:
    """1.0 for hits from the one country the question names; None when it names none or several."""
    countries = [str((h.doc_meta or {}).get("country") or "").upper() for h in hits]
    named = country_mentions(text) & set(countries)
    if len(named) != 1:
        return None
    code = next(iter(named))
    return np.array([c == code for c in countries], dtype=np.float64)


def search(
    index: IndexBackend,
    embedder: Embedder,
    query: Query,
    k: int = 10,
    mode: str = "hybrid",
    per_document: int = 2,
    merge_neighbours: bool = True,
    lexicon: Lexicon | None = None,
) -> list[Hit]:
    """The top `k` passages as shown to people: ranked, diversified, neighbours merged."""
    return search_deeper(index, embedder, query, k, 0, mode, per_document, merge_neighbours, lexicon)[0]


def search_deeper(
    index: IndexBackend,
    embedder: Embedder,
    query: Query,
    k: int,
    deeper: int,
    mode: str = "hybrid",
    per_document: int = 2,
    merge_neighbours: bool = True,
    lexicon: Lexicon | None = None,
    vectors: QuoteVectors | None = None,
) -> tuple[list[Hit], list[Hit]]:
    """`search`'s top `k` passages, and the top `deeper` passages of the same ranking (no cap per
    document) from one search: the chunk ranking does not depend on how many are asked for (up
    to the `retrieve` pool of 100 candidates per list)."""
    depth = k * max(4, per_document * 2) if per_document else k
    ranked = retrieve(index, embedder, query, max(depth, deeper), mode, lexicon=lexicon, vectors=vectors)
    hits = ranked[:depth]
    if merge_neighbours:
        hits = merge_adjacent(hits)
    if per_document:
        hits = cap_per_document(hits, per_document)
    more = ranked[:deeper]
    if merge_neighbours:
        more = merge_adjacent(more)
    return hits[:k], more


def cap_per_document(hits: list[Hit], cap: int) -> list[Hit]:
    """Keep at most `cap` hits of any one document, in rank order (the rest move to the end).

    Moved hits stay available at the end so that a search inside one document (a `file`
    filter) still returns `k` passages.
    """
    kept: list[Hit] = []
    overflow: list[Hit] = []
    count: dict[str, int] = {}
    for h in hits:
        n = count.get(h.chunk.path, 0)
        (kept if n < cap else overflow).append(h)
        count[h.chunk.path] = n + 1
    return kept + overflow
