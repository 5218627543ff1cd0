"""What answers need besides the chunks, computed at ingest and stored beside them.

An extractive answer scores every quotable span of its passages by the cosine of the span's
vector with the question's, and translates the question's words through the nearest words
the index holds in its other languages. Both depend only on the indexed text, so both are
computed when a document is added (with the ingest's fast embedding path) and stored in the
index's SQLite file, in the same transaction as its chunks:

- `quote_vectors`: per document, the vector of each text the answer embeds for a span (the
  span in context, `assistant/spans.py` says which), keyed by the sha256 of that text: a
  question reads them back by the text it would embed, and a text no row holds (a document
  ingested before, a changed title) is embedded then, as before;
- `words`: per chunk language, every word of three or more letters with the number of chunks
  holding it (the lexicon takes the most frequent, `assistant/lexicon.py`), and
  `word_vectors`: each such word's vector as a query, once whatever its languages.

Removing a document takes its quote rows and its words' counts away (a word no chunk holds
any more loses its vector at the next prune). A document whose rows are in has
`documents.answers = 1`; one ingested before schema 4 has 0 until `sihub warm` fills it in.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from sihub.types import Chunk

from . import lexical
from .sqlite_db import Database, in_parts

# Words shorter than this are not kept (the lexicon reads no shorter ones).
MIN_LETTERS = 3


def quote_key(text: str) -> bytes:
    """The key of a quote text: the sha256 of the exact text embedded."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def chunk_words(texts: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(language, word) -> how many of the chunks hold the word, from (chunk language, heading
    and text) pairs (`lexical_text`); chunks of unknown language are left out."""
    counts: Counter[tuple[str, str]] = Counter()
    for lang, text in texts:
        if lang in ("", "und"):
            continue
        for w in {w for w in lexical.tokens(text) if len(w) >= MIN_LETTERS and w.isalpha()}:
            counts[(lang, w)] += 1
    return counts


def lexical_text(chunk: Chunk) -> tuple[str, str]:
    """What `chunk_words` reads of a chunk: its language, and its heading and text."""
    return chunk.lang, f"{chunk.heading}\n{chunk.text}"


@dataclass
class AnswerData:
    """A document's rows for the answer tables, made by the ingest (`sync`)."""

    quotes: dict[bytes, np.ndarray] = field(default_factory=dict)
    """Vector of each quote text, by `quote_key`."""
    words: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(language, word) -> chunks holding it (`chunk_words`)."""
    word_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    """Vectors of the words the index did not hold yet."""
    embedded: int = 0
    """Of `quotes`, how many were embedded now (the others were in the index already)."""


def add(db: sqlite3.Connection, doc_id: int, data: AnswerData) -> None:
    """Store a document's rows, inside the caller's transaction."""
    db.executemany(
        "INSERT OR IGNORE INTO quote_vectors (doc_id, key, vec) VALUES (?, ?, ?)",
        [(doc_id, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in data.quotes.items()],
    )
    db.executemany(
        "INSERT INTO words (lang, word, chunks) VALUES (?, ?, ?) "
        "ON CONFLICT(lang, word) DO UPDATE SET chunks = chunks + excluded.chunks",
        [(lang, w, n) for (lang, w), n in data.words.items()],
    )
    db.executemany(
        "INSERT OR IGNORE INTO word_vectors (word, vec) VALUES (?, ?)",
        [(w, np.asarray(v, dtype=np.float32).tobytes()) for w, v in data.word_vectors.items()],
    )
    db.execute("UPDATE documents SET answers = 1 WHERE id = ?", (doc_id,))


def remove(db: sqlite3.Connection, doc_id: int) -> None:
    """Take a document's rows away (before its chunks are deleted), inside the caller's transaction."""
    row = db.execute("SELECT answers FROM documents WHERE id = ?", (doc_id,)).fetchone()
    db.execute("DELETE FROM quote_vectors WHERE doc_id = ?", (doc_id,))
    if not row or not row[0]:
        return  # its words were never counted
    rows = db.execute("SELECT lang, heading, text FROM chunks WHERE doc_id = ?", (doc_id,))
    counts = chunk_words((str(lang), f"{h}\n{t}") for lang, h, t in rows)
    db.executemany(
        "UPDATE words SET chunks = chunks - ? WHERE lang = ? AND word = ?",
        [(n, lang, w) for (lang, w), n in counts.items()],
    )
    db.execute("DELETE FROM words WHERE chunks <= 0")


def prune(db: sqlite3.Connection) -> int:
    """Drop the vectors of words no chunk holds any more."""
    return db.execute("DELETE FROM word_vectors WHERE word NOT IN (SELECT word FROM words)").rowcount


def known_words(db: sqlite3.Connection, words: list[str]) -> set[str]:
    """Which of `words` have a stored vector."""
    out: set[str] = set()
    for start in range(0, len(words), 500):
        part = words[start : start + 500]
        q = f"SELECT word FROM word_vectors WHERE word IN ({','.join('?' * len(part))})"
        out.update(str(r[0]) for r in db.execute(q, part))
    return out


def quote_vectors(db: sqlite3.Connection, keys: list[bytes], dim: int) -> dict[bytes, np.ndarray]:
    """The stored vectors of `keys` (those found)."""
    out: dict[bytes, np.ndarray] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        q = f"SELECT key, vec FROM quote_vectors WHERE key IN ({','.join('?' * len(part))})"
        for key, blob in db.execute(q, part):
            if len(blob) == dim * 4:
                out[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
    return out


class AnswerTables:
    """The embedded index's answer tables, read (`quote_vectors`, `words`, `word_vectors`)."""

    def __init__(self, db: Database, dim: int) -> None:
        self.db = db
        self.dim = dim

    def quote_vectors(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Stored vectors of quote texts by `quote_key` (those found)."""
        with self.db.read() as conn:
            return quote_vectors(conn, list(dict.fromkeys(keys)), self.dim)

    def known_words(self, words: list[str]) -> set[str]:
        """Which of `words` have a stored vector."""
        with self.db.read() as conn:
            return known_words(conn, words)

    def word_counts(self) -> list[tuple[str, str, int]]:
        """(language, word, chunks holding it) of the index's words, each language's most
        frequent first (ties alphabetical)."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT lang, word, chunks FROM words ORDER BY lang, chunks DESC, word").fetchall()
        return [(str(lang), str(w), int(n)) for lang, w, n in rows]

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of `words` (those found)."""
        out: dict[str, np.ndarray] = {}
        with self.db.read() as conn:
            for part, marks in in_parts(words):
                for w, blob in conn.execute(f"SELECT word, vec FROM word_vectors WHERE word IN ({marks})", part):
                    if len(blob) == self.dim * 4:
                        out[str(w)] = np.frombuffer(blob, dtype=np.float32)
        return out

    def missing(self) -> list[str]:
        """Paths of the documents whose answer rows are not in (ingested before schema 4)."""
        with self.db.read() as conn:
            return [str(r[0]) for r in conn.execute("SELECT path FROM documents WHERE answers = 0 ORDER BY path")]
