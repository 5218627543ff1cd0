"""The verdict: can the passages found answer the question? The one place that decides.

The evidence (`evidence.gather`, `ask.weigh`) scores the spans of the passages; the verdict turns
it into a handful of features, combines them with a logistic model and says found / not found,
with the reasons it can show the asker (the names, places or years no passage holds; the kind
of figure asked for that none gives).

The model's weights are not written by hand: `bench/answers.py --fit` fits them on labelled
cases and stores them, with how they were fitted, in `verdict.json` beside this file. The
cases come without writing questions: every gold question of the dev split and a sample of
the public question sets (XQuAD-R, SweQUAD-MC) is an answerable case with its source indexed,
and an unanswerable one with its source removed ("gold removal"); the gold set's own
unanswerable and off-topic questions add near misses and far misses.

Features (all cheap: computed from what the search and the evidence already hold):

- `sim`: the best span's cosine with the question (plain);
- `sim_adj`: the best span's cosine less its language's bias (`retrieve.language_bias`): e5
  rates spans in the question's own language higher for their language alone;
- `contrast`: the best span's cosine less the median span's (a real answer stands out);
- `lex`: the best share of the question's content terms in one span (translated terms count);
- `cover`: the best share, over the passages, of the question's words they hold, each word
  weighed by its rarity in the index (inverse document frequency; a word no passage of the index
  holds weighs most). In a passage in another language only the words that can stand there are
  counted: names, codes and numbers, and words with a translation (`lexicon.py`); with none of
  them, the share is unknown (None), and the model reads it as the average case;
- `cover_best`: the same share for the passage of the best span (None likewise);
- `rare_missing`: how many of the question's rarer words (rarer than the median of its words,
  so specific to what it asks) no passage holds;
- `margin`: how far the best span's score stands above the best span of any other document
  (one document that answers stands out; a topic many documents touch does not); None when
  every span comes from one document (a question asked within one country that has one
  report): there is nothing to stand out from, and no fitted case is of that kind;
- `dense_z`: how far the best passage's cosine stands above the others' found (in standard
  deviations): a passage that answers is an outlier, a topic many passages touch is not;
- `other_lang`: 1 when the best span is in another language than the question (shares of
  words are then read through translations, and count for less);
- `unknown`: the share of the question's content words that no passage of the index holds;
- `names_missing`: the share of the names and codes the question names (organisations,
  programmes, acronyms, numbers) that neither the passages nor their documents hold;
- `names_missing_best`: the same share for the best span's document alone (None when the
  question names none): an answer about one organisation's contract drawn from another's
  report holds the name somewhere among the passages, but not where the answer comes from;
- `kind_best`: for a question asking for an amount, a date, a rating, a length of time or a count (`kinds.py`),
  1 when the best span gives one and 0 when it does not (None, read as the average case, for
  other questions): the veto below only asks that some quotable span gives one;
- `unit_best`, `unit_pool`: for a question asking for an amount, a count or a rating, 1 when the
  best span (for `unit_pool`: some span an answer would quote) gives a figure next to one of the
  question's words or their translations (`kinds.figure_of`: "163 candidatures" for how many
  applications, not "35 best practices" for how many tools); None for other questions;

and three checks that veto an answer (`VETOES`):

- `places_missing`: the share of the countries and cities it names that the passages do not
  name in any language (nor, for a country, come from; a city may stand elsewhere in their
  documents);
- `years_missing`: 1 when a year it names stands in none of the passages an answer would quote;
- `kind_missing`: 1 when it asks for an amount, a date, a rating, a length of time or a count and none of those
  passages gives one (`kinds.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sihub.index import lexical as lexmod
from sihub.index.backend import IndexBackend
from sihub.index.store import fts_token
from sihub.types import Hit

from . import names, places, terms
from .evidence import FIGURES
from .lexicon import question_words
from .query import strip_filler
from .retrieve import TermCounts, analysed_words, documents_naming, unknown_words
from .state import Evidence, Verdict

FEATURES: tuple[str, ...] = (
    "sim",
    "sim_adj",
    "contrast",
    "lex",
    "cover",
    "cover_best",
    "rare_missing",
    "margin",
    "dense_z",
    "other_lang",
    "unknown",
    "names_missing",
    "names_missing_best",
    "kind_best",
    "unit_best",
    "unit_pool",
)
# Checks whose failure settles the verdict whatever the model says: a question about a place the
# passages never name in any language, about a year none of the passages to be quoted mentions,
# or asking for an amount, a date, a rating, a length of time or a count that none of them gives, is not answered
# from them. They are logical, not statistical (each says why), and too rare in the labelled cases
# for a model to learn a weight they deserve; the model is fitted on the cases they let through.
VETOES: tuple[str, ...] = ("places_missing", "years_missing", "kind_missing")
PARAMS_PATH = Path(__file__).with_name("verdict.json")


@dataclass(frozen=True)
class VerdictParams:
    """A fitted logistic model over standardised features, and the probability an answer needs."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    fitted: dict[str, Any] = field(default_factory=dict)
    """How the weights were fitted: the command, the cases, the figures on them."""

    @classmethod
    def load(cls, path: Path = PARAMS_PATH) -> VerdictParams:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = tuple(data["features"])
        return cls(
            features=names,
            weights=tuple(float(data["weights"][n]) for n in names),
            bias=float(data["bias"]),
            mean=tuple(float(data["mean"][n]) for n in names),
            scale=tuple(float(data["scale"][n]) for n in names),
            threshold=float(data["threshold"]),
            fitted=dict(data.get("fitted") or {}),
        )

    def save(self, path: Path = PARAMS_PATH) -> None:
        data = {
            "about": "The answer verdict's logistic model (assistant/verdict.py); refit with bench/answers.py --fit.",
            "features": list(self.features),
            "weights": dict(zip(self.features, self.weights, strict=True)),
            "bias": self.bias,
            "mean": dict(zip(self.features, self.mean, strict=True)),
            "scale": dict(zip(self.features, self.scale, strict=True)),
            "threshold": self.threshold,
            "fitted": self.fitted,
        }
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def probability(self, features: dict[str, float | None]) -> float:
        """The model's probability that the documents answer; a feature that is None (unknown)
        counts as its mean over the cases the model was fitted on."""
        z = self.bias + sum(
            w * ((m if (x := features.get(n)) is None else x) - m) / s
            for n, w, m, s in zip(self.features, self.weights, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def judge(
    features: dict[str, float | None],
    params: VerdictParams,
    threshold: float | None = None,
    missing: list[str] | None = None,
    kind: str | None = None,
    has_evidence: bool = True,
) -> Verdict:
    """The verdict on `features`: found when no veto (`VETOES`) holds and the model's probability
    reaches `threshold` (the fitted one when None). `missing` and `kind` are kept as the reasons a
    not-found answer gives."""
    p = params.probability(features) if has_evidence else 0.0
    cut = params.threshold if threshold is None else threshold
    found = has_evidence and not vetoed(features) and p >= cut
    return Verdict(
        found,
        p,
        features,
        missing=list(missing or []) if not found else [],
        kind=kind if not found and features.get("kind_missing") else None,
    )


def vetoed(features: dict[str, float | None]) -> bool:
    """Whether one of the `VETOES` checks failed."""
    return any(features.get(v) for v in VETOES)


# ---- features ------------------------------------------------------------------------------------


def measure(
    index: IndexBackend, query: str, lang: str, hits: list[Hit], evidence: Evidence, bias: np.ndarray | None
) -> tuple[dict[str, float | None], list[str]]:
    """The features of the module doc for `evidence` (the spans of `hits`, scored for `query`),
    and the names, places and years of the question that no passage holds."""
    spans = evidence.sentences
    if not spans:
        return dict.fromkeys((*FEATURES, *VETOES), 0.0), []
    # The best spans may stand in the passages weighed beside those the search found (the
    # neighbours, the deeper look's): they are what an answer quotes. The median span, what the
    # best one is contrasted with, is taken over the passages found only, as their neighbours
    # would lower it.
    found = [c for c in spans if not hits[c.hit].beside] or spans
    best = max(c.sim for c in spans)
    adj = max(c.sim - (float(bias[c.hit]) if bias is not None else 0.0) for c in spans)
    counts = TermCounts(index)
    unknown, words = unknown_words(index, query, lang, counts)
    pool = evidence.pool()
    quoted = [hits[i] for i in dict.fromkeys(c.hit for c in pool)]
    years = names.years_unmentioned(query, [f"{h.chunk.heading}\n{h.chunk.text}" for h in quoted])
    places_named, places_absent = names.places_unaddressed(query, hits)
    place_keys = {terms.key(w) for p in places_named for w in p.split()}
    named = [w for w in names.names_in(query) if terms.key(w) not in place_keys and w not in years]
    top = max(spans, key=lambda c: c.score)
    best_hit = top.hit
    best_path = hits[best_hit].chunk.path
    paths = {h.chunk.path for h in hits}
    absent = names.absent_from(named, hits)
    lack = names.absent_from(named, [h for h in hits if h.chunk.path == best_path])  # holds `absent`
    # A name the passages lack may stand elsewhere in their documents: a report on "the Gothenburg
    # pilot" names the city in its introduction, not beside the figures. So may a city; not a
    # country (a report that mentions Italy once does not answer about Italy's rules). One look
    # in the index answers for the passages' documents and for the best span's alone.
    cities = [w for w in places_absent if not places.mentions(w)]
    look = list(dict.fromkeys([*cities, *lack]))
    holders = documents_naming(index, look) if look else {}

    def named_in(word: str, docs: set[str]) -> bool:
        held = holders.get(word, set())
        return held is None or bool(held & docs)

    places_absent = [w for w in places_absent if not named_in(w, paths)]
    absent = [w for w in absent if not named_in(w, paths)]
    absent_best = [w for w in lack if not named_in(w, {best_path})]
    q = QuestionWords(index, query, lang, evidence.translations, counts)
    cover, rare_missing = coverage(q, hits)
    span_hits = sorted({c.hit for c in spans})
    rival = max((c.score for c in spans if hits[c.hit].chunk.path != hits[best_hit].chunk.path), default=None)
    features = {
        "sim": best,
        "sim_adj": adj,
        "contrast": best - sorted(c.sim for c in found)[len(found) // 2],
        "lex": max(c.lex for c in spans),
        "cover": max((x for i in span_hits if (x := cover[i]) is not None), default=None),
        "cover_best": cover[best_hit],
        "rare_missing": float(rare_missing),
        "margin": top.score - rival if rival is not None else None,
        "dense_z": dense_z(hits),
        "other_lang": 0.0 if hits[best_hit].chunk.lang == lang else 1.0,
        "unknown": len(unknown) / words if words else 0.0,
        "names_missing": len(absent) / len(named) if named else 0.0,
        "names_missing_best": len(absent_best) / len(named) if named else None,
        "kind_best": (1.0 if top.fits else 0.0) if evidence.kind else None,
        "unit_best": (1.0 if top.unit else 0.0) if evidence.kind in FIGURES else None,
        "unit_pool": (1.0 if any(c.unit for c in pool) else 0.0) if evidence.kind in FIGURES else None,
        "places_missing": len(places_absent) / len(places_named) if places_named else 0.0,
        "years_missing": 1.0 if years else 0.0,
        "kind_missing": 1.0 if evidence.kind_missing else 0.0,
    }
    return features, [*places_absent, *absent, *years]


def dense_z(hits: list[Hit]) -> float:
    """(best - mean) / std of the dense cosines of the passages found (not those beside them)."""
    found = np.array([h.dense for h in hits if not h.beside and h.dense is not None], dtype=np.float64)
    if len(found) < 3:
        return 0.0
    return float((found.max() - found.mean()) / (found.std() + 1e-3))


class QuestionWords:
    """The question's words, how rare each is in the index, and their forms in each language: what
    `coverage` compares passages and spans with.

    idf(w) = log(N / (1 + df(w))) over the index's N passages (df in the question's language). A
    text in another language holds a word when it holds the word itself (a name, a code, a
    number) or its translation there, and only such words count there."""

    def __init__(
        self,
        index: IndexBackend,
        query: str,
        lang: str,
        translations: dict[str, dict[str, str]] | None,
        counts: TermCounts | None = None,
    ) -> None:
        self.lang, self.translations = lang, translations or {}
        self.words = question_words(strip_filler(query), lang)
        # Words that keep their form in every language: names and codes (not places, whose names
        # change: `places_missing` weighs them), and numbers.
        place_words = {
            w.lower() for p in (*places.mentions(query).values(), *places.cities(query).values()) for w in p.split()
        }
        self.anchors = {w.lower() for w in names.names_in(query)} - place_words
        self.anchors |= {w for w in self.words if any(ch.isdigit() for ch in w)}
        self.own = {w: fts_token(lexmod.stem_all([w], lang)[0]) for w in self.words}
        df = (counts or index.term_counts)(sorted(set(self.own.values()))) if self.words else {}
        n = max(2, index.size)
        self.idf = {w: math.log(n / (1 + df.get(self.own[w], 0))) + 1e-3 for w in self.words}
        self._forms: dict[str, dict[str, set[str]]] = {}

    def forms(self, text_lang: str) -> dict[str, set[str]]:
        """The countable words in a text of `text_lang`, each with the analysed forms that hold it."""
        if text_lang not in self._forms:
            alt = self.translations.get(text_lang, {}) if text_lang != self.lang else {}
            countable = [w for w in self.words if text_lang == self.lang or w in alt or w in self.anchors]
            self._forms[text_lang] = {
                w: {self.own[w], fts_token(lexmod.stem_all([w], text_lang)[0])}
                | ({fts_token(t) for t in lexmod.stem_all(lexmod.tokens(alt[w]), text_lang)} if w in alt else set())
                for w in countable
            }
        return self._forms[text_lang]

    def held(self, text: str, text_lang: str) -> tuple[float | None, set[str]]:
        """The rarity-weighted share of the countable words `text` holds (None when none count
        in its language), and the words it holds."""
        forms = self.forms(text_lang)
        if not forms:
            return None, set()
        words = analysed_words(text, text_lang)
        have = {w for w, fs in forms.items() if fs & words}
        return sum(self.idf[w] for w in have) / sum(self.idf[w] for w in forms), have


def coverage(q: QuestionWords, hits: list[Hit]) -> tuple[list[float | None], int]:
    """Per hit, the rarity-weighted share of the question's words its passage (title, heading,
    text) holds (`QuestionWords.held`; None when no word counts in its language), and how many of
    the question's rarer words (idf above the median of its words) no passage holds."""
    if not q.words or not hits:
        return [None] * len(hits), 0
    out: list[float | None] = []
    anywhere: set[str] = set()
    countable: set[str] = set()
    for h in hits:
        countable.update(q.forms(h.chunk.lang))
        share, have = q.held(f"{h.title}\n{h.chunk.heading}\n{h.chunk.text}", h.chunk.lang)
        anywhere |= have
        out.append(share)
    median = sorted(q.idf.values())[len(q.idf) // 2]
    return out, sum(1 for w in countable if q.idf[w] > median and w not in anywhere)


# ---- fitting -------------------------------------------------------------------------------------


def fit(
    rows: list[dict[str, float | None]],
    labels: list[int],
    weights: list[float] | None = None,
    l2: float = 1.0,
    features: tuple[str, ...] = FEATURES,
) -> VerdictParams:
    """A logistic model of `labels` (1 = the documents answer) on `rows` of features, fitted by
    Newton's method with an L2 penalty `l2` on the weights (not the bias); `weights` weigh the
    cases (so that each source of cases counts as much as the others). The threshold is 0.5;
    `choose_threshold` moves it."""
    x = np.array([[np.nan if r.get(n) is None else float(r[n]) for n in features] for r in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    known = ~np.isnan(x)
    mean = np.array([np.average(x[known[:, j], j], weights=w[known[:, j]]) for j in range(x.shape[1])])
    x = np.where(known, x, mean)  # an unknown feature is read as the average case
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(y), 1))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -50, 50)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return VerdictParams(
        features=tuple(features),
        weights=tuple(float(b) for b in beta[:-1]),
        bias=float(beta[-1]),
        mean=tuple(float(m) for m in mean),
        scale=tuple(float(s) for s in scale),
        threshold=0.5,
    )


def choose_threshold(
    params: VerdictParams, positives: list[dict[str, float]], negatives: list[dict[str, float]]
) -> float:
    """The probability cut that maximises the mean of the two rates (answerable found, unanswerable
    turned away) on the given cases; ties go to the middle of the best range."""
    pos = sorted(params.probability(r) for r in positives)
    neg = sorted(params.probability(r) for r in negatives)
    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]

    def balanced(t: float) -> float:
        tp = sum(p >= t for p in pos) / max(1, len(pos))
        tn = sum(p < t for p in neg) / max(1, len(neg))
        return (tp + tn) / 2

    scores = [balanced(t) for t in grid]
    best = max(scores)
    top = [t for t, s in zip(grid, scores, strict=True) if s >= best - 1e-12]
    return top[len(top) // 2]
