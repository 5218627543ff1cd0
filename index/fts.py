"""The embedded index's lexical part: BM25 over SQLite FTS5, on the text sihub's own analyzer
writes (`lexical.analyze`: stems, identifiers), folded by the FTS5 tokenizer (`fts_token`).

Searches rank with FTS5's bm25(); the BM25 of given chunks is computed beside FTS5 from their
analysed text and the index's averages (`bm25.py`), so its cost follows the number of chunks
rather than how many chunks hold the query's words.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Hashable

import numpy as np

from . import bm25, lexical
from .fast_lexical import FastLexical
from .sqlite_db import Database, in_parts

# The lexical search's budget: when the query's terms are held by more chunks than this in all
# (FTS5 would rank every one of them), the rarest terms within it choose the candidates, and
# LEXICAL_CANDIDATES x k of those, scored on the whole query, give the top k (`search`).
# Measured at 100k chunks against exact FTS5 ranking, 100 mixed-language questions (bench/RESULTS.md,
# issue 22): budget 5,000 kept 0.90 of the top 10 and 0.66 of the top 100; 20,000 kept 1.00 and
# 0.97; 50,000 is exact for most questions there. An index under ~20,000 chunks is always exact.
LEXICAL_POSTINGS = 20_000
LEXICAL_CANDIDATES = 2
# From this many chunks on, the lexical top-k comes from the index's Tantivy copy when it is of
# the index's generation (`fast_lexical.py`): its candidates, scored here with FTS5's BM25. Below,
# FTS5 ranks exactly and fast enough (every eval set and the demo corpus are below).
FAST_MIN_ROWS = LEXICAL_POSTINGS
# Terms whose chunk counts are remembered for the index's current state (a few questions' worth).
COUNTS_REMEMBERED = 20_000


def fts_token(term: str) -> str:
    """A term as the FTS5 tokenizer (unicode61, remove_diacritics 2) stores it: lower case, no
    diacritics ("Göteborg" -> "goteborg")."""
    return bm25.fold(term)


class LexicalIndex:
    """The `chunks_fts` table: one row per chunk (rowid = chunk id), its analysed heading and text."""

    def __init__(
        self,
        db: Database,
        state: Callable[[], Hashable],
        fast: FastLexical | None = None,
        generation: Callable[[], int] | None = None,
    ) -> None:
        self.db = db
        self._state = state  # what the cached averages are keyed by (changes with every commit)
        self._averages: tuple[Hashable, tuple[int, float]] | None = None
        self.fast = fast  # the Tantivy copy, and the generation the readers see, for large indexes
        self._generation = generation
        self._tokens = bm25.TokenCache()
        self._counts: tuple[Hashable, dict[str, int]] = (None, {})  # term_counts, for one state
        self._counts_lock = threading.Lock()

    # ---- writing (inside the writer's transaction) -------------------------------------------

    @staticmethod
    def add(db: sqlite3.Connection, chunk_id: int, heading: str, text: str, lang: str) -> None:
        """Index a chunk: its analysed text in `chunks_fts`, and that text's tokens as BM25
        counts them in `chunk_tokens`."""
        lex = lexical.analyze(f"{heading}\n{text}", lang)
        db.execute("INSERT INTO chunks_fts (rowid, lex) VALUES (?, ?)", (chunk_id, lex))
        db.execute("INSERT INTO chunk_tokens (id, tokens, n) VALUES (?, ?, ?)", LexicalIndex.token_row(chunk_id, lex))

    @staticmethod
    def token_row(chunk_id: int, lex: str) -> tuple[int, str, int]:
        """A chunk's `chunk_tokens` row from its analysed text: (id, tokens as `bm25.Packed`
        holds them, how many)."""
        packed = bm25.Packed.of(lex)
        return chunk_id, packed.text, packed.n

    @staticmethod
    def delete(db: sqlite3.Connection, chunk_ids: list[int]) -> None:
        db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in chunk_ids])
        db.executemany("DELETE FROM chunk_tokens WHERE id = ?", [(i,) for i in chunk_ids])

    @staticmethod
    def reanalyse(db: sqlite3.Connection) -> None:
        """Fill the table again from the stored passages with this sihub's analyzer."""
        db.execute("DELETE FROM chunks_fts")
        db.execute("DELETE FROM chunk_tokens")
        rows = db.execute("SELECT id, heading, text, lang FROM chunks")
        while batch := rows.fetchmany(5_000):
            lex = [(i, lexical.analyze(f"{heading}\n{text}", lang)) for i, heading, text, lang in batch]
            db.executemany("INSERT INTO chunks_fts (rowid, lex) VALUES (?, ?)", lex)
            db.executemany(
                "INSERT INTO chunk_tokens (id, tokens, n) VALUES (?, ?, ?)", [LexicalIndex.token_row(*r) for r in lex]
            )
        db.execute("UPDATE meta SET value = 'ready' WHERE key = 'chunk_tokens'")

    @staticmethod
    def tokens_pending(db: sqlite3.Connection) -> bool:
        """Whether the index's chunks wait for their `chunk_tokens` rows (built before schema 5)."""
        row = db.execute("SELECT value FROM meta WHERE key = 'chunk_tokens'").fetchone()
        return bool(row) and row[0] == "pending"

    @staticmethod
    def fill_tokens(db: sqlite3.Connection) -> None:
        """Write the `chunk_tokens` rows of an index built before schema 5 from its analysed text
        (the text is not analysed again: the tokens are the ones searches have cut from it)."""
        db.execute("DELETE FROM chunk_tokens")
        rows = db.execute("SELECT rowid, lex FROM chunks_fts")
        while batch := rows.fetchmany(5_000):
            db.executemany(
                "INSERT INTO chunk_tokens (id, tokens, n) VALUES (?, ?, ?)", [LexicalIndex.token_row(*r) for r in batch]
            )
        db.execute("UPDATE meta SET value = 'ready' WHERE key = 'chunk_tokens'")

    # ---- searching ---------------------------------------------------------------------------

    def search(self, text: str, k: int, lang: str = "und", ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25 score, higher is better) from the FTS5 index.

        FTS5 ranks every row holding a term of the query. From `FAST_MIN_ROWS` chunks on, the
        index's Tantivy copy proposes the `LEXICAL_CANDIDATES`·k best on every term (block-max
        WAND skips what cannot reach them), when it is of this generation. Otherwise, when the
        query's terms together are held more than LEXICAL_POSTINGS times, only its rarest terms
        within that budget choose the candidates. Either way the candidates are then scored on
        the whole query, as FTS5 would score them (`bm25.py`). Smaller indexes are ranked
        exactly as before.
        """
        match = lexical.match_query(text, lang)
        if match is None or k <= 0:
            return []
        if ids is None:
            # The query's terms, analysed once for both ways round FTS5's full ranking (they
            # take single-token terms only: a term FTS5 reads as a phrase stays with FTS5).
            phrases = [bm25.tokens(t) for t in lexical.query_terms(text, lang)[:64]]
            terms = [p[0] for p in phrases] if phrases and all(len(p) == 1 for p in phrases) else None
            if terms:
                found = self._search_fast(terms, k)
                if found is None:
                    found = self._search_bounded(terms, k)
                if found is not None:
                    return found
        with self.db.read() as conn:
            if ids is None:
                rows = conn.execute(
                    "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                    "ORDER BY bm25(chunks_fts) LIMIT ?",
                    (match, k),
                ).fetchall()
            else:
                allowed = set(int(i) for i in ids)
                rows = [
                    r
                    for r in conn.execute(
                        "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                        "ORDER BY bm25(chunks_fts)",
                        (match,),
                    )
                    if r[0] in allowed
                ][:k]
        return [(int(r[0]), float(r[1])) for r in rows]

    def _search_fast(self, terms: list[str], k: int) -> list[tuple[int, float]] | None:
        """`search` through the Tantivy copy; None below `FAST_MIN_ROWS` chunks or while no copy
        of this generation is ready (one is then built in the background)."""
        if self.fast is None or self._generation is None:
            return None
        with self.db.read() as conn:
            rows, _ = self._fts_averages(conn)
        if rows < FAST_MIN_ROWS:
            return None
        found = self.fast.candidates(terms, max(LEXICAL_CANDIDATES * k, k), self._generation())
        return None if found is None else self._best(terms, found, k)

    def _search_bounded(self, terms: list[str], k: int) -> list[tuple[int, float]] | None:
        """`search` within the postings budget; None when the whole query fits in it."""
        if len(terms) < 2:
            return None
        df = self.term_counts(terms)
        if sum(df.values()) <= LEXICAL_POSTINGS:
            return None
        chosen: list[str] = []
        spent = 0
        for t in sorted(dict.fromkeys(terms), key=lambda t: df.get(t, 0)):
            if spent and spent + df.get(t, 0) > LEXICAL_POSTINGS:
                break  # (terms no chunk holds spend nothing: the rarest held term always comes in)
            chosen.append(t)
            spent += df.get(t, 0)
        if not spent:
            return []
        quoted = " OR ".join('"' + t.replace('"', '""') + '"' for t in chosen)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
                (quoted, max(LEXICAL_CANDIDATES * k, k)),
            ).fetchall()
        return self._best(terms, [int(r[0]) for r in rows], k)

    def _best(self, terms: list[str], candidates: list[int], k: int) -> list[tuple[int, float]]:
        """The `k` best of `candidates` by FTS5's BM25 on the whole query, best first."""
        scores = self._bm25_of(terms, candidates)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def terms_in(self, chunk_ids: list[int], terms: set[str]) -> dict[int, set[str]]:
        """Which of `terms` (as the lexical index stores them, `fts_token`) each chunk holds in
        its heading or text; chunks holding none are left out."""
        out: dict[int, set[str]] = {}
        if not chunk_ids or not terms:
            return out
        needles = [(t, bm25.Packed.needle(t)) for t in terms]
        for rowid, row in self._row_tokens([int(i) for i in chunk_ids]):
            held = {t for t, needle in needles if needle in row.text}
            if held:
                out[rowid] = held
        return out

    def _row_tokens(self, chunk_ids: list[int]) -> list[tuple[int, bm25.Packed]]:
        """(chunk id, tokens of its analysed text), remembered while the index is unchanged: read
        from `chunk_tokens`, cut from the analysed text for a chunk without a row there (an
        index built before schema 5 that no writer has opened since)."""

        def read(ids: list[int]) -> list[tuple[int, bm25.Packed]]:
            out: list[tuple[int, bm25.Packed]] = []
            with self.db.read() as conn:
                for part, marks in in_parts(ids):
                    q = f"SELECT id, tokens, n FROM chunk_tokens WHERE id IN ({marks})"
                    out.extend((i, bm25.Packed(toks, n)) for i, toks, n in conn.execute(q, part))
                missing = set(ids).difference(i for i, _ in out) if len(out) < len(ids) else ()
                for part, marks in in_parts(sorted(missing)):
                    q = f"SELECT rowid, lex FROM chunks_fts WHERE rowid IN ({marks})"
                    out.extend((i, bm25.Packed.of(lex)) for i, lex in conn.execute(q, part))
            return out

        return self._tokens.rows(self._state(), chunk_ids, read)

    def scores(self, text: str, lang: str, chunk_ids: list[int]) -> dict[int, float]:
        """BM25 (higher is better) of these chunks for a query, as FTS5's bm25() gives it; chunks
        matching no term are left out. Computed from the chunks' analysed text (`bm25.py`), so
        the cost follows the number of chunks, not how many chunks hold the query's words."""
        match = lexical.match_query(text, lang)
        if match is None or not chunk_ids:
            return {}
        phrases = [bm25.tokens(t) for t in lexical.query_terms(text, lang)[:64]]
        if all(len(p) == 1 for p in phrases):
            return self._bm25_of([p[0] for p in phrases], [int(i) for i in chunk_ids])
        return self.fts_scores(match, chunk_ids)

    def _bm25_of(self, phrases: list[str], chunk_ids: list[int]) -> dict[int, float]:
        """`bm25.score` of these chunks for single-token phrases (folded)."""
        df = self.term_counts(phrases)
        with self.db.read() as conn:
            rows, avgdl = self._fts_averages(conn)
        return bm25.score_packed(self._row_tokens(chunk_ids), phrases, df, rows, avgdl)

    def _fts_averages(self, conn: sqlite3.Connection) -> tuple[int, float]:
        """(rows, mean tokens per row) as FTS5's bm25() reads them (cached until the index changes)."""
        key = self._state()
        cached = self._averages
        if cached is not None and cached[0] == key:
            return cached[1]
        row = conn.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()
        value = bm25.averages(bytes(row[0])) if row else (0, 0.0)
        self._averages = (key, value)
        return value

    def fts_scores(self, match: str, chunk_ids: list[int]) -> dict[int, float]:
        """FTS5's own bm25() of these chunks for a MATCH expression."""
        out: dict[int, float] = {}
        with self.db.read() as conn:
            for part, marks in in_parts([int(i) for i in chunk_ids]):
                q = f"SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})"
                out.update((int(r[0]), float(r[1])) for r in conn.execute(q, [match, *part]))
        return out

    def search_terms(self, terms: list[str], k: int) -> tuple[list[tuple[int, float]], dict[str, int]]:
        """Chunks containing any of these analysed terms (as stored in the FTS column), top-k by
        BM25, and how many chunks contain each term (its document frequency)."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0:
            return [], {}
        quoted = {t: '"' + t.replace('"', '""') + '"' for t in terms}
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?",
                (" OR ".join(quoted.values()), k),
            ).fetchall()
        counts = self.term_counts([fts_token(t) for t in terms])
        return [(int(r[0]), float(r[1])) for r in rows], {t: counts.get(fts_token(t), 0) for t in terms}

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks hold each analysed term (as the FTS index stores it, see `fts_token`),
        0 for a term none holds. Read from the FTS vocabulary, so a frequent term costs no more
        than a rare one."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return {}
        # Remembered while the index is unchanged, as the averages are: a question asks for the
        # same terms several times (its search, the scores of the dense candidates, the names).
        state = self._state()
        with self._counts_lock:
            if self._counts[0] != state or len(self._counts[1]) > COUNTS_REMEMBERED:
                self._counts = (state, {})
            known = self._counts[1]
            got = {t: known[t] for t in terms if t in known}
        todo = [t for t in terms if t not in got]
        if todo:
            with self.db.read() as conn:
                conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)"
                )
                marks = ",".join("?" * len(todo))
                found = dict(conn.execute(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", todo))
            fresh = {t: int(found.get(t, 0)) for t in todo}
            got.update(fresh)
            with self._counts_lock:
                if self._counts[0] == state:
                    self._counts[1].update(fresh)
        return {t: got[t] for t in terms}
