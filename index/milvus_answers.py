"""What answers need, kept in Milvus as the embedded index keeps it in SQLite (`answer_data.py`).

- `quotes`: the vector of each quote text of a document version, keyed by the sha256 of the text
  (`answer_data.quote_key`, stored as hex); rows of a version readers no longer see are deleted
  with that version's chunks. A question reads a vector by its text's key, whatever the version:
  the same text has the same vector.
- `words`: per chunk language, each word of the documents that have their answer rows, with the
  number of chunks holding it; changed by the writer before it publishes a document's version,
  recounted from the live chunks when it recovers from a killed writer.
- `wordvecs`: each word's vector as a query, once; a word no chunk holds any more loses its
  vector at the next prune, as in the embedded index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from .answer_data import AnswerData, chunk_words
from .milvus_client import BATCH, Collections
from .milvus_schema import PLACEHOLDER, quote

Words = Counter[tuple[str, str]]


WORD_MAX = 1000
"""Longest word kept (UTF-8 bytes; the collections' text fields hold 1,024): a longer one is no
word the lexicon would ever translate."""


def word_id(lang: str, word: str) -> str:
    return f"{lang}:{word}"


def _kept(words: Words) -> Words:
    return Counter({k: n for k, n in words.items() if len(k[1].encode("utf-8")) <= WORD_MAX})


class MilvusAnswers:
    """The answer collections of one hub: reads for answers, writes for the hub's one writer."""

    def __init__(self, cols: Collections, dim: int) -> None:
        self.cols = cols
        self.dim = dim

    # ---- reading -------------------------------------------------------------------------------

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Stored vectors of quote texts by key (those found)."""
        wanted = list(dict.fromkeys(k.hex() for k in keys))
        out: dict[bytes, np.ndarray] = {}
        for start in range(0, len(wanted), BATCH):
            part = wanted[start : start + BATCH]
            expr = f"key in [{','.join(quote(k) for k in part)}]"
            for r in self.cols.call(
                "query", self.cols.name("quotes"), filter=expr, output_fields=["key", "vec"], limit=16_384
            ):
                vec = np.asarray(r["vec"], dtype=np.float32)
                if len(vec) == self.dim:
                    out.setdefault(bytes.fromhex(r["key"]), vec)
        return out

    def known_words(self, words: list[str]) -> set[str]:
        """Which of `words` have a stored vector."""
        return {str(r["id"]) for r in self.cols.get("wordvecs", list(dict.fromkeys(words)), ["id"])}

    def word_counts(self) -> list[tuple[str, str, int]]:
        """(language, word, chunks holding it), each language's most frequent first (ties alphabetical)."""
        rows = self.cols.query("words", "", ["lang", "word", "chunks"])
        out = [(str(r["lang"]), str(r["word"]), int(r["chunks"])) for r in rows]
        return sorted(out, key=lambda t: (t[0], -t[2], t[1]))

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of `words` (those found)."""
        out: dict[str, np.ndarray] = {}
        for r in self.cols.get("wordvecs", list(dict.fromkeys(words)), ["id", "vec"]):
            vec = np.asarray(r["vec"], dtype=np.float32)
            if len(vec) == self.dim:
                out[str(r["id"])] = vec
        return out

    # ---- writing (the writer's, under the lease) -----------------------------------------------

    def put(self, doc_id: int, ver: int, data: AnswerData) -> None:
        """Write a document version's quote rows and the vectors of its new words."""
        self.cols.upsert(
            "quotes",
            [
                {"id": f"{ver}:{k.hex()}", "doc_id": doc_id, "ver": ver, "key": k.hex(), "vec": _floats(v)}
                for k, v in data.quotes.items()
            ],
        )
        self.cols.upsert(
            "wordvecs",
            [{"id": w, "vec": _floats(v)} for w, v in data.word_vectors.items() if len(w.encode("utf-8")) <= WORD_MAX],
        )

    def drop_quotes(self, doc_id: int, keep: int | None) -> None:
        """Delete a document's quote rows but those of version `keep` (None: all)."""
        expr = f"doc_id == {int(doc_id)}" + ("" if keep is None else f" and ver != {int(keep)}")
        self.cols.delete("quotes", filter=expr)

    def count(self, added: Words, removed: Words) -> None:
        """Add the word counts of chunks added and take those of chunks removed."""
        delta: Counter[tuple[str, str]] = Counter(_kept(added))
        delta.subtract(_kept(removed))
        delta = Counter({k: n for k, n in delta.items() if n})
        if not delta:
            return
        ids = [word_id(lang, w) for lang, w in delta]
        now = {str(r["id"]): int(r["chunks"]) for r in self.cols.get("words", ids, ["id", "chunks"])}
        self._write({k: now.get(word_id(*k), 0) + n for k, n in delta.items()})

    def recount(self, words: Words) -> None:
        """Make the word counts equal `words` (after a writer was killed midway)."""
        words = _kept(words)
        have = {str(r["id"]): int(r["chunks"]) for r in self.cols.query("words", "", ["id", "chunks"])}
        wanted = {word_id(*k): n for k, n in words.items() if n > 0}
        gone = [i for i in have if i not in wanted]
        if gone:
            self._delete_words(gone)
        self._write({k: n for k, n in words.items() if have.get(word_id(*k)) != n})

    def _write(self, counts: dict[tuple[str, str], int]) -> None:
        keep = [
            {"id": word_id(lang, w), "lang": lang, "word": w, "chunks": n, "v": PLACEHOLDER}
            for (lang, w), n in counts.items()
            if n > 0
        ]
        self.cols.upsert("words", keep)
        gone = [word_id(lang, w) for (lang, w), n in counts.items() if n <= 0]
        if gone:
            self._delete_words(gone)

    def _delete_words(self, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH):
            self.cols.delete("words", ids=ids[start : start + BATCH])

    def prune(self) -> int:
        """Drop the vectors of words no chunk holds any more; how many."""
        held = {str(r["word"]) for r in self.cols.query("words", "", ["word"])}
        gone = [str(r["id"]) for r in self.cols.query("wordvecs", "", ["id"]) if str(r["id"]) not in held]
        for start in range(0, len(gone), BATCH):
            self.cols.delete("wordvecs", ids=gone[start : start + BATCH])
        return len(gone)


def words_of(rows: Iterable[dict[str, Any]]) -> Words:
    """`answer_data.chunk_words` of chunk rows (language, heading, text)."""
    return chunk_words((str(r["lang"]), f"{r['heading']}\n{r['text']}") for r in rows)


def _floats(vec: Any) -> list[float]:
    return [float(x) for x in np.asarray(vec, dtype=np.float32).ravel()]
