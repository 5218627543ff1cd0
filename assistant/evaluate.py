"""Retrieval evaluation: BEIR-style sets and the corpus's own gold questions.

A BEIR set is a folder with `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl`
({"_id", "text"}) and `qrels.tsv` (query-id, corpus-id, score; header line). Every corpus
entry is written as one text file and ingested into a throw-away index through the real
pipeline (reader, chunker, embedder, SQLite + FAISS); a retrieved chunk counts for the
document it belongs to, and documents are ranked by their best chunk.

Gold questions (`tests/gold/questions.jsonl`) are asked against the demo corpus: a hit is a
chunk of the gold file on the gold page (any page when the gold page is null).

Mixed-language pools (`mixed_pools`) are built from a folder of cross-lingual sets whose
documents exist in several languages under one id (`<lang>-<id>`, as NTREX and XQuAD-R have
them): for a set of questions in language Q over documents in language D, half of the
documents (by a hash of the id) stand in D and the other half in Q, and each question whose
document stands in D is asked; then the halves swap. So every gold document is in another
language than its question, and the index beside it holds documents in the question's own
language, of the same collection (for XQuAD-R, paragraphs of the same Wikipedia articles):
where an embedder's or a word match's preference for the question's language shows.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sihub.errors import BadInputError, IndexMismatchError, SihubError
from sihub.index.backend import settings_for
from sihub.index.embed_cache import CachedEmbedder, cache_path
from sihub.index.embedder import Embedder, make_embedder
from sihub.settings import Settings

from .query import parse_query
from .retrieve import retrieve
from .service import Assistant

METRICS = ("mrr@10", "ndcg@10", "recall@5", "recall@20")
MODES = ("hybrid", "dense", "lexical")


@dataclass
class EvalSet:
    name: str
    corpus: list[dict[str, Any]]
    queries: list[dict[str, Any]]
    qrels: dict[str, dict[str, int]]


@dataclass
class SetResult:
    name: str
    queries: int
    scores: dict[str, float]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queries": self.queries,
            **{m: round(self.scores[m], 4) for m in self.scores},
            **self.extra,
        }


# ---- reading sets ----------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[Any]:
    """One JSON value a line (blank lines skipped); a bad line is a BadInputError naming file and line."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise BadInputError(f"{path}:{n}: not JSON ({exc})") from None
    return rows


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """A BEIR file: every line an object with an "_id"."""
    if not path.is_file():
        raise BadInputError(f"{path}: missing (a BEIR set needs corpus.jsonl, queries.jsonl and qrels.tsv)")
    rows = _read_jsonl(path)
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "_id" not in row:
            raise BadInputError(f'{path}: entry {n}: an object with an "_id" is expected')
    return rows


def load_beir(folder: Path) -> EvalSet:
    """Read one BEIR-style set; a malformed file is a BadInputError naming it and the reason."""
    folder = Path(folder)
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = _jsonl(folder / "queries.jsonl")
    qrels_path = folder / "qrels.tsv"
    if not qrels_path.is_file():
        qrels_path = folder / "qrels" / "test.tsv"
    if not qrels_path.is_file():
        raise BadInputError(f"{folder / 'qrels.tsv'}: missing")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2 or not line.strip():
                continue
            if n == 1 and not parts[-1].strip().lstrip("-").isdigit():
                continue  # header
            try:
                grade = int(parts[2]) if len(parts) > 2 else 1
            except ValueError:
                raise BadInputError(f"{qrels_path}:{n}: score {parts[2]!r} is not a whole number") from None
            if grade > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = grade
    return EvalSet(folder.name, corpus, queries, qrels)


# ---- metrics ---------------------------------------------------------------------------------


def score_ranking(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    """MRR@10, nDCG@10, recall@5 and recall@20 of one ranked list of unit ids."""
    if not relevant:
        raise ValueError("a query without relevant units cannot be scored")
    rr = 0.0
    for i, unit in enumerate(ranked[:10]):
        if unit in relevant:
            rr = 1.0 / (i + 1)
            break
    dcg = sum((2 ** relevant.get(u, 0) - 1) / math.log2(i + 2) for i, u in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    seen5 = set(ranked[:5]) & relevant.keys()
    seen20 = set(ranked[:20]) & relevant.keys()
    return {
        "mrr@10": rr,
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@5": len(seen5) / len(relevant),
        "recall@20": len(seen20) / len(relevant),
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {m: 0.0 for m in METRICS}
    keys = rows[0].keys()
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


# ---- running ---------------------------------------------------------------------------------


def cached_embedder(settings: Settings) -> Embedder:
    """The settings' embedder behind the persistent cache in `settings.cache_dir`."""
    inner = make_embedder(settings.embedder, settings.threads)
    return CachedEmbedder(inner, cache_path(settings.cache_dir, inner.id))


def _file_name(n: int, doc_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", doc_id)[:80]
    return f"{n:06d}-{safe}.txt"


def write_corpus(evalset: EvalSet, folder: Path) -> dict[str, str]:
    """One text file per corpus entry (title as its first line); returns file name -> corpus id."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for n, row in enumerate(evalset.corpus):
        title = str(row.get("title") or "").strip()
        text = str(row.get("text") or "").strip()
        name = _file_name(n, str(row["_id"]))
        body = f"{title}\n\n{text}" if title else text
        path = folder / name
        data = (body + "\n").encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        names[name] = str(row["_id"])
    return names


def rank_units(hits: list, unit: Callable[[Any], str | None], limit: int) -> list[str]:  # noqa: ANN001
    """Unit ids ranked by their best chunk, first `limit` of them."""
    out: list[str] = []
    seen: set[str] = set()
    for h in hits:
        u = unit(h)
        if u is None or u in seen:
            continue
        seen.add(u)
        out.append(u)
        if len(out) >= limit:
            break
    return out


def corpus_key(evalset: EvalSet) -> str:
    """A content hash of a set's corpus: sets with the same documents share one index."""
    h = hashlib.sha256()
    for row in evalset.corpus:
        h.update(json.dumps([row.get("_id"), row.get("title"), row.get("text")], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def evaluate_beir(
    evalset: EvalSet,
    settings: Settings,
    embedder: Embedder,
    mode: str = "hybrid",
    k: int = 20,
    workdir: Path | None = None,
    max_queries: int | None = None,
    on_log: Callable[[str], None] | None = None,
) -> SetResult:
    """Ingest the set's corpus into an index under `workdir` (a fresh temporary one when None)
    and score every judged query. Indexes in `workdir` are keyed by corpus content and reused."""
    t0 = time.perf_counter()
    per_query = _beir_scores(evalset, settings, embedder, mode, k, workdir, max_queries, on_log)
    return SetResult(evalset.name, len(per_query), mean_scores(per_query), time.perf_counter() - t0)


def _beir_scores(
    evalset: EvalSet,
    settings: Settings,
    embedder: Embedder,
    mode: str,
    k: int,
    workdir: Path | None,
    max_queries: int | None,
    on_log: Callable[[str], None] | None,
) -> list[dict[str, float]]:
    """The scores of every judged query of one set (see `evaluate_beir`)."""
    with tempfile.TemporaryDirectory(prefix="sihub-eval-") as tmp:
        base = Path(workdir or tmp) / f"corpus-{corpus_key(evalset)}"
        names = write_corpus(evalset, base / "docs")
        assistant = Assistant(settings_for(settings, base / "index", corpus_key(evalset)), embedder=embedder)
        try:
            report = assistant.ingest([base / "docs"], quotes=False)  # a search reads no quote vectors
        except IndexMismatchError:  # built by another sihub version: start again
            report = assistant.ingest([base / "docs"], rebuild=True, quotes=False)
        if report.failed and on_log:
            on_log(f"{evalset.name}: {len(report.failed)} documents failed to ingest")
        assistant.warm_words()  # as served after the warm-up: the search's translations
        queries = [q for q in evalset.queries if evalset.qrels.get(str(q["_id"]))]
        if max_queries:
            queries = queries[:max_queries]
        per_query = []
        depth = max(k * 5, 100)
        assistant.use_caches()
        for q in queries:
            query = parse_query(str(q.get("text") or ""))
            hits = retrieve(
                assistant.index,
                assistant.embedder,
                query,
                depth,
                mode,
                lexicon=assistant.lexicon,
                vectors=assistant.vectors,
            )
            ranked = rank_units(hits, lambda h: names.get(Path(h.chunk.path).name), max(k, 20))
            per_query.append(score_ranking(ranked, evalset.qrels[str(q["_id"])]))
        assistant.close()
    return per_query


# ---- mixed-language pools ----------------------------------------------------------------------


@dataclass
class MixedPool:
    """Questions of set `gold` (language Q over documents in D), with half of the documents in
    Q instead, taken from set `other` (documents in Q under the same ids)."""

    name: str
    gold: Path
    other: Path


def _languages(path: Path) -> tuple[str, str, str] | None:
    """(source, question language, document language) of a set named like `ntrex_lv-fr`."""
    m = re.fullmatch(r"(\w+?)_([a-z]{2})-([a-z]{2})", path.name)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def mixed_pools(sets: list[Path]) -> list[MixedPool]:
    """A pool for every cross-lingual set among `sets` whose source has a set with documents in
    the question's language (preferably the one-language set of that language)."""
    named = {p: _languages(p) for p in sets if p.is_dir()}
    pools = []
    for path, langs in named.items():
        if langs is None or langs[1] == langs[2]:
            continue
        src, q, d = langs
        others = [p for p, ls in named.items() if ls and ls[0] == src and ls[2] == q]
        others.sort(key=lambda p: (named[p][1] != q, p.name))
        if others:
            pools.append(MixedPool(f"mixed_{src}_{q}-{d}", path, others[0]))
    return pools


def _half(base: str) -> int:
    return hashlib.sha256(base.encode()).digest()[0] % 2


def _base(doc_id: str) -> str:
    return doc_id.split("-", 1)[1] if "-" in doc_id else doc_id


def pool_halves(pool: MixedPool) -> list[EvalSet]:
    """The pool's two indexes, each with the questions whose document stands in D there."""
    gold, other = load_beir(pool.gold), load_beir(pool.other)
    in_q = {_base(str(r["_id"])): r for r in other.corpus}
    halves = []
    for h in (0, 1):
        corpus = [r for r in gold.corpus if _half(_base(str(r["_id"]))) == h]
        corpus += [r for b, r in in_q.items() if _half(b) != h]
        qrels = {qid: rel for qid, rel in gold.qrels.items() if all(_half(_base(doc)) == h for doc in rel)}
        queries = [q for q in gold.queries if str(q["_id"]) in qrels]
        corpus.sort(key=lambda r: str(r["_id"]))  # the same index for the pools of both directions
        halves.append(EvalSet(f"{pool.name}/{h}", corpus, queries, qrels))
    return halves


def evaluate_pool(
    pool: MixedPool,
    settings: Settings,
    embedder: Embedder,
    mode: str = "hybrid",
    k: int = 20,
    workdir: Path | None = None,
    max_queries: int | None = None,
    on_log: Callable[[str], None] | None = None,
) -> SetResult:
    """Score a mixed-language pool: both halves, their questions together."""
    t0 = time.perf_counter()
    per_query: list[dict[str, float]] = []
    for half in pool_halves(pool):
        limit = (max_queries + 1) // 2 if max_queries else None
        per_query += _beir_scores(half, settings, embedder, mode, k, workdir, limit, on_log)
    result = SetResult(pool.name, len(per_query), mean_scores(per_query), time.perf_counter() - t0)
    result.extra = {"mixed": True}
    return result


def load_gold(path: Path) -> list[dict[str, Any]]:
    return _read_jsonl(path)


def evaluate_gold(
    gold_path: Path,
    corpus: Path,
    settings: Settings,
    embedder: Embedder,
    mode: str = "hybrid",
    k: int = 20,
    workdir: Path | None = None,
) -> SetResult:
    """Answerable gold questions against the demo corpus: gold file and page among the hits."""
    t0 = time.perf_counter()
    gold = [g for g in load_gold(gold_path) if g.get("answerable", True) and g.get("file")]
    if not corpus.is_dir():
        raise SihubError(f"{corpus}: the corpus folder the gold questions refer to is missing")
    with tempfile.TemporaryDirectory(prefix="sihub-gold-") as tmp:
        index_dir = Path(workdir or tmp) / "gold-index"
        assistant = Assistant(settings_for(settings, index_dir, "gold"), embedder=embedder)
        try:
            assistant.ingest([corpus], quotes=False)
        except IndexMismatchError:
            assistant.ingest([corpus], rebuild=True, quotes=False)
        prefix = str(corpus).rstrip("/") + "/"
        # A reused work folder may hold the corpus under another spelling of its path ("corpus"
        # then "/work/corpus"): the index is the evaluation's own, so only this corpus stays.
        foreign = [d.path for d in assistant.documents() if not d.path.startswith(prefix)]
        if foreign:
            assistant.remove(foreign)
        assistant.warm_words()
        assistant.use_caches()
        per_query = []
        misses = []
        for g in gold:
            query = parse_query(str(g["question"]))
            hits = retrieve(
                assistant.index,
                assistant.embedder,
                query,
                max(k * 5, 100),
                mode,
                lexicon=assistant.lexicon,
                vectors=assistant.vectors,
            )
            file = str(g["file"])
            page = g.get("page")

            def unit(h: Any, file: str = file, page: Any = page) -> str | None:
                rel = h.chunk.path.removeprefix(prefix)
                if rel == file and (page is None or h.chunk.page == page):
                    return "gold"
                return f"{rel}#{h.chunk.page}"

            ranked = rank_units(hits, unit, max(k, 20))
            scores = score_ranking(ranked, {"gold": 1})
            per_query.append(scores)
            if scores["recall@5"] < 1:
                misses.append(str(g.get("id")))
        assistant.close()
    scores = mean_scores(per_query)
    result = SetResult(gold_path.stem if gold_path.stem != "questions" else "gold", len(per_query), scores)
    result.extra = {"gold_page_top5": round(scores["recall@5"], 4), "misses": misses}
    result.seconds = time.perf_counter() - t0
    return result


def expand_sets(paths: list[Path]) -> list[Path]:
    """BEIR set folders and gold files named by `paths`; a folder of sets stands for all of them."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file() and p.suffix == ".jsonl":
            out.append(p)
        elif (p / "corpus.jsonl").is_file():
            out.append(p)
        elif p.is_dir():
            subs = sorted(d for d in p.iterdir() if (d / "corpus.jsonl").is_file())
            if not subs:
                raise SihubError(
                    f"{p}: neither a BEIR set (corpus.jsonl, queries.jsonl, qrels.tsv) nor a folder of them"
                )
            out.extend(subs)
        else:
            raise SihubError(f"{p}: no such set folder or gold file")
    return out


def run_eval(
    paths: list[Path],
    settings: Settings,
    mode: str = "hybrid",
    k: int = 20,
    corpus: Path = Path("corpus"),
    workdir: Path | None = None,
    max_queries: int | None = None,
    embedder: Embedder | None = None,
    on_result: Callable[[SetResult], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    mixed: bool = True,
) -> dict[str, Any]:
    """Evaluate every set; returns {"mode", "k", "sets": [...], "mean": {...}}, and with `mixed`,
    for the folders of sets named, their mixed-language pools apart: "mixed": [...],
    "mixed_mean" (the mean of the sets is over the sets only)."""
    if mode not in MODES:
        raise SihubError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
    embedder = embedder or cached_embedder(settings)
    results: list[SetResult] = []
    mixed_results: list[SetResult] = []
    sets = expand_sets(paths)
    # Pools of the folders of sets named (not of sets named one by one).
    folders = [Path(p) for p in paths if Path(p).is_dir() and not (Path(p) / "corpus.jsonl").is_file()]
    pools = mixed_pools([s for s in sets if any(s.parent == f for f in folders)]) if mixed else []
    with tempfile.TemporaryDirectory(prefix="sihub-eval-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        for path in sets:
            if path.is_file():
                res = evaluate_gold(path, corpus, settings, embedder, mode, k, root)
            else:
                res = evaluate_beir(load_beir(path), settings, embedder, mode, k, root, max_queries, on_log)
            results.append(res)
            if on_result:
                on_result(res)
        for pool in pools:
            res = evaluate_pool(pool, settings, embedder, mode, k, root, max_queries, on_log)
            mixed_results.append(res)
            if on_result:
                on_result(res)
    mean = mean_scores([r.scores for r in results]) if results else {}
    report: dict[str, Any] = {
        "mode": mode,
        "k": k,
        "sets": [r.to_json() for r in results],
        "mean": {m: round(v, 4) for m, v in mean.items()},
    }
    if mixed_results:
        report["mixed"] = [r.to_json() for r in mixed_results]
        report["mixed_mean"] = {m: round(v, 4) for m, v in mean_scores([r.scores for r in mixed_results]).items()}
    return report
