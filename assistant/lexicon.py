"""A question's words as the hub's other languages write them, read off the index's own words.

A French question about a Latvian table ("Combien de participants à l'atelier…") shares no
word with it, so the lexical search can only match stray names, and the embedder alone often
ranks that table below passages in the question's own language. Given single words, the
embedder puts a word next to its translation well above other words ("attended" ->
"piedalījās", "arbetspaket" -> "package", "modelos" -> "models"; cosine >= 0.9 as a query
against the vocabulary, while unrelated words sit around 0.8-0.85). So each content word of a
question is compared with the words the index holds in each other language; the nearest one,
when close enough, stands for it there. `retrieve` runs the lexical search once per other
language with those words (`FusionParams.translated`).

The vocabulary is every word of three or more letters of the indexed chunks, by chunk
language. Its vectors are computed by the warm-up (`sihub warm`, the chat's start, `sihub
eval`) and kept in the quote cache under their own engine name; until then a question is
searched without translations, as before (`Lexicon.translate` gives {}).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from index import lexical
from index.embedder import Embedder

from . import terms
from .quote_cache import QuoteStore, engine_of, text_key

# How close (cosine, both words embedded as queries) the nearest word of another language
# must be to stand for a question's word there (bench/answers.py: 0.88 and 0.92 retrieve
# about as well; below 0.88 stray words come in).
MIN_COS = 0.90
MIN_LETTERS = 3
_BATCH = 64


def _keep(word: str, lang: str) -> bool:
    return (
        len(word) >= MIN_LETTERS
        and word.isalpha()
        and word not in terms.STOPWORDS
        and word not in lexical.STOPWORDS.get(lang, frozenset())
    )


def question_words(text: str, lang: str) -> list[str]:
    """The content words of a question, lower-cased, each once."""
    return list(dict.fromkeys(w for w in lexical.tokens(text) if _keep(w, lang)))


def vocabulary(index: Any) -> dict[str, dict[str, int]]:
    """Per chunk language (not "und"): the words of its chunks with the number of chunks holding each."""
    out: dict[str, dict[str, int]] = {}
    for lang, text in index.chunk_texts():
        if lang in ("", "und"):
            continue
        counts = out.setdefault(lang, {})
        for w in {w for w in lexical.tokens(text) if _keep(w, lang)}:
            counts[w] = counts.get(w, 0) + 1
    return out


def word_engine(embedder: Embedder) -> str:
    """The store's engine name for word vectors (queries, unlike the quote units' passages)."""
    return engine_of(embedder) + "+word"


@dataclass
class _Table:
    key: tuple[Any, ...]
    words: dict[str, list[str]]
    vecs: dict[str, np.ndarray]
    complete: bool


class Lexicon:
    """Word vectors of an index's vocabulary, by language, and the translations they give.

    One per process (`LEXICON`); the `Assistant` attaches the quote cache of the index it opens.
    """

    def __init__(self) -> None:
        self.store: QuoteStore | None = None
        self._table: _Table | None = None
        self._lock = threading.Lock()
        self._warmed = 0

    def attach(self, store: QuoteStore | None) -> None:
        self.store = store

    def warm(
        self,
        index: Any,
        embedder: Embedder,
        stop_event: threading.Event | None = None,
        wait: Callable[[], None] | None = None,
    ) -> tuple[int, int]:
        """Compute and keep the vectors of the vocabulary's words the store lacks: (words, embedded).
        `wait()` is called before each batch (to give way to live questions)."""
        store = self.store
        if store is None or not store.usable:
            return 0, 0
        engine = word_engine(embedder)
        words = sorted({w for counts in vocabulary(index).values() for w in counts})
        keys = [text_key(w) for w in words]
        have = store.has(engine, keys)
        todo = [(k, w) for k, w in zip(keys, words, strict=True) if k not in have]
        done = 0
        for start in range(0, len(todo), _BATCH):
            if stop_event is not None and stop_event.is_set():
                break
            if wait is not None:
                wait()
            part = todo[start : start + _BATCH]
            vecs = _embed_words(embedder, [w for _, w in part])
            if not store.put(engine, zip([k for k, _ in part], vecs, strict=True)):
                break
            done += len(part)
        with self._lock:
            self._warmed += 1
        return len(words), done

    def _vectors(self, index: Any, embedder: Embedder) -> _Table | None:
        store = self.store
        if store is None:
            return None
        key = (id(index), index.state(), engine_of(embedder), id(store), self._warmed)
        with self._lock:
            table = self._table
        if table is not None and table.key == key:
            return table
        engine, dim = word_engine(embedder), int(getattr(embedder, "dim", 0))
        words: dict[str, list[str]] = {}
        vecs: dict[str, np.ndarray] = {}
        complete = True
        for lang, counts in vocabulary(index).items():
            listed = sorted(counts)
            got = store.get(engine, [text_key(w) for w in listed], dim)
            known = [w for w in listed if text_key(w) in got]
            complete = complete and len(known) == len(listed)
            if known:
                words[lang] = known
                vecs[lang] = np.stack([got[text_key(w)] for w in known]).astype(np.float32)
        table = _Table(key, words, vecs, complete)
        with self._lock:
            self._table = table
        return table

    def translate(self, index: Any, embedder: Embedder, text: str, lang: str) -> dict[str, dict[str, str]]:
        """For each other language of the index: the word standing there for each of the question's
        words that has one (the nearest word of that language, at cosine >= MIN_COS), as
        {question word: word}. {} for a question of unknown language, or before the warm-up has
        computed any word vectors."""
        if lang in ("", "und"):
            return {}
        table = self._vectors(index, embedder)
        if table is None or not table.vecs:
            return {}
        words = question_words(text, lang)
        if not words:
            return {}
        qv = _embed_words(embedder, words)
        out: dict[str, dict[str, str]] = {}
        for other, matrix in table.vecs.items():
            if other == lang:
                continue
            sims = qv @ matrix.T
            best = sims.argmax(axis=1)
            found = {
                w: table.words[other][j]
                for i, (w, j) in enumerate(zip(words, best, strict=True))
                if sims[i, j] >= MIN_COS
            }
            if found:
                out[other] = found
        return out


def _embed_words(embedder: Embedder, words: list[str]) -> np.ndarray:
    return np.asarray(embedder.embed_queries(words), dtype=np.float32)


LEXICON = Lexicon()
