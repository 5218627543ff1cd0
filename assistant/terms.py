"""Content terms of a question or a sentence, for term overlap in five languages.

A term is a lower-cased word that is not a function word; it is compared by its first five
letters, a crude stem that works the same way in every language (budget/budgets/budžets share
"budže" only by accident, but "konferenci"/"konferencē" and "financement"/"financé" do match).
Numbers keep all their digits.

Words are cut and folded as the lexical index cuts and folds them, and the stop words come from
the analyzer's language files (`index/lexical.py`: `words`, `fold`, `answer_stop_words`; a few
words in them are marked for one reader only, as measured). This stage reads sentences without
knowing their language, so its stop words are those of every language, and its comparison key
stays the language-blind five letters (the index stems per language).
"""

from __future__ import annotations

from functools import lru_cache

from sihub.index.lexical import answer_stop_words, fold, words

# What carries no topic, in any of the hub's languages: the stop words of every language's
# analyzer file (`index/lang/<code>.json`) that the answer stage reads.
STOPWORDS = answer_stop_words()


@lru_cache(maxsize=200_000)
def key(word: str) -> str:
    """The comparison key of a word: folded, cut to five letters unless it holds a digit."""
    w = fold(word)
    return w if any(ch.isdigit() for ch in w) else w[:5]


def content_words(text: str) -> list[str]:
    """The words of `text` that carry its topic, in order, without repeats (original spelling)."""
    seen: set[str] = set()
    out = []
    for w in words(text):
        low = w.lower()
        if low in STOPWORDS or low in seen or (len(low) < 2 and not low.isdigit()):
            continue
        seen.add(low)
        out.append(w)
    return out


# Texts whose keys `keys` remembers: about 1 kB each (a sentence's keys, some passages'), so
# ~9 MB at the most. 50,000 held 33 MB after 100 questions at 100k chunks and kept growing
# (bench/RESULTS.md, issue 22); a question weighs a few hundred sentences.
KEYS_REMEMBERED = 8_192


@lru_cache(maxsize=KEYS_REMEMBERED)
def keys(text: str) -> frozenset[str]:
    """Comparison keys of the content words of `text` (remembered: an answer weighs the same
    passages' sentences question after question)."""
    return frozenset(key(w) for w in content_words(text))


def weight(k: str) -> float:
    """Numbers and long words say more about a topic than short words."""
    if any(ch.isdigit() for ch in k):
        return 2.0
    return 1.0 if len(k) >= 4 else 0.5
