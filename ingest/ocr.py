"""Tesseract OCR for PDF pages without a text layer.

The page image is the largest picture embedded in the page (what a scanner writes); Tesseract
runs through pytesseract. Without the `tesseract` binary, callers get a one-line hint instead.
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import Any

INSTALL_HINT = "install tesseract-ocr (+ -swe -lav -fra -spa -eng) to read it (make system-ocr)"


@functools.cache
def tesseract_path() -> str | None:
    return shutil.which("tesseract")


@functools.cache
def _installed_langs() -> frozenset[str]:
    import pytesseract

    try:
        return frozenset(pytesseract.get_languages(config=""))
    except Exception:  # noqa: BLE001 - an odd install: let Tesseract itself complain later
        return frozenset()


def usable_langs(wanted: str) -> str:
    """`wanted` ("swe+lav+...") restricted to the installed language data; "eng" at worst."""
    have = _installed_langs()
    langs = [lang for lang in wanted.split("+") if lang and (not have or lang in have)]
    return "+".join(langs) or "eng"


def page_image(page: Any) -> Any | None:
    """The largest image drawn on a pypdf page, as a PIL image, or None."""
    best, best_area = None, 0
    try:
        images = list(page.images)
    except Exception:  # noqa: BLE001 - undecodable image streams: nothing to read
        return None
    for img in images:
        try:
            pil = img.image
        except Exception:  # noqa: BLE001
            continue
        if pil is None:
            continue
        area = pil.size[0] * pil.size[1]
        if area > best_area:
            best, best_area = pil, area
    if best is None or min(best.size) < 32:
        return None
    if best.mode not in ("L", "RGB", "1"):
        best = best.convert("RGB")
    return best


def ocr_image(image: Any, langs: str, timeout: float) -> str:
    """Text Tesseract reads in `image` (paragraphs separated by blank lines)."""
    import pytesseract

    # One OpenMP thread: pages are small and the machine is shared; parallelism comes from files.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return pytesseract.image_to_string(image, lang=usable_langs(langs), timeout=timeout or 0)
