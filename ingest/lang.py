"""Language detection: langdetect, seeded so the same text always gets the same answer."""

from __future__ import annotations

import re
import threading
from collections import Counter

SUPPORTED = ("sv", "lv", "fr", "es", "en")
_lock = threading.Lock()
_ready = False


def _factory():
    global _ready
    from langdetect import detector_factory

    if not _ready:
        detector_factory.DetectorFactory.seed = 0
        detector_factory.init_factory()
        _ready = True
    return detector_factory._factory


def detect(text: str, fallback: str = "und", min_letters: int = 20) -> str:
    """ISO 639-1 code of `text`, or `fallback` when it is too short or unclear."""
    if sum(ch.isalpha() for ch in text) < min_letters:
        return fallback
    from langdetect import LangDetectException

    with _lock:
        try:
            detector = _factory().create()
            detector.append(text[:3000])
            probs = detector.get_probabilities()
        except LangDetectException:
            return fallback
    if not probs or probs[0].prob < 0.6:
        return fallback
    return str(probs[0].lang)


def dominant(langs: list[str]) -> list[str]:
    """Languages by frequency, most frequent first, without "und"."""
    counts = Counter(lang for lang in langs if lang and lang != "und")
    return [lang for lang, _ in counts.most_common()]


_WORDS = re.compile(r"\w+", re.UNICODE)


def word_count(text: str) -> int:
    return len(_WORDS.findall(text))
