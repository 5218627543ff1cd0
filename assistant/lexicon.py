"""A question's words as the hub's other languages write them, read off the index's own words.

A French question about a Latvian table ("Combien de participants à l'atelier…") shares no
word with it, so the lexical search can only match stray names, and the embedder alone often
ranks that table below passages in the question's own language. Given single words, the
embedder puts a word next to its translation well above other words ("attended" ->
"piedalījās", "arbetspaket" -> "package", "modelos" -> "models"; cosine >= 0.9 as a query
against the vocabulary, while unrelated words sit around 0.8-0.85). So each content word of a
question is compared with the words the index holds in each other language; the nearest one,
when close enough, stands for it there. `retrieve` runs the lexical search once per other
language with those words (`FusionParams.translated`), and an answer counts them as shared
terms of a sentence in that language (`answer.term_overlap`).

The vocabulary is every word of three or more letters of the indexed chunks, by chunk
language (the MAX_WORDS held by most chunks of each). The ingest counts them and embeds each
new word once (`index/answer_data.py`); a question reads them from the index (nothing is
scanned or embedded but its own words). An index built before schema 4 has none until
`sihub warm`: its questions are searched without translations (`Lexicon.translate` gives {}).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from sihub.index import lexical
from sihub.index.embedder import Embedder

from . import terms

# How close (cosine, both words embedded as queries) the nearest word of another language
# must be to stand for a question's word there. bench/answers.py, answerable gold questions
# cited (translated weight 1.5): 85.3% at 0.88, 87.1% at 0.90, 86.2% at 0.92; below 0.88
# stray words come in ("teman" -> "member").
MIN_COS = 0.90
# A word of the other language spelled the same but for diacritics stands for the question's
# word when it is within this much of MIN_COS, before any nearer word: a name keeps its own
# form ("riga" -> "rīga" at 0.898, not "rīku", tools, at 0.906). Only the whole folded word:
# sharing the first five letters lets false friends in ("attended" -> French "attendre";
# bench/answers.py, 2 answerable gold questions fewer cited).
# Measured on the gold questions (bench/RESULTS.md): at 0, 0.025, 0.05, 0.075 and 0.1 their
# answers, verdicts and citations are the same on both splits, so the value rests on names like
# "Rīga" (0.898) that the gold set does not test; tests/test_lexicon.py keeps that case.
ALIKE_SLACK = 0.05
MIN_LETTERS = 3
# Words kept per language, most frequent first: ~30 MB of vectors per language at the most.
MAX_WORDS = 20_000
# How often (seconds) at most a process reads the words again after the index changed (an
# ingest beside a server commits once per document).
RECHECK_S = 30.0
# Translations of words remembered per table (a few MB at most).
MEMO_MAX = 100_000


def _keep(word: str, lang: str) -> bool:
    return (
        len(word) >= MIN_LETTERS
        and word.isalpha()
        and word not in terms.STOPWORDS
        and word not in lexical.stop_words(lang)
    )


def question_words(text: str, lang: str) -> list[str]:
    """The content words of a question, lower-cased, each once."""
    return list(dict.fromkeys(w for w in lexical.tokens(text) if _keep(w, lang)))


def vocabulary(index: Any, limit: int = MAX_WORDS) -> dict[str, list[str]]:
    """Per chunk language (not "und"): the `limit` words held by most chunks (ties alphabetical)."""
    out: dict[str, list[str]] = {}
    for lang, w, _n in index.word_counts():
        words = out.setdefault(lang, [])
        if len(words) < limit and _keep(w, lang):
            words.append(w)
    return {lang: words for lang, words in out.items() if words}


class _Words:
    """One language's kept words and their vectors, stored as float16 in a FAISS flat index
    (half the memory of float32, cosines within 1e-5 of them) that gives each question word
    its nearest word without a float32 copy of the table."""

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        self.words = words
        self.rows = {w: i for i, w in enumerate(words)}
        """Each word's row (where its vector is)."""
        self._variants: dict[str, tuple[int, ...]] | None = None
        self.index = faiss.IndexScalarQuantizer(
            vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        self.index.train(vectors)
        self.index.add(vectors)

    def nearest(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cosine, row) of the nearest word of each query vector."""
        sims, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), 1)
        return sims[:, 0], rows[:, 0]

    def vectors(self, rows: list[int]) -> np.ndarray:
        return self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def alike(self, folded: str) -> list[int]:
        """The rows of the words spelled `folded` once folded (`terms.fold`), in order. Only the
        words that folding changes are listed apart (built on first use); a word it leaves as it
        is is found by `rows`, so the table holds no second entry for most words."""
        if self._variants is None:
            variants: dict[str, list[int]] = {}
            for row, word in enumerate(self.words):
                key = terms.fold(word)
                if key != word:
                    variants.setdefault(key, []).append(row)
            self._variants = {k: tuple(v) for k, v in variants.items()}
        same = self.rows.get(folded)
        rows = [same] if same is not None and terms.fold(folded) == folded else []
        return sorted([*rows, *self._variants.get(folded, ())])


@dataclass
class _Table:
    key: tuple[Any, ...]
    langs: dict[str, _Words]
    rows: int
    checked: float
    memo: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(word, other language) -> the word standing for it there (None: none), as worked out
    for an earlier question: it depends on nothing but the word and this table."""

    def knows(self, word: str) -> bool:
        """Whether some language's kept words hold `word` (its vector is then not embedded again:
        a question's words are mostly among them)."""
        return any(word in ws.rows for ws in self.langs.values())

    def vector(self, word: str) -> np.ndarray | None:
        """The vector of a kept word, from the last language that holds it."""
        for ws in reversed(self.langs.values()):
            row = ws.rows.get(word)
            if row is not None:
                return ws.vectors([row])[0]
        return None


class Lexicon:
    """Word vectors of an index's vocabulary, by language, and the translations they give.

    One per `Assistant`, which attaches the index it opens.
    """

    def __init__(self) -> None:
        self.index: Any = None
        self._table: _Table | None = None
        self._lock = threading.Lock()

    def attach(self, index: Any) -> None:
        """Read the words of `index` (an `Index`; None: none)."""
        self.index = index

    def clear(self) -> None:
        """Read the words again at the next question (after `sihub warm` filled them in)."""
        with self._lock:
            self._table = None

    def _vectors(self, embedder: Embedder) -> _Table | None:
        """The stored word vectors by language (read once, again when the index has changed,
        at most every RECHECK_S)."""
        index = self.index
        if index is None or getattr(embedder, "id", None) != index.manifest["embedder"]["id"]:
            return None
        key = (id(index), index.generation)
        with self._lock:
            table = self._table
        now = time.monotonic()
        if table is not None and table.key[0] == key[0] and (table.key == key or now - table.checked < RECHECK_S):
            return table
        langs = {}
        for lang, listed in vocabulary(index).items():
            held, matrix = _read_vectors(index, listed)
            if held:
                langs[lang] = _Words(held, matrix)
        table = _Table(key, langs, sum(len(ws.words) for ws in langs.values()), now)
        with self._lock:
            self._table = table
        return table

    def translate(
        self, embedder: Embedder, text: str, lang: str, vectors: dict[str, np.ndarray] | None = None
    ) -> dict[str, dict[str, str]]:
        """For each other language of the kept words: the word standing there for each of the question's
        words that has one (the nearest word of that language, at cosine >= MIN_COS), as
        {question word: word}. {} for a question of unknown language, or over an index that
        holds no word vectors (built before schema 4 and not warmed). `vectors`: those of the
        question's words the caller embedded already (`pending`), as queries."""
        if lang in ("", "und"):
            return {}
        table = self._vectors(embedder)
        if table is None or not table.langs:
            return {}
        return self._translate(table, embedder, text, lang, vectors or {})  # each word once per table (`memo`)

    def pending(self, embedder: Embedder, text: str, lang: str) -> dict[str, np.ndarray | None]:
        """The question's words `translate` needs a vector for and holds none of yet (not worked
        out before, not among the kept words), each with the vector the index stores for it, or
        None for a word the index does not hold, which the model must embed. A caller that
        embeds the question anyway embeds these words in the same call (each call of the model
        expands all of its weights first: 8-10 ms of CPU a call, `bench/RESULTS.md`) and hands
        them to `translate`."""
        if lang in ("", "und"):
            return {}
        table = self._vectors(embedder)
        if table is None or not table.langs:
            return {}
        others = [other for other in table.langs if other != lang]
        new = [w for w in self._todo(table, question_words(text, lang), others) if not table.knows(w)]
        return self._stored(new)

    @staticmethod
    def _todo(table: _Table, words: list[str], others: list[str]) -> list[str]:
        return [w for w in words if any((w, other) not in table.memo for other in others)]

    def _stored(self, words: list[str]) -> dict[str, np.ndarray | None]:
        """Each word with the vector the index stores for it (the ingest embeds every word of the
        index as a query, as a question's words are: the same vector), None where it holds none."""
        read = getattr(self.index, "word_vectors", None)
        stored = read(words) if words and read is not None else {}
        return {w: stored.get(w) for w in words}

    def _translate(
        self, table: _Table, embedder: Embedder, text: str, lang: str, vectors: dict[str, np.ndarray]
    ) -> dict[str, dict[str, str]]:
        words = question_words(text, lang)
        others = [other for other in table.langs if other != lang]
        todo = self._todo(table, words, others)
        if todo:
            self._work_out(table, embedder, todo, others, vectors)
        out: dict[str, dict[str, str]] = {}
        for other in others:
            found = {w: t for w in words if (t := table.memo.get((w, other)))}
            if found:
                out[other] = found
        return out

    def _work_out(
        self, table: _Table, embedder: Embedder, words: list[str], others: list[str], given: dict[str, np.ndarray]
    ) -> None:
        """Fill `table.memo` for these words in the other languages: the nearest word there, at
        cosine >= MIN_COS, or one spelled alike within ALIKE_SLACK of it, before any nearer word.
        A word's vector: `given`, else the kept word's, else the one the index stores, else embedded."""
        fresh = {w: given[w] for w in words if w in given and not table.knows(w)}
        stored = self._stored([w for w in words if w not in fresh and not table.knows(w)])
        fresh.update((w, v) for w, v in stored.items() if v is not None)
        new = [w for w, v in stored.items() if v is None]
        if new:
            fresh.update(zip(new, _embed_words(embedder, new), strict=True))
        qv = np.stack([fresh[w] if w in fresh else table.vector(w) for w in words]).astype(np.float32)
        got: dict[tuple[str, str], str | None] = {}
        for other in others:
            space = table.langs[other]
            sims, best = space.nearest(qv)
            for i, w in enumerate(words):
                rows = space.alike(terms.fold(w))
                near = space.vectors(rows) @ qv[i] if rows else np.empty(0)
                close = [(float(c), r) for c, r in zip(near, rows, strict=True) if c >= MIN_COS - ALIKE_SLACK]
                if close:
                    got[(w, other)] = space.words[max(close)[1]]
                else:
                    got[(w, other)] = space.words[int(best[i])] if sims[i] >= MIN_COS else None
        with self._lock:
            if len(table.memo) > MEMO_MAX:
                table.memo.clear()
            table.memo.update(got)


def _read_vectors(index: Any, words: list[str], part: int = 2_000) -> tuple[list[str], np.ndarray]:
    """The words of `words` the index holds a vector for, in order, and their vectors as one
    matrix, read a part at a time (the rows of a whole vocabulary at once would cost several
    times the matrix in short-lived objects)."""
    held: list[str] = []
    rows: list[np.ndarray] = []
    for start in range(0, len(words), part):
        got = index.word_vectors(words[start : start + part])
        listed = [w for w in words[start : start + part] if w in got]
        if listed:
            held.extend(listed)
            rows.append(np.stack([got[w] for w in listed]).astype(np.float32))
    return held, (np.concatenate(rows) if rows else np.empty((0, 0), dtype=np.float32))


def _embed_words(embedder: Embedder, words: list[str]) -> np.ndarray:
    return np.asarray(embedder.embed_queries(words), dtype=np.float32)
