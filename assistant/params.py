"""The answer stage's tuned numbers, in one documented object (as `fusion.FusionParams` is for
the search). Each says what it does and how it was measured (`bench/answers.py`); code reads
them from `ANSWER`, none is written in module code.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _doc(text: str, default: float | int) -> float | int:
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class AnswerParams:
    lex_weight: float = _doc(
        "Weight of term overlap next to cosine similarity in a span's score. e5 cosines of a question "
        "against related and unrelated sentences sit within ~0.1 of each other, so a share of shared "
        "terms (0..1) moves the ranking without swamping it.",
        0.05,
    )
    kind_bonus: float = _doc(
        "Added to a span that holds what the question asks for: an amount, a date, a figure (kinds.py).", 0.02
    )
    max_quotes: int = _doc("Spans quoted in an answer, at most.", 5)
    list_bonus: float = _doc(
        "Added to a table or a list quoted whole when the question asks for several things: its rows "
        "and items are what is asked for (bench/answers.py: 0.05 and 0.08 give the same answers on the "
        "gold questions, 0.03 two fewer).",
        0.05,
    )
    focus_bonus: float = _doc(
        "Added besides to a table or list whose header, lead-in or heading names what the question asks "
        'several of (a table headed "Función | Contenido" for a question on functions): of the lists of '
        "a passage, that one answers (bench/answers.py: 0.02 and 0.04 give the same answers).",
        0.03,
    )
    kind_swap: float = _doc(
        "How far below a passage's best span a span of the same passage that holds the figure asked "
        "for may score and still be quoted instead.",
        0.03,
    )
    margin: float = _doc(
        "How far below the best span a span may score and still be quoted. The passage score spreads "
        "the scores by up to 0.045 (bench/answers.py: answerable gold questions cited at 0.05 / 0.06 / "
        "0.07 / 0.10: 103 / 104 / 104 / 104; at 0.06 an answer quotes 4.2 passages on average).",
        0.06,
    )
    passage_weight: float = _doc(
        "Weight of the search's score of a span's passage (its hybrid score, capped at `passage_cap`) "
        "in the span's score: a sentence's cosine alone is a weak judge between sentences a few "
        "hundredths apart (bench/answers.py, 116 answerable gold questions: 0.005 / 0.01 / 0.015 / "
        "0.02 / 0.03 / 0.05 cite 102 / 102 / 103 / 103 / 100 / 97 against 101 without it).",
        0.015,
    )
    place_bonus: float = _doc(
        "Added to a span whose document names a city the question names (in any language's form, "
        "`retrieve.documents_naming`), when some but not all of the passages' documents do: a question "
        "about one city's incubator is answered from the report on that city, not from a same-language "
        "report on another city, which e5 rates a few hundredths higher for its language alone (bench/answers.py, dev split, 66 "
        "answerable, 37 removal cases: 0 / 0.01 / 0.02 / 0.04 / 0.07 cite 57 / 58 / 58 / 59 / 59 and turn away "
        "25 / 25 / 25 / 25 / 23 removal cases; test at 0.04: cited 0.746 -> 0.778, found 0.825 -> 0.889, "
        "removal 0.697 -> 0.636).",
        0.04,
    )
    passage_cap: float = _doc("The passage score counted in `passage_weight`, at most.", 3.0)
    rel_lex: float = _doc(
        "Relevance (a summary of the evidence shown by bench/answers.py; the verdict decides) = best "
        "cosine + rel_lex x best term share + rel_contrast x (best - median cosine).",
        0.2,
    )
    rel_contrast: float = _doc("See `rel_lex`.", 0.5)


ANSWER = AnswerParams()
