"""Shared helpers of the benchmarks: run identity, percentiles, memory, the results file, inputs.

Every benchmark prints a table (or one JSON object with `--json`) and appends a section to
`bench/RESULTS.md` with the date, the commit and the machine load, since the 2 cores are shared.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from anywhere

RESULTS = ROOT / "bench" / "RESULTS.md"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
GOLD = ROOT / "tests" / "gold" / "questions.jsonl"


def run_info() -> dict[str, Any]:
    """When, at which commit, and how busy the machine was (load average over 1/5/15 min)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "unknown", ""
    return {
        "date": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),  # noqa: UP017
        "commit": commit + ("+dirty" if dirty else ""),
        "cpus": os.cpu_count(),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest-rank) and mean of `values`, in the values' unit."""
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    s = sorted(values)

    def rank(p: float) -> float:
        return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]

    return {"n": len(s), "p50": rank(50), "p95": rank(95), "p99": rank(99), "mean": statistics.fmean(s)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process, in MiB (Linux)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def anon_mb() -> float:
    """Anonymous resident memory of this process (heap, arrays: not the pages of files mapped
    into it, which the kernel can drop and read again), in MiB (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[fmt(c) for c in r] for r in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)


def command(script: str, argv: list[str] | None) -> str:
    """ "Command: `python bench/<script> <its arguments>`." for a section's footer (`argv`: those
    main() was given; None: the process's own)."""
    args = " ".join(argv if argv is not None else sys.argv[1:])
    return f"Command: `python bench/{Path(script).name} {args}`."


def report(title: str, body: str, info: dict[str, Any], data: dict[str, Any], as_json: bool, save: bool = True) -> None:
    """Print the table (or the JSON object) and append the section to bench/RESULTS.md."""
    if as_json:
        print(json.dumps({"benchmark": title, **info, **data}, ensure_ascii=False, default=float))
    else:
        print(body)
    if save:
        head = f"\n### {title} — {info['date']} — commit {info['commit']} — load {info['load']}\n\n"
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in `bench/`; newest last.\n")
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(head + body.rstrip() + "\n")


def eval_sets() -> list[Path]:
    """The BEIR-style retrieval sets under ../shared/eval (empty when absent)."""
    if not SHARED_EVAL.is_dir():
        return []
    return sorted(p for p in SHARED_EVAL.iterdir() if (p / "corpus.jsonl").exists())


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_eval_corpus(folder: Path, files: int = 1000, limit: int | None = None) -> int:
    """Write the shared eval passages (deduplicated) as about `files` text files; returns the count.

    Passages of one set are grouped in order, a few per file, under a folder per set, so the
    files look like short multi-paragraph documents in sv, lv, fr, es and en.
    """
    sets = []
    seen: set[str] = set()
    for s in eval_sets():
        passages = []
        for row in _jsonl(s / "corpus.jsonl"):
            text = (row.get("text") or "").strip()
            if text and text not in seen:
                seen.add(text)
                passages.append((row.get("title") or "", text))
        if passages:
            sets.append((s.name, passages))
    total = sum(len(p) for _, p in sets)
    if not total:
        return 0
    written = 0
    for name, passages in sets:
        n_files = max(1, min(len(passages), round(len(passages) * files / total)))
        for i in range(n_files):
            if limit is not None and written >= limit:
                return written
            group = passages[i * len(passages) // n_files : (i + 1) * len(passages) // n_files]
            title = group[0][0] or f"{name} {i + 1}"
            body = "\n\n".join(t for _, t in group)
            path = folder / name / f"{i + 1:04d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{title.replace('_', ' ')}\n\n{body}\n", encoding="utf-8")
            written += 1
    return written


def mixed_questions(n: int = 100) -> list[str]:
    """`n` questions in sv, lv, fr, es and en: the demo gold questions, then the eval queries, interleaved."""
    pools: dict[str, list[str]] = {}
    if GOLD.exists():
        for row in _jsonl(GOLD):
            pools.setdefault(row.get("lang", "und"), []).append(row["question"])
    for s in eval_sets():
        for row in _jsonl(s / "queries.jsonl")[:40]:
            pools.setdefault(row.get("lang") or s.name.split("_")[1][:2], []).append(row["text"])
    out: list[str] = []
    lists = [list(dict.fromkeys(v)) for _, v in sorted(pools.items())]
    i = 0
    while len(out) < n and any(i < len(v) for v in lists):
        for v in lists:
            if i < len(v) and len(out) < n:
                out.append(v[i])
        i += 1
    return out


# Debian's Chromium for the browser tests and the README screenshot (Playwright drives it).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Wait until `sihub serve` at `base` answers /api/health; False if it exits or `timeout` passes."""
    import httpx

    deadline = time.monotonic() + timeout
    # One client for all the polls: a bare `httpx.get` builds a TLS context each time (~40 ms).
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if client.get(f"{base}/api/health").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    return False


SIHUB = [sys.executable, "-m", "sihub.cli"]


@contextmanager
def served(index: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str, list[str], float]]:
    """`sihub serve` over `index` on a free loopback port, for the benches that time it through
    HTTP: (the process, its base URL, its output as it comes, the time it was started); the
    process group is stopped on the way out."""
    port = free_port()
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [*SIHUB, "--index", str(index), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        yield server, f"http://127.0.0.1:{port}", log, t0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
