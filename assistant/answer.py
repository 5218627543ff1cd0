"""Compose an answer from hits: numbered citations with verbatim quotes."""

from __future__ import annotations

from ingest import split_sentences
from sihub.types import Answer, Citation, Hit


def best_quote(text: str, query_terms: set[str]) -> str:
    """The sentence of `text` sharing most words with the query (verbatim from `text`)."""
    spans = split_sentences(text) or [(0, len(text))]
    best, best_score = spans[0], -1.0
    for s, e in spans:
        words = {w.lower() for w in text[s:e].split()}
        score = len(words & query_terms) / (1 + len(words) ** 0.5)
        if score > best_score:
            best, best_score = (s, e), score
    return text[best[0] : best[1]]


def compose(question: str, language: str, hits: list[Hit]) -> Answer:
    terms = {w.lower().strip("?,.!") for w in question.split()}
    citations = []
    lines = []
    for n, h in enumerate(hits, start=1):
        c = h.chunk
        quote = best_quote(c.text, terms)
        citations.append(
            Citation(
                n=n, file=c.path, title=h.title, page=c.page, lang=c.lang, heading=c.heading,
                text=c.text, quote=quote, score=h.score, chunk_id=c.id, meta=h.doc_meta,
            )
        )
        lines.append(f"- {quote} [{n}]")
    if not citations:
        return Answer(question, language, False, "No passage in the documents matches the question.")
    return Answer(question, language, True, "\n".join(lines), citations)
