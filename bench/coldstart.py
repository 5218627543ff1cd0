"""Cold start as a new user meets it: a fresh index, `sihub serve`, then 20 different questions.

Into a new temporary folder: `sihub ingest corpus/` (timed), then `sihub serve` on a free
loopback port (timed until /api/health answers), then 20 questions through `POST /api/ask`,
one after the other, each new to the server and each timed, with the load average beside
them. No `sihub warm` is run: whatever answers need must come with the ingest.

The questions are written here for this bench, about the kinds of things the demo corpus
holds (incubators, public procurement, impact measurement, competence centres, conferences),
in Swedish, Latvian, French, Spanish and English; they are not the gold questions.

    .venv/bin/python bench/coldstart.py
    .venv/bin/python bench/coldstart.py --index /tmp/idx --json --no-save    # reuse an index
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SIHUB, command, percentiles, report, run_info, served, table, wait_healthy

QUESTIONS = [
    ("en", "Which organisations run incubators for social enterprises?"),
    ("sv", "Hur kan kommuner använda sociala hänsyn i offentlig upphandling?"),
    ("fr", "Quels outils existent pour mesurer l'impact social d'une entreprise ?"),
    ("lv", "Kas ir sociālās inovācijas kompetences centrs?"),
    ("es", "¿Qué apoyo ofrece la incubadora a los proyectos seleccionados?"),
    ("en", "What did the final conference conclude about the competence centre?"),
    ("sv", "Vilka erfarenheter finns av sociala investeringsfonder?"),
    ("fr", "Comment un projet local peut-il être essaimé dans une autre ville ?"),
    ("lv", "Kādi ir labās prakses piemēri sociālajā uzņēmējdarbībā Latvijā?"),
    ("es", "¿Qué son las cláusulas sociales en la contratación pública?"),
    ("en", "How are support staff trained to advise social entrepreneurs?"),
    ("sv", "Hur går ett projekt över till ordinarie verksamhet?"),
    ("fr", "Qui finance les structures d'accompagnement de l'économie sociale ?"),
    ("lv", "Kā var izmērīt sociālo ietekmi?"),
    ("es", "¿Cuántas personas participaron en la conferencia intermedia?"),
    ("en", "Which partners took part in the cross-sector lab?"),
    ("sv", "Vad är en kunskapshubb för främjare av socialt företagande?"),
    ("fr", "Quels sont les résultats de l'incubateur en 2022 ?"),
    ("lv", "Kādas darbnīcas tika rīkotas iniciatīvu atbalstam?"),
    ("es", "¿Qué recomienda la hoja de ruta para un centro de competencias?"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, help="serve this index instead of ingesting the corpus into a new one")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    import httpx

    info = run_info()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    env.pop("SIHUB_ADMIN_PASSWORD", None)
    rows: list[list[object]] = []
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="sihub-bench-cold-") as tmp:
        index, ingest_s, ingest_load = args.index, None, None
        if index is None:
            index = Path(tmp) / "index"
            t = time.perf_counter()
            subprocess.run([*SIHUB, "--index", str(index), "ingest", "--quiet", str(args.corpus)], env=env,
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            ingest_s = time.perf_counter() - t
            ingest_load = [round(x, 2) for x in os.getloadavg()]
        env["SIHUB_LIBRARY"] = str(Path(tmp) / "library")
        with served(index, env) as (server, base, log, t0):
            if not wait_healthy(base, server, args.startup_timeout):
                raise SystemExit(
                    f"sihub serve did not start within {args.startup_timeout:.0f} s: {''.join(log)[-2000:]}"
                )
            ready_s = time.perf_counter() - t0
            with httpx.Client(base_url=base, timeout=120.0) as http:
                for i, (lang, q) in enumerate(QUESTIONS, start=1):
                    t = time.perf_counter()
                    r = http.post("/api/ask", json={"question": q})
                    ms = (time.perf_counter() - t) * 1000
                    times.append(ms)
                    found = r.json().get("found") if r.status_code == 200 else None
                    load1 = round(os.getloadavg()[0], 2)
                    rows.append(
                        [
                            i,
                            lang,
                            round(ms),
                            r.status_code,
                            found,
                            len(r.json().get("citations", [])) if r.status_code == 200 else 0,
                            load1,
                        ]
                    )
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    p = percentiles(times)
    data = {
        "ingest_s": round(ingest_s, 1) if ingest_s is not None else None,
        "ready_s": round(ready_s, 2),
        "ask_ms": {k: round(v, 1) for k, v in p.items()},
        "first_ms": round(times[0], 1),
        "max_ms": round(max(times), 1),
        "over_1s": sum(1 for t in times if t > 1000),
        "errors": sum(1 for r in rows if r[3] != 200),
        "questions": [{"lang": r[1], "ms": r[2], "status": r[3], "found": r[4]} for r in rows],
    }
    body = table(["#", "lang", "ms", "status", "found", "citations", "load 1 min"], rows)
    body += (
        f"\n\nFresh index: ingest {data['ingest_s']} s (load after {ingest_load}); server ready (health) in "
        f"{data['ready_s']} s; then 20 different questions through `POST /api/ask`, one at a time, no `sihub warm`: "
        f"first {data['first_ms']:.0f} ms, p50 {p['p50']:.0f} ms, p95 {p['p95']:.0f} ms, max {data['max_ms']:.0f} ms, "
        f"{data['over_1s']} over 1 s, {data['errors']} errors. Load before/after {info['load']} / {info['load_after']}. "
        + command(__file__, argv)
    )
    report("cold start (fresh index, serve, 20 new questions)", body, info, data, args.json, not args.no_save)
    return 0 if data["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
