"""MRR@10 of the hybrid ranking on the public dev sets for other `FusionParams` values, cheaply.

Each judged query is searched once as `sihub eval` searches it (`evaluate._beir_scores`: the
same indexes, the warmed translations, `retrieve` at the same depth); what the fusion is given
(the candidates with all their scores, the question's language, the collection's share in it)
is kept, and the ranking is then made again for every value asked for, without searching
again. The default values are among them, so the first column reproduces `sihub eval`.

    .venv/bin/python bench/fusion_sweep.py --workdir /tmp/eval-wd same_lang=0.8,1,1.25,1.5
    .venv/bin/python bench/fusion_sweep.py --workdir /tmp/eval-wd --set ../shared/eval/swequad_sv-sv other_lang=0.3,0.5

A parameter given as NAME=V1,V2,... varies alone; the others keep their defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from common import command, eval_sets, report, run_info, table

from sihub.assistant import Assistant
from sihub.assistant import retrieve as retrieve_mod
from sihub.assistant.evaluate import corpus_key, load_beir, rank_units, score_ranking, write_corpus
from sihub.assistant.fusion import FusionParams
from sihub.assistant.query import parse_query
from sihub.index.backend import settings_for
from sihub.settings import Settings


def captured_queries(path: Path, settings: Settings, workdir: Path, k: int) -> list[dict[str, Any]]:
    """Per judged query of the set at `path`: what the fusion was given, the hits, and the qrels."""
    evalset = load_beir(path)
    base = workdir / f"corpus-{corpus_key(evalset)}"
    names = write_corpus(evalset, base / "docs")
    a = Assistant(settings_for(settings, base / "index", corpus_key(evalset)))
    a.ingest([base / "docs"], quotes=False)
    a.warm_words()
    seen: dict[str, Any] = {}
    fuse, prefer = retrieve_mod.fuse, retrieve_mod.prefer_fact_pages

    def keep_fuse(c, lang, params, lang_share=1.0):  # noqa: ANN001, ANN202
        seen.update(cands=c, lang=lang, share=lang_share)
        return fuse(c, lang, params, lang_share=lang_share)

    def keep_prefer(hits, scores, question, params):  # noqa: ANN001, ANN202
        seen.update(hits=list(hits), question=question)
        return prefer(hits, scores, question, params)

    out = []
    retrieve_mod.fuse, retrieve_mod.prefer_fact_pages = keep_fuse, keep_prefer
    try:
        depth = max(k * 5, 100)
        for q in evalset.queries:
            rel = evalset.qrels.get(str(q["_id"]))
            if not rel:
                continue
            seen.clear()
            retrieve_mod.retrieve(a.index, a.embedder, parse_query(str(q.get("text") or "")), depth, lexicon=a.lexicon)
            if "hits" in seen:
                out.append({**seen, "rel": rel, "depth": depth, "names": names})
    finally:
        retrieve_mod.fuse, retrieve_mod.prefer_fact_pages = fuse, prefer
        a.close()
    return out


def mrr(captured: list[dict[str, Any]], params: FusionParams, k: int, total: int) -> float:
    """Mean MRR@10 over the set's `total` judged queries (a query with no candidate scores 0)."""
    scores = []
    for c in captured:
        fused = retrieve_mod.prefer_fact_pages(
            c["hits"], retrieve_mod.fuse(c["cands"], c["lang"], params, lang_share=c["share"]), c["question"], params
        )
        order = np.argsort(-fused, kind="stable")[: c["depth"]]
        hits = [c["hits"][i] for i in order]
        ranked = rank_units(hits, lambda h, names=c["names"]: names.get(Path(h.chunk.path).name), max(k, 20))
        scores.append(score_ranking(ranked, c["rel"])["mrr@10"])
    return float(np.sum(scores) / max(total, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grid", nargs="+", help="NAME=V1,V2,... (FusionParams fields)")
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=Path,
        help="a set folder (repeat; default: every set in ../shared/eval)",
    )
    ap.add_argument("--workdir", type=Path, required=True, help="the indexes (`sihub eval --workdir`), reused")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)
    default = FusionParams()
    fields = {f.name: f.type for f in dataclasses.fields(FusionParams)}
    variants: list[tuple[str, FusionParams]] = [("default", default)]
    for item in args.grid:
        name, _, values = item.partition("=")
        if name not in fields:
            ap.error(f"{name}: not a FusionParams field")
        kind = type(getattr(default, name))
        for v in values.split(","):
            value = (v.lower() in ("1", "true", "yes")) if kind is bool else kind(v)
            if value != getattr(default, name):
                variants.append((f"{name}={v}", dataclasses.replace(default, **{name: value})))
    info = run_info()
    settings = Settings.from_env()
    sets = args.sets or eval_sets()
    rows, data = [], {}
    for path in sets:
        captured = captured_queries(path, settings, args.workdir, 10)
        judged = load_beir(path)
        total = sum(1 for q in judged.queries if judged.qrels.get(str(q["_id"])))
        got = {name: mrr(captured, p, 10, total) for name, p in variants}
        data[path.name] = got
        rows.append([path.name, total, *(round(v, 4) for v in got.values())])
        print(f"... {path.name}: {got}", file=sys.stderr)
    means = {name: float(np.mean([d[name] for d in data.values()])) for name, _ in variants}
    rows.append(["**mean**", "", *(round(v, 4) for v in means.values())])
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    body = table(["set", "queries", *(name for name, _ in variants)], rows)
    body += (
        f"\n\nMRR@10, hybrid; each column one `FusionParams` value, the rest default. Load before/after "
        f"{info['load']} / {info['load_after']}.\n" + command(__file__, argv)
    )
    report("fusion sweep (public dev sets)", body, info, {"mrr@10": data, "mean": means}, args.json, not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
