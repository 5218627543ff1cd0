"""Screenshots of the hub's views beyond the chat (issue 23) over the demo corpus, and how long
each took to show in the browser.

Builds (incrementally) an index of corpus/ in a temp folder, starts `sihub serve` with a
coordinator password on a free loopback port and, in Chromium, saves to bench/screenshots/:

- practices.png: the "Best practices" catalogue filtered to one country;
- compare.png:   a question compared across the partner countries;
- gaps.png:      the "Gaps" tab after a few questions the documents cannot answer;
- quote.png:     a cited PDF page opened from a source card, the quote outlined.

    python bench/screenshot_views.py [--index /tmp/sihub-demo-index] [--width 1400] [--views gaps,quote]

The unanswered questions behind gaps.png are asked through `POST /api/ask` (recorded as the
chat's are).
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
PASSWORD = "screenshot-coordinator"
COMPARE = "Compare how the partner countries measure social impact"
QUOTE = "Vilka verktyg finns för att mäta social påverkan?"
UNANSWERED = [
    "How do fishing cooperatives in Iceland sell their catch?",
    "Hur säljer fiskekooperativ på Island sin fångst?",
    "Comment les coopératives de pêche islandaises vendent-elles leur poisson ?",
    "Which libraries in Porto lend tools to residents?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=Path("/tmp/sihub-demo-index"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "screenshots")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--views", default="practices,compare,quote,gaps", help="Which screenshots, comma-separated.")
    args = ap.parse_args()
    views = set(args.views.split(","))

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "SIHUB_ADMIN_PASSWORD": PASSWORD}
    sihub = [sys.executable, "-m", "sihub.cli", "--index", str(args.index)]
    subprocess.run([*sihub, "ingest", "-q", "corpus"], cwd=ROOT, env=env, check=False)
    args.out.mkdir(parents=True, exist_ok=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*sihub, "serve", "--port", str(port)], cwd=ROOT, env=env)
    took: dict[str, float] = {}
    try:
        if not wait_healthy(base, proc, timeout=300):
            sys.exit("sihub serve exited or did not start within 300 s")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.set_default_timeout(300_000)
            page.goto(base + "/", wait_until="domcontentloaded")
            page.wait_for_selector("#question textarea")

            if "practices" in views:
                page.get_by_role("tab", name="Best practices", exact=True).click()
                page.wait_for_selector("#practice-cards .practice-card")
                before = page.locator("#practice-cards .practice-card").count()
                t0 = time.perf_counter()
                page.click("#practice-country input")
                page.get_by_role("option").filter(has_text="Latvia").first.click()
                page.wait_for_function(f"document.querySelectorAll('#practice-cards .practice-card').length < {before}")
                took["catalogue filtered to one country"] = time.perf_counter() - t0
                page.screenshot(path=str(args.out / "practices.png"))
                page.get_by_role("tab", name="Chat", exact=True).click()

            if "compare" in views:
                t0 = time.perf_counter()
                page.fill("#question textarea", COMPARE)
                page.keyboard.press("Enter")
                page.wait_for_selector("#sources .src-group")
                took["comparison answered"] = time.perf_counter() - t0
                page.wait_for_timeout(400)
                page.screenshot(path=str(args.out / "compare.png"))
                page.click("#new-conversation")
                page.wait_for_function("document.querySelectorAll('#sources .src-card').length === 0")

            if "quote" in views:
                page.fill("#question textarea", QUOTE)
                page.keyboard.press("Enter")
                page.wait_for_selector("#sources .src-card a.open-doc[href*='page=']")
                t0 = time.perf_counter()
                with page.context.expect_page() as opened:
                    page.locator("#sources .src-card a.open-doc[href*='page=']").first.click()
                viewer = opened.value
                viewer.set_viewport_size({"width": args.width, "height": args.height})
                viewer.wait_for_selector("body[data-highlighted]")
                took["cited PDF page drawn and highlighted"] = time.perf_counter() - t0
                viewer.wait_for_timeout(300)
                viewer.screenshot(path=str(args.out / "quote.png"))
                viewer.close()

            if "gaps" in views:
                import httpx

                for question in UNANSWERED:
                    httpx.post(f"{base}/api/ask", json={"question": question}, timeout=300)
                page.get_by_role("tab", name="Gaps", exact=True).click()
                page.fill("#gaps-password input", PASSWORD)
                t0 = time.perf_counter()
                page.click("#gaps-show")
                page.wait_for_selector("#gaps-table tr.gap-topic")
                took["gaps grouped"] = time.perf_counter() - t0
                page.screenshot(path=str(args.out / "gaps.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    for what, seconds in took.items():
        print(f"{what}: {seconds:.2f} s")
    print(f"screenshots in {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
