"""SQLite schema as numbered migrations; `PRAGMA user_version` records how far a database is."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 5
"""The newest migration; an index with an older number is brought up to date when opened."""

MIGRATIONS: list[str] = [
    # 1: documents, chunks, the embedding cache, lexical index, metadata
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('generation', '0');
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        lang TEXT NOT NULL,
        langs TEXT NOT NULL DEFAULT '[]',
        pages INTEGER,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        mtime REAL NOT NULL DEFAULT 0,
        meta TEXT NOT NULL DEFAULT '{}',
        ingested_at TEXT NOT NULL
    );
    CREATE INDEX documents_sha ON documents(sha256);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        page INTEGER,
        heading TEXT NOT NULL DEFAULT '',
        lang TEXT NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        ocr INTEGER NOT NULL DEFAULT 0,
        text TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX chunks_doc ON chunks(doc_id, ord);
    CREATE INDEX chunks_hash ON chunks(hash);
    CREATE TABLE embeddings (hash TEXT PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID;
    CREATE VIRTUAL TABLE chunks_fts USING fts5(lex, tokenize = 'unicode61 remove_diacritics 2');
    """,
    # 2: per-language sums of the chunk vectors (float64 blob), kept in the same transaction as
    # the chunks, so the mean vector of each language is known without reading every vector.
    # An index that already has chunks is filled in once by the next writer ('pending').
    """
    CREATE TABLE lang_vectors (lang TEXT PRIMARY KEY, n INTEGER NOT NULL, sum BLOB NOT NULL);
    INSERT INTO meta VALUES ('lang_vectors', CASE WHEN EXISTS (SELECT 1 FROM chunks) THEN 'pending' ELSE 'ready' END);
    """,
    # 3: which version of its reader read each document (ingest.reader_version), so that a
    # file read by an older reader is read again by the next ingest. Earlier documents: 1.
    """
    ALTER TABLE documents ADD COLUMN reader INTEGER NOT NULL DEFAULT 1;
    """,
    # 4: what answers need, computed at ingest (index/answer_data.py): the vector of every
    # quotable span of a document's chunks (keyed by the sha256 of the text embedded), and the
    # index's words by chunk language with how many chunks hold them, each word's vector once.
    # `documents.answers` is 1 once a document's rows are in; earlier documents have 0 until
    # `sihub warm` fills them in.
    """
    CREATE TABLE quote_vectors (
        doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        key BLOB NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY (doc_id, key)
    );
    CREATE INDEX quote_vectors_key ON quote_vectors(key);
    CREATE TABLE words (lang TEXT NOT NULL, word TEXT NOT NULL, chunks INTEGER NOT NULL, PRIMARY KEY (lang, word))
        WITHOUT ROWID;
    CREATE TABLE word_vectors (word TEXT PRIMARY KEY, vec BLOB NOT NULL);
    ALTER TABLE documents ADD COLUMN answers INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: each chunk's lexical tokens as BM25 counts them (`bm25.Packed` of its `chunks_fts` text:
    # folded, two spaces apart) and their number, written with the chunk: a search scores a few
    # hundred chunks and no longer folds and splits their text again. An index that already has
    # chunks is filled in once by the next writer ('pending'; readers cut the text meanwhile).
    # (Run again over a table of an earlier run, it leaves the rows to that writer to redo.)
    """
    CREATE TABLE IF NOT EXISTS chunk_tokens (id INTEGER PRIMARY KEY, tokens TEXT NOT NULL, n INTEGER NOT NULL);
    INSERT OR REPLACE INTO meta VALUES
        ('chunk_tokens', CASE WHEN EXISTS (SELECT 1 FROM chunks) THEN 'pending' ELSE 'ready' END);
    """,
]


def migrate(conn: sqlite3.Connection) -> None:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS, start=1):
        if number > current:
            conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
