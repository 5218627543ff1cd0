"""Content terms of a question or a sentence, for term overlap in five languages.

A term is a lower-cased word that is not a function word; it is compared by its first five
letters, a crude stem that works the same way in every language (budget/budgets/budžets share
"budže" only by accident, but "konferenci"/"konferencē" and "financement"/"financé" do match).
Numbers keep all their digits.

Words are cut and folded as the lexical index cuts and folds them (`index/lexical.py`: `words`,
`fold`); the comparison key and the stop words stay this stage's own, language-blind ones (the
index stems and drops stop words per language): the answer figures were measured with them.
"""

from __future__ import annotations

from functools import lru_cache

from sihub.index.lexical import fold, words

# Function words and question words of the hub's languages (what carries no topic).
STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its many much of on or our so than that the their them there these they this those to was we were
    what when where which who whom whose why will with would about also any did does per there's
    och i på av en ett det den de som är var vad vilka vilken vilket hur när var varför med för till om
    från eller men att har hade kan ska skulle vi ni du jag han hon man sig sin sina sitt dess deras detta
    dessa denna vid mot under efter inom genom hos också mer mest många mycket finns fanns blev bli
    un una unos unas el la los las lo de del en y o que qué quién quiénes cuál cuáles cómo cuándo dónde
    cuánto cuánta cuántos cuántas por para con sin sobre es son fue fueron ha han hay se su sus al como
    más muy este esta estos estas ese esa eso le les nos
    le la les un une des du de d l et ou en au aux à a que qu qui quoi quel quelle quels quelles comment
    combien quand où pourquoi est sont été était ont avait pour par avec sans sur dans ce cet cette ces
    se sa son ses leur leurs il elle ils elles on nous vous y ne pas plus
    un ar par uz no pie kā kas kurš kura kuri kuras kad kur kāpēc cik ir bija būs ko kam kā vai bet arī
    jā tā tas šis šī šie tie to tam ka lai jo gan nav ir viņš viņa viņi mēs jūs savs savu savā
    """.split()
)


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


@lru_cache(maxsize=50_000)
def keys(text: str) -> frozenset[str]:
    """Comparison keys of the content words of `text` (remembered: an answer weighs the same
    passages' sentences question after question)."""
    return frozenset(key(w) for w in content_words(text))


def weight(k: str) -> float:
    """Numbers and long words say more about a topic than short words."""
    if any(ch.isdigit() for ch in k):
        return 2.0
    return 1.0 if len(k) >= 4 else 0.5
