"""The typed state a question carries through the answer pipeline, each owned by the stage
that makes it:

    question (conversation.Resolved) -> retrieve (Hit) -> evidence (Sentence, Evidence)
        -> verdict (Verdict) -> compose (sihub.types.Answer)

`Prepared` holds them together once the verdict is in. A leaf module: it imports only the
shared types and the answer parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sihub.types import Hit

from .params import ANSWER


@dataclass
class Resolved:
    """How a question is searched for: `query`, and the earlier question it follows up (if any)."""

    question: str
    query: str
    followup_of: str | None = None
    language: str | None = None
    """The previous turn's language, for a follow-up too short to tell its own."""


@dataclass
class Sentence:
    """A candidate sentence: `hits[hit].chunk.text[start:end]`, with its scores."""

    hit: int
    start: int
    end: int
    sim: float = 0.0
    lex: float = 0.0
    score: float = 0.0
    fits: bool = True
    """Whether the span holds the kind of answer the question asks for (see kinds.py)."""
    unit: bool = False
    """For a question asking for a figure: whether the span gives one next to a word of the
    question (or its translation), `kinds.figure_of`."""
    whole: bool = False
    """Whether the span is a table or a list quoted whole (`spans.blocks`)."""
    vec: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Evidence:
    """What the passages offer for a question: scored sentences, best first, and a relevance."""

    sentences: list[Sentence]
    relevance: float
    """See `relevance()`."""
    bias: np.ndarray | None = field(default=None, repr=False)
    """Per hit, the language bias taken off its spans' cosines (`retrieve.language_bias`)."""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """The question's words in the index's other languages (`lexicon.Lexicon.translate`)."""
    kind: str | None = None
    """The kind of answer the question asks for: "money", "time", "score", "duration", "count" or None (kinds.py)."""

    def pool(self, margin: float = ANSWER.margin, limit: int = 2 * ANSWER.max_quotes) -> list[Sentence]:
        """The spans an answer may quote: the best ones, within `margin` of the top one."""
        if not self.sentences:
            return []
        floor = self.sentences[0].score - margin
        return [c for c in self.sentences[:limit] if c.score >= floor]

    @property
    def kind_missing(self) -> bool:
        """The question asks for an amount, a date or a figure and no quotable span holds one."""
        return self.kind is not None and not any(c.fits for c in self.pool())

    def passages(self, limit: int) -> list[int]:
        """Indices of the hits holding the best spans, best first, at most `limit`."""
        return list(dict.fromkeys(c.hit for c in self.sentences))[:limit]

    def for_hits(self, order: list[int]) -> Evidence:
        """This evidence over `[hits[i] for i in order]`: spans of other hits left out."""
        where = {old: new for new, old in enumerate(order)}
        kept = [replace(c, hit=where[c.hit]) for c in self.sentences if c.hit in where]
        return replace(self, sentences=kept)


@dataclass
class Verdict:
    """Whether the evidence answers the question, how sure the model is, and why not."""

    found: bool
    probability: float
    features: dict[str, float | None]
    missing: list[str] = field(default_factory=list)
    """Names, places and years of the question that no passage holds (shown in the not-found line)."""
    kind: str | None = None
    """The kind of answer asked for that no quotable passage offers ("money", "time", "score", "duration", "count")."""


@dataclass
class Prepared:
    """A question taken through the pipeline up to the verdict: what `compose` works from."""

    resolved: Resolved
    lang: str
    hits: list[Hit]
    evidence: Evidence
    verdict: Verdict
