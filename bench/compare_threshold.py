"""Fit the comparison's per-country threshold (`assistant.compare.CompareParams.min_confidence`)
on public data, and time a comparison against a plain answer.

A comparison asks the question again within each country's documents that the overall answer
does not cite; that country's answer counts only at a verdict confidence of `min_confidence` or
above (within one country's few documents the verdict runs high for neighbouring topics). To
fit it, a hub of four "countries" is built from the public sets in ../shared/eval, each text
held by exactly one country, so the truth is known: for a question on a text, its country holds
the answer and the three others hold nothing on it.

- XQuAD-R: the first paragraph of each Wikipedia article (48), in English or Spanish, with one
  of its questions in English or Spanish (the language of question and text vary);
- NTREX-128: news articles in the country's own language (sv for SE, lv for LV, fr for FR, es
  for ES) with their English headline as the question.

Each question is asked within each country's documents (`Assistant.ask` with a country
filter), and the verdict's `found` and `confidence` are kept. The threshold with the best
balanced accuracy (mean of the share of answering countries kept and of the others dropped)
on the dev half of the texts is reported with its score on the held-out half, beside the
current setting. `--timing N` then times `compare` against one `ask` on N questions.

    python bench/compare_threshold.py [--ntrex 24] [--timing 8] [--no-save]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED_EVAL, percentiles, report, run_info, table  # noqa: E402

COUNTRIES = ("SE", "LV", "FR", "ES")
NTREX_TEXTS = {"SE": "ntrex_en-sv", "LV": "ntrex_en-lv", "FR": "ntrex_lv-fr", "ES": "ntrex_fr-es"}


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _qrels(folder: Path) -> dict[str, str]:
    with open(folder / "qrels.tsv", encoding="utf-8") as fh:
        next(fh)
        return dict(line.rstrip("\n").split("\t")[:2] for line in fh)


def held_out(key: str) -> bool:
    return hashlib.sha1(key.encode()).digest()[0] % 2 == 1


def xquad_cases(n: int) -> list[dict]:
    """One dict per text: its file name, title, text, country, question and half."""
    out = []
    paragraphs = {
        "en": {p["_id"]: p for p in _jsonl(SHARED_EVAL / "xquadr_en-en" / "corpus.jsonl")},
        "es": {p["_id"]: p for p in _jsonl(SHARED_EVAL / "xquadr_en-es" / "corpus.jsonl")},
    }
    questions = {
        "en": {q["_id"]: q["text"] for q in _jsonl(SHARED_EVAL / "xquadr_en-en" / "queries.jsonl")},
        "es": {q["_id"]: q["text"] for q in _jsonl(SHARED_EVAL / "xquadr_es-en" / "queries.jsonl")},
    }
    asked_on: dict[str, list[str]] = {}
    for qid, doc in _qrels(SHARED_EVAL / "xquadr_en-en").items():
        asked_on.setdefault(doc, []).append(qid.removeprefix("en-"))
    firsts: dict[str, str] = {}
    for pid, p in sorted(paragraphs["en"].items()):
        if pid in asked_on and f"es-{pid.removeprefix('en-')}" in paragraphs["es"]:
            firsts.setdefault(p["title"], pid)
    for i, (title, pid) in enumerate(sorted(firsts.items())[:n]):
        text_lang = ("en", "es")[i % 2]
        ask_lang = ("en", "es")[(i // 2) % 2]
        qid = sorted(asked_on[pid])[0]
        number = pid.removeprefix("en-")
        out.append(
            {
                "file": f"xquad/{number}.txt",
                "title": title.replace("_", " "),
                "text": paragraphs[text_lang][f"{text_lang}-{number}"]["text"],
                "country": COUNTRIES[i % 4],
                "question": questions[ask_lang][f"{ask_lang}-{qid}"],
                "held_out": held_out(title),
            }
        )
    return out


def ntrex_cases(n: int) -> list[dict]:
    headlines = {q["_id"].partition("-")[2]: q["text"] for q in _jsonl(SHARED_EVAL / "ntrex_en-sv" / "queries.jsonl")}
    texts = {
        c: {d["_id"].partition("-")[2]: d for d in _jsonl(SHARED_EVAL / s / "corpus.jsonl")}
        for c, s in NTREX_TEXTS.items()
    }
    out = []
    for i, article in enumerate(sorted(headlines)[:n]):
        country = COUNTRIES[i % 4]
        doc = texts[country][article]
        out.append(
            {
                "file": f"ntrex/{article}.txt",
                "title": doc.get("title") or "",
                "text": doc["text"],
                "country": country,
                "question": headlines[article],
                "held_out": held_out(article),
            }
        )
    return out


def build(folder: Path, items: list[dict]) -> None:
    lines = []
    for item in items:
        path = folder / item["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        title = f"# {item['title']}\n\n" if item["title"] else ""
        path.write_text(title + item["text"] + "\n", encoding="utf-8")
        lines.append(f"{item['file']}: {{country: {item['country']}, partner: P{item['country']}}}")
    (folder / "catalog.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def time_them(assistant: object, questions: list[str], share: bool = True) -> tuple[list[float], list[float]]:
    """Seconds of one `ask` (on the even questions) and of one `compare` by country (on the odd
    ones), each on a question never asked before. `share=False` detects the question's language
    at every ask, as before it was kept (the baseline of the sharing)."""
    from sihub.assistant import ask as ask_module
    from sihub.assistant.compare import compare
    from sihub.assistant.query import question_language

    ones, comps = [], []
    kept = ask_module.question_language
    if not share:
        ask_module.question_language = getattr(question_language, "__wrapped__", question_language)
    try:
        for i, question in enumerate(questions):
            forget()
            t0 = time.perf_counter()
            if i % 2:
                compare(assistant, question, "country")
                comps.append(time.perf_counter() - t0)
            else:
                assistant.ask(question)
                ones.append(time.perf_counter() - t0)
    finally:
        ask_module.question_language = kept
    return ones, comps


def timing_line(timing: tuple[list[float], list[float]]) -> str:
    ones, comps = timing
    one, comp = np.median(ones) * 1000, np.median(comps) * 1000
    return f"{len(ones)} fresh questions: one `ask` p50 {one:.0f} ms; {len(comps)} others: `compare` p50 {comp:.0f} ms ({comp / one:.1f}×)"


def forget() -> None:
    """Drop what the assistant keeps of the questions it was asked (their detected language)."""
    from sihub.assistant.query import question_language

    cache_clear = getattr(question_language, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


def balanced_accuracy(rows: list[tuple[bool, bool, float]], threshold: float) -> float:
    """rows: (holds the answer, found, confidence); kept = found and confidence >= threshold."""
    kept = np.array([f and c >= threshold for _, f, c in rows])
    truth = np.array([t for t, _, _ in rows])
    return float((kept[truth].mean() + (~kept[~truth]).mean()) / 2)


def main() -> None:
    from sihub.assistant import Assistant
    from sihub.assistant.compare import CompareParams
    from sihub.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xquad", type=int, default=48, help="XQuAD-R paragraphs (one per article, at most 48)")
    ap.add_argument("--ntrex", type=int, default=24, help="NTREX articles (0: XQuAD-R only)")
    ap.add_argument("--timing", type=int, default=8, help="questions timed as compare vs ask (twice as many are used)")
    ap.add_argument("--timing-only", action="store_true", help="skip the fit: time compare against ask only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    if not SHARED_EVAL.is_dir():
        sys.exit(f"{SHARED_EVAL}: not found (the public evaluation sets); nothing to fit on")

    items = xquad_cases(args.xquad) + ntrex_cases(args.ntrex)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        build(folder, items)
        assistant = Assistant(Settings.from_env(env={}, index=Path(tmp) / "index"))
        started = time.perf_counter()
        ingest = assistant.ingest([folder])
        ingest_s = time.perf_counter() - started
        assert not ingest.failed, ingest.summary()
        rows: dict[bool, list[tuple[bool, bool, float]]] = {False: [], True: []}
        ask_times = []
        for item in [] if args.timing_only else items:
            for country in COUNTRIES:
                t0 = time.perf_counter()
                answer = assistant.ask(item["question"], filters={"country": [country]})
                ask_times.append(time.perf_counter() - t0)
                row = (country == item["country"], bool(answer.found), float(answer.confidence or 0.0))
                rows[item["held_out"]].append(row)
        # Two disjoint sets of questions (other caches, e.g. query vectors, would favour a rerun).
        timed = [item["question"] for item in items[: 2 * args.timing]]
        timing = time_them(assistant, timed[0::2])
        unshared = time_them(assistant, timed[1::2], share=False)
        assistant.close()

    if args.timing_only:
        print(f"load {run_info()['load']}; {len(items)} texts")
        print(timing_line(timing))
        print(timing_line(unshared) + " (the question's language detected at each ask)")
        return
    grid = [round(x, 2) for x in np.arange(0.0, 1.0, 0.01)]
    best = max(grid, key=lambda th: (balanced_accuracy(rows[False], th), -abs(th - CompareParams().min_confidence)))
    current = CompareParams().min_confidence
    score_rows = [
        [th, half, balanced_accuracy(rows[h], th), len(rows[h])]
        for th in sorted({best, current})
        for half, h in (("dev", False), ("held-out", True))
    ]

    def spread(own: bool) -> str:
        confs = [c for half in rows.values() for t, f, c in half if t == own and f]
        if not confs:
            return "found 0"
        p10, p50, p90 = np.percentile(confs, [10, 50, 90])
        return f"found {len(confs)} times; p10 {p10:.2f}, p50 {p50:.2f}, p90 {p90:.2f}"

    asks = percentiles([t * 1000 for t in ask_times])
    body = (
        f"Fitted `min_confidence` (best balanced accuracy on the dev half): **{best}** (current setting "
        f"{current}). Texts: {len(items)} ({len(items) - min(args.ntrex, len(items))} XQuAD-R paragraphs, {args.ntrex} NTREX "
        f"articles), four countries; each question asked within each country (ingest {ingest_s:.0f} s, "
        f"an ask within one country p50 {asks['p50']:.0f} ms).\n\n"
        + table(["threshold", "half", "balanced accuracy", "question × country"], score_rows)
        + f"\n\nVerdict confidence where found: the answering country's {spread(True)}; the other countries' "
        f"{spread(False)}.\n"
    )
    steps = [th for th in grid if round(th * 100) % 5 == 0 and 0.3 <= th <= 0.9]
    body += (
        "\n"
        + table(
            ["threshold", *[str(th) for th in steps]],
            [
                [half, *[balanced_accuracy(rows[h], th) for th in steps]]
                for half, h in (("dev", False), ("held-out", True))
            ],
        )
        + "\n"
    )
    if timing[0]:
        body += f"\n{timing_line(timing)}; {timing_line(unshared)} (the question's language detected at each ask).\n"
    data = {"best": best, "current": current, "scores": score_rows, "timing": timing, "unshared": unshared}
    report("Compare: per-country threshold fitted on public texts", body, run_info(), data, args.json, not args.no_save)


if __name__ == "__main__":
    main()
