"""Search and ask latency on the Milvus backend, next to the embedded one, on the same synthetic hub.

`bench/latency.py --backend milvus` runs this. For each size, the synthetic chunks of
`latency.py` (the same texts, vectors and questions) are written to Milvus through the
backend's own writer (`MilvusIndex.put_document`, 100 chunks a document, timed as "load"), and
to an embedded index by `latency.build`; then `Assistant.search` and `Assistant.ask` are timed
on both, one new question at a time after 10 warm-up questions, with the stages of a search
timed one by one on Milvus.

`--milvus-uri` picks the engine: a `.db` path (Milvus Lite in this process, the default, in
the work folder) or `http://host:19530` (a server; the collections get a `bench<n>` prefix).
With `--workdir`, the indexes a run with the same questions left there (Milvus: whole) are
measured again without rewriting them.

    .venv/bin/python bench/latency.py --backend milvus --sizes 10000 --questions 50
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
import time
from typing import Any

import numpy as np
from common import percentiles, report, table

from sihub.errors import SihubError


def build_milvus(settings: Any, n: int, vectors: np.ndarray, embedder_id: str, chunker: dict) -> float:
    """Write n synthetic chunks (those of `latency.build`) through the backend's writer; seconds."""
    import latency

    from sihub.index.backend import destroy_index, open_index
    from sihub.types import Chunk, Document

    destroy_index(settings)
    pools = latency.word_pools()
    langs = sorted(pools)
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    with open_index(settings, embedder_id, vectors.shape[1], chunker, writable=True, create=True) as index:
        for d0 in range(0, n, latency.CHUNKS_PER_DOC):
            doc_no = d0 // latency.CHUNKS_PER_DOC + 1
            lang = langs[doc_no % len(langs)]
            chunks, vecs = [], {}
            for i in range(d0, min(n, d0 + latency.CHUNKS_PER_DOC)):
                pool = pools[lang]
                text = " ".join(pool[rng.integers(0, len(pool) - latency.WORDS)] for _ in range(latency.WORDS))
                h = hashlib.sha256(f"{i}\n{text}".encode()).hexdigest()
                chunks.append(
                    Chunk(path="", text=text, page=1, heading="Section", lang=lang, end=len(text), hash=h, ord=i - d0)
                )
                vecs[h] = vectors[i]
            path = f"synthetic/{lang}/{doc_no:07d}.txt"
            for c in chunks:
                c.path = path
            doc = Document(path=path, title=f"Synthetic document {doc_no}", lang=lang, langs=[lang], sha256=path)
            index.put_document(doc, chunks, vecs)
        index.save()
    return time.perf_counter() - t0


def reused(settings: Any, n: int, embedder_id: str, work: Any, questions: list[str]) -> float | None:
    """With `--workdir`: the seconds the Milvus index of n chunks took to write, when a run with
    the same questions (the vectors are drawn around them) left it there whole; None to write it anew."""
    from sihub.index.backend import open_index

    built = work / f"milvus-{n}.json"
    if not built.exists() or json.loads(built.read_text()).get("questions") != questions:
        return None
    try:
        with open_index(settings, embedder_id) as index:
            if index.size != n or index.consistency_problems():
                return None
    except SihubError:
        return None
    print(f"... {n}: reusing the Milvus index in {settings.milvus_uri}", file=sys.stderr)
    return float(json.loads(built.read_text())["load_s"])


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t) * 1000


def measure(settings: Any, questions: list[str], ask: bool = True) -> dict[str, Any]:
    """Search (and with `ask`, ask) latency over `questions`, after 10 warm-up questions."""
    from latency import new_question

    from sihub.assistant import Assistant
    from sihub.ingest.lang import detect

    a = Assistant(settings)
    a.embedder.embed_queries(["warm"])
    for q in questions[:10]:
        a.search(q)
        if ask:
            a.ask(q)
    search_ms = [new_question(a, a.search, q) for q in questions]
    ask_ms = [new_question(a, a.ask, q) for q in questions] if ask else []
    index = a.index
    stages: dict[str, list[float]] = {k: [] for k in ("dense", "hits_for", "lexical")}
    for q in questions:
        lang = detect(q, "und", 12)
        qv = a.embedder.embed_queries([q])
        scored, ms = _timed(index.search_dense, qv[0], 10)
        stages["dense"].append(ms)
        stages["hits_for"].append(_timed(index.hits_for, scored)[1])
        stages["lexical"].append(_timed(index.search_lexical, q, 10, lang)[1])
    a.close()
    return {
        "search_ms": {k: round(v, 1) for k, v in percentiles(search_ms).items()},
        "ask_ms": {k: round(v, 1) for k, v in percentiles(ask_ms).items()},
        "stages_p50_ms": {s: round(percentiles(v)["p50"], 1) for s, v in stages.items()},
    }


def run(args: Any) -> int:
    import latency

    from sihub.settings import Settings

    info, questions, emb, qcentres, chunker, work, tmp = latency.setup(args, "sihub-bench-milvus-")
    rows, results = [], []
    try:
        for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
            vectors = latency.synthetic_vectors(qcentres, n, seed=n)
            uri = args.milvus_uri or str(work / f"milvus-{n}.db")
            common = {"embedder": args.embedder, "threads": args.threads}
            on_milvus = Settings.from_env(
                index=work / f"cache-{n}",
                backend="milvus",
                milvus_uri=uri,
                milvus_collection=f"bench{n}",
                **common,
            )
            load_s = reused(on_milvus, n, emb.id, work, questions) if args.workdir else None
            if load_s is None:
                load_s = build_milvus(on_milvus, n, vectors, emb.id, chunker)
                (work / f"milvus-{n}.json").write_text(json.dumps({"load_s": load_s, "questions": questions}))
            milvus = measure(on_milvus, questions, not args.no_ask)
            path = work / f"index-{n}"
            built_file = path / "bench-build.json"  # an embedded index a `--workdir` run left, as latency.py reuses it
            built = json.loads(built_file.read_text()) if built_file.exists() else {}
            if built.get("questions") != questions:  # the vectors are drawn around the questions'
                if path.exists():
                    from sihub.index.store import Index

                    Index.destroy(path)
                built = latency.build(path, n, vectors, emb.id, chunker) | {"questions": questions}
                built_file.write_text(json.dumps(built))
            embedded = measure(Settings.from_env(index=path, **common), questions, not args.no_ask)
            for name, m, load in (
                ("embedded", embedded, built["sqlite_load_s"] + built["faiss_build_s"]),
                ("milvus", milvus, load_s),
            ):
                rows.append(
                    [
                        n,
                        name,
                        m["search_ms"]["p50"],
                        m["search_ms"]["p95"],
                        m["ask_ms"]["p50"],
                        m["ask_ms"]["p95"],
                        round(load, 1),
                    ]
                )
            results.append(
                {"size": n, "embedded": embedded, "milvus": milvus, "milvus_load_s": round(load_s, 1), "uri": uri}
            )
            print(
                f"... {n}: milvus search p50 {milvus['search_ms']['p50']} ms, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
            del vectors
            gc.collect()
    finally:
        if tmp is not None:
            tmp.cleanup()
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    headers = ["chunks", "backend", "search p50 ms", "p95", "ask p50 ms", "p95", "load s"]
    stages = "\n".join(f"- {r['size']} chunks, Milvus stages p50 (ms): {r['milvus']['stages_p50_ms']}" for r in results)
    engine = (
        "Milvus Lite in-process (.db)" if not args.milvus_uri or args.milvus_uri.endswith(".db") else args.milvus_uri
    )
    body = (
        f"`python bench/latency.py {' '.join(args.argv)}` — {len(questions)} questions, "
        f"{engine}; load = writing the chunks (Milvus: through the backend's writer, one document of "
        f"100 chunks at a time; embedded: bulk SQL + FAISS build)\n\n{table(headers, rows)}\n\n{stages}\n"
    )
    report(
        "Search latency, Milvus backend beside embedded", body, info, {"results": results}, args.json, not args.no_save
    )
    return 0
