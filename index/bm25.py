"""BM25 of given rows, as SQLite FTS5's `bm25()` computes it, without asking FTS5 to rank.

FTS5 answers `MATCH q AND rowid IN (…)` by walking every row that holds a term of `q`, and
`bm25()` reads each term's whole posting list for its IDF: scoring 200 candidate chunks
of a 100k-chunk index for a question with a frequent word cost ~60 ms. Here the candidates'
analysed text (the FTS column) is read by rowid and scored with the same formula, the
document frequencies coming from the FTS vocabulary and the row count and mean row length
from the FTS5 averages record: the same numbers (to float rounding), at a cost that grows
with the candidates, not with the index.

The formula (`fts5_aux.c`, `fts5Bm25Function`, k1 = 1.2, b = 0.75, one column, weight 1):

    idf(t)   = log((N - n(t) + 0.5) / (n(t) + 0.5)), 1e-6 where that is <= 0
    score(d) = sum over the query's phrases t of idf(t) * f(t,d) * (k1 + 1) / (f(t,d) + k1 * (1 - b + b * |d| / avgdl))
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import NamedTuple

K1 = 1.2
B = 0.75
# A token as FTS5's unicode61 tokenizer cuts one: letters and digits (the underscore is a separator).
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Text as FTS5 (unicode61, remove_diacritics 2) compares it: lower case, no diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    if decomposed.isascii():
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Folded forms of the words met (a language has far fewer distinct words than rows).
_FOLDED: dict[str, str] = {}
_FOLDED_MAX = 500_000


def _fold_word(word: str) -> str:
    got = _FOLDED.get(word)
    if got is None:
        got = fold(word)
        if len(_FOLDED) < _FOLDED_MAX:
            _FOLDED[word] = got
    return got


def tokens(text: str) -> list[str]:
    """The FTS5 tokens of analysed text (words of letters and digits between spaces), folded."""
    if "_" in text:
        return _TOKEN.findall(fold(text))
    words = text.split()
    if text.isascii():
        return [w.lower() for w in words] if not text.islower() else words
    return [w if w.isascii() else _fold_word(w) for w in words]


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """An SQLite varint at `pos`: (value, position after it)."""
    value = 0
    for i in range(9):
        byte = buf[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    return value, pos + 9  # pragma: no cover - the loop always returns


def averages(block: bytes) -> tuple[int, float]:
    """(rows, mean tokens per row) from an FTS5 averages record (the `_data` row with id 1)."""
    rows, pos = varint(block, 0)
    total = 0
    while pos < len(block):
        size, pos = varint(block, pos)
        total += size
    return rows, (total / rows if rows else 0.0)


def idf(rows: int, df: int) -> float:
    value = math.log((rows - df + 0.5) / (df + 0.5))
    return value if value > 0 else 1e-6


def score(
    texts: Iterable[tuple[int, str]], phrases: list[str], df: dict[str, int], rows: int, avgdl: float
) -> dict[int, float]:
    """BM25 (higher is better) of each (rowid, FTS column text) for single-token `phrases`
    (folded), given each phrase's document frequency; rows holding none are left out."""
    return score_packed(((rowid, Packed.of(text)) for rowid, text in texts), phrases, df, rows, avgdl)


class Packed(NamedTuple):
    """A row's tokens as one string, each between spaces and two spaces apart (" a  b  a "),
    so that counting a token is one `str.count` of " token ", and their number."""

    text: str
    n: int

    @classmethod
    def of(cls, analysed: str) -> Packed:
        toks = tokens(analysed or "")
        return cls(" " + "  ".join(toks) + " ", len(toks))

    @staticmethod
    def needle(token: str) -> str:
        """What `count` and `holds` seek in `text` (callers scanning many rows build it once)."""
        return f" {token} "

    def count(self, token: str) -> int:
        return self.text.count(self.needle(token))

    def holds(self, token: str) -> bool:
        return self.needle(token) in self.text


def score_packed(
    packed: Iterable[tuple[int, Packed]], phrases: list[str], df: dict[str, int], rows: int, avgdl: float
) -> dict[int, float]:
    """`score` of rows already cut into their tokens (`Packed`, `TokenCache`)."""
    weighted = [(Packed.needle(p), idf(rows, df.get(p, 0))) for p in phrases]
    out: dict[int, float] = {}
    for rowid, row in packed:
        if not row.n:
            continue
        norm = K1 * (1 - B + B * row.n / avgdl) if avgdl else K1
        total = 0.0
        hit = False
        text = row.text
        for needle, w in weighted:
            f = text.count(needle)
            if f:
                hit = True
                total += w * f * (K1 + 1) / (f + norm)
        if hit:
            out[int(rowid)] = total
    return out


class TokenCache:
    """The tokens of analysed rows (`Packed`), remembered while the index stays as it was read.

    A question scores the same candidate chunks several times (the question, then its words as
    each other language writes them, then the terms an answer checks), and cutting and folding
    a chunk's text costs far more than counting a term in it. The most recent `limit` rows are
    kept (a few hundred questions' candidates, about 1 kB each).
    """

    def __init__(self, limit: int = 8_192) -> None:
        self.limit = limit
        self._rows: OrderedDict[int, Packed] = OrderedDict()
        self._state: Hashable = None
        self._lock = threading.Lock()

    def rows(
        self, state: Hashable, rowids: list[int], read: Callable[[list[int]], Iterable[tuple[int, Packed]]]
    ) -> list[tuple[int, Packed]]:
        """(rowid, tokens) of those of `rowids` the index holds, by rowid; `read` gives the
        (rowid, tokens) of the rows not remembered for this `state` of the index."""
        with self._lock:
            if state != self._state:
                self._rows.clear()
                self._state = state
            got = {r: self._rows[r] for r in rowids if r in self._rows}
            for r in got:
                self._rows.move_to_end(r)
        missing = [r for r in dict.fromkeys(rowids) if r not in got]
        if missing:
            fresh = {int(r): packed for r, packed in read(missing)}
            got.update(fresh)
            with self._lock:
                if state == self._state:
                    self._rows.update(fresh)
                    while len(self._rows) > self.limit:
                        self._rows.popitem(last=False)
        return sorted(got.items())
