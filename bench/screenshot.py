"""Screenshot of the answered web chat over the demo corpus, and the server's start-up figures.

Builds (incrementally) an index of corpus/ in a temp folder, starts `sihub serve` on a free
loopback port, asks one question in Chromium and saves bench/screenshots/chat.png.

    python bench/screenshot.py [--index /tmp/sihub-demo-index] [--question "..."] [--width 1400]

Prints: seconds from launching `sihub serve` to a healthy server, and from pressing Enter to
the sources panel being filled (the first question, i.e. with nothing warmed by an earlier one).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import CHROMIUM, CHROMIUM_ARGS, free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("/tmp/sihub-demo-index"))
    ap.add_argument("--question", default="Vilka verktyg finns för att mäta social påverkan?")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "screenshots" / "chat.png")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    sihub = [sys.executable, "-m", "sihub.cli", "--index", str(args.index)]
    subprocess.run([*sihub, "ingest", "-q", "corpus"], cwd=ROOT, env=env, check=False)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen([*sihub, "serve", "--port", str(port)], cwd=ROOT, env=env)
    try:
        if not wait_healthy(base, proc, timeout=300):
            sys.exit("sihub serve exited or did not start within 300 s")
        ready = time.perf_counter() - started

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(base + "/", wait_until="domcontentloaded")
            page.wait_for_selector("#question textarea", timeout=60_000)
            page.fill("#question textarea", args.question)
            asked = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_selector("#sources .src-card", timeout=60_000)
            answered = time.perf_counter() - asked
            page.wait_for_timeout(400)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"server healthy after {ready:.1f} s (warm-up included)")
    print(f"first question answered in the browser after {answered:.2f} s")
    print(f"screenshot: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
