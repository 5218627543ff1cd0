"""`sihub serve` under load: 8 concurrent clients on 127.0.0.1 for 60 s.

Starts `sihub serve` on a free loopback port over an index of the demo corpus (built into a
temporary folder first, unless `--index` names one), measures the start-up time to the first
answer of `POST /api/ask`, then runs N client threads that each alternate `GET /api/search`
and `POST /api/ask` with mixed-language questions until the time is up. Reports requests/s,
p50/p95 latency per endpoint and errors (any non-200 answer or failed request). The server is
stopped at the end whatever happens; the run is bounded by `--duration` plus the start-up.

Examples:

    .venv/bin/python bench/serve.py                                  # builds the demo index first
    .venv/bin/python bench/serve.py --index .sihub/index --duration 20 --clients 4 --json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import ROOT, SIHUB, command, mixed_questions, percentiles, report, run_info, served, table


def build_index(index: Path, corpus: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([*SIHUB, "--index", str(index), "ingest", "--quiet", str(corpus)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t


def client(base: str, questions: list[str], offset: int, deadline: float, out: list[tuple[str, float, int]]) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=30.0) as http:
        i = offset
        while time.monotonic() < deadline:
            q = questions[i % len(questions)]
            kind = "search" if i % 2 == 0 else "ask"
            t = time.perf_counter()
            try:
                if kind == "search":
                    r = http.get("/api/search", params={"q": q, "k": 10})
                else:
                    r = http.post("/api/ask", json={"question": q})
                status = r.status_code
            except httpx.HTTPError:
                status = -1
            out.append((kind, (time.perf_counter() - t) * 1000, status))
            i += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, help="an existing index (default: build the demo corpus into a temp folder)")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    import httpx

    info = run_info()
    questions = mixed_questions(100)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    env.pop("SIHUB_ADMIN_PASSWORD", None)
    with tempfile.TemporaryDirectory(prefix="sihub-bench-serve-") as tmp:
        index = args.index
        build_s = None
        if index is None:
            index = Path(tmp) / "index"
            build_s = build_index(index, args.corpus, env)
        env["SIHUB_LIBRARY"] = str(Path(tmp) / "library")
        results: list[tuple[str, float, int]] = []
        startup = None
        with served(index, env) as (server, base, log, t0):
            while time.perf_counter() - t0 < args.startup_timeout and server.poll() is None:
                try:
                    r = httpx.post(f"{base}/api/ask", json={"question": questions[0]}, timeout=30.0)
                    if r.status_code == 200:
                        startup = time.perf_counter() - t0
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            if startup is None:
                raise SystemExit(
                    f"sihub serve gave no answer within {args.startup_timeout:.0f} s: {''.join(log)[-2000:]}"
                )
            deadline = time.monotonic() + args.duration
            threads = [
                threading.Thread(target=client, args=(base, questions, c * 7, deadline, results))
                for c in range(args.clients)
            ]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    by_kind: dict[str, Any] = {}
    for kind in ("search", "ask"):
        ms = [m for k, m, _ in results if k == kind]
        by_kind[kind] = {
            "requests": len(ms),
            "errors": sum(1 for k, _, s in results if k == kind and s != 200),
            **{k2: round(v, 1) for k2, v in percentiles(ms).items() if k2 != "n"},
        }
    data = {
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "requests": len(results),
        "requests_per_s": round(len(results) / elapsed, 2),
        "errors": sum(1 for _, _, s in results if s != 200),
        "startup_to_first_answer_s": round(startup, 2),
        "index_build_s": round(build_s, 1) if build_s is not None else None,
        "endpoints": by_kind,
    }
    rows = [[k, v["requests"], v["errors"], v["p50"], v["p95"], v["p99"]] for k, v in by_kind.items()]
    body = table(["endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms"], rows)
    body += (
        f"\n\n{args.clients} clients for {data['duration_s']} s on 127.0.0.1: {data['requests_per_s']} requests/s, "
        f"{data['errors']} errors; start-up to first answer {data['startup_to_first_answer_s']} s"
        + (f" (demo index built first in {data['index_build_s']} s)" if build_s is not None else "")
        + f". Load before/after {info['load']} / {info['load_after']}. "
        + command(__file__, argv)
    )
    report("serve", body, info, data, args.json, not args.no_save)
    return 0 if data["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
