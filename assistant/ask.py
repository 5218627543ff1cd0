"""Asking: resolve a follow-up, retrieve, weigh the evidence, let the verdict decide, then answer
(model or extractive).

`ask_stream` yields pieces of answer text as they are written and ends with the final
`Answer`, whose `answer` field is authoritative (a model's streamed text is checked, and
may be corrected, before it becomes the answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sihub.errors import LLMError
from sihub.types import Answer, Hit

from . import conversation
from .compose import compose, not_found
from .evidence import embed_spans, gather, rank_spans
from .i18n import hinted_language, label
from .llm import Backing, ChatClient, Streamed, build_messages, finish
from .query import normalise_filters, question_language, strip_filler
from .retrieve import city_documents, language_bias, place_documents
from .state import Evidence, Prepared, Resolved, Verdict
from .verdict import judge, measure

if TYPE_CHECKING:
    from .service import Assistant


def language_of(question: str, resolved: Resolved) -> str:
    """The question's language; a terse follow-up ("och i Lettland?") keeps the conversation's."""
    previous = None
    if resolved.followup_of:
        previous = resolved.language or question_language(resolved.followup_of)
        if sum(ch.isalpha() for ch in question) < 30:
            return hinted_language(question) or previous
    return question_language(question, fallback=previous or "en")


def retrieve(
    assistant: Assistant,
    query: str,
    k: int,
    filters: Any = None,
    more: bool = True,
    lang: str | None = None,
    naming: frozenset[str] | None = None,
) -> list[Hit]:
    """The `k` passages an answer is drawn from; then, unless `more` is false (an asker who
    names `k` gets those passages only), weighed with them but outside the relevance
    (`Hit.beside`):

    - the passages next to the best `Settings.ask_neighbours` of them (before and after, in
      their documents): the table with the figures, or the list a passage announces, often
      sits beside the passage the search ranks first;
    - the passages of the search's top `Settings.ask_deeper` that hold one of their best
      `Settings.ask_deeper_sentences` sentences: a passage on many things ranks low against a
      question in another language even when one of its sentences answers it.

    `lang` is the question's language (the chat's, for a terse follow-up); detected when None.
    `naming` are the documents naming the question's cities (`city_documents`; read when None).
    """
    s = assistant.settings
    langs = {v.lower() for v in normalise_filters(filters).get("lang", [])}

    def read() -> list[Hit]:
        depth = s.ask_deeper if more and s.ask_deeper_sentences else 0
        # The passages as the search ranks them before its page choice inside each document: the
        # evidence weighs every sentence of them (and the deeper look brings in the passages whose
        # sentences answer best), and the verdict was fitted on that ranking.
        hits, deeper = assistant.search_deeper(
            query, k, depth, filters=filters, per_document=s.ask_per_document, lang=lang, pages=False
        )
        if not hits or not more:
            return hits
        by_doc: dict[int | None, Hit] = {}
        for h in hits[: s.ask_neighbours]:
            by_doc.setdefault(h.chunk.doc_id, h)
        beside = [
            _beside(c, by_doc[c.doc_id])
            for c in assistant.index.neighbours([h.chunk for h in hits[: s.ask_neighbours]])
            if not langs or c.lang.lower() in langs
        ]
        have = {h.chunk.id for h in hits}
        hits = hits + [h for h in beside if h.chunk.id not in have]
        return hits + _best_sentences(assistant, query, hits, deeper, s.ask_deeper_sentences, lang, naming)

    return assistant.index.consistent(read)


def _translations(assistant: Assistant, query: str, lang: str | None = None) -> dict[str, dict[str, str]]:
    """The question's words in the index's other languages (`lexicon.py`): from the words the
    lexical search sees (chat filler left out), as the search took them."""
    return assistant.lexicon.translate(assistant.embedder, strip_filler(query), lang or question_language(query))


def _beside(chunk: Any, of: Hit) -> Hit:
    return Hit(chunk, of.score, title=of.title, doc_meta=of.doc_meta, beside=True)


def _best_sentences(
    assistant: Assistant,
    query: str,
    hits: list[Hit],
    deeper: list[Hit],
    n: int,
    lang: str | None = None,
    naming: frozenset[str] | None = None,
) -> list[Hit]:
    """The passages of `deeper` not among `hits` that hold one of the `n` best sentences of
    `deeper` (ranked as an answer ranks them), among the sentences whose vectors are known."""
    if not n or not deeper:
        return []
    qvec = assistant.embedder.embed_queries([query])[0]
    # The sentences of `hits` are weighed next anyway (so embedded now, once); of the others,
    # only those whose vectors are known (stored at ingest, or embedded by earlier answers):
    # embedding every sentence of forty passages would make a first question four times slower.
    embed_spans(hits, assistant.embedder, assistant.vectors)
    bias = language_bias(assistant.index, qvec, deeper)
    ranked = rank_spans(
        query,
        deeper,
        assistant.embedder,
        qvec,
        bias,
        known_only=True,
        translations=_translations(assistant, query, lang),
        vectors=assistant.vectors,
        place_docs=place_documents(city_documents(assistant.index, query) if naming is None else naming, deeper),
    )
    out: list[Hit] = []
    for c in ranked[:n]:
        h = deeper[c.hit]
        if not any(_overlap(h, o) for o in hits + out):
            # Weighed for one sentence, not for the whole passage's rank: its spans get the
            # passage score of the search's best passage (`ANSWER.passage_weight`).
            out.append(replace(h, beside=True, score=max(h.score, hits[0].score)))
    return out


def _overlap(a: Hit, b: Hit) -> bool:
    """Whether two passages share text (the same chunk, or joined passages that overlap)."""
    x, y = a.chunk, b.chunk
    if x.id == y.id:
        return True
    return x.path == y.path and x.page == y.page and x.start < y.end and y.start < x.end


def weigh(
    assistant: Assistant, query: str, hits: list[Hit], lang: str | None = None, naming: frozenset[str] | None = None
) -> Evidence:
    """The evidence `hits` offer for `query` (in language `lang`): their sentences scored against
    it (`evidence.gather`), ranked with the same language-bias correction as the search (a question
    in Swedish does not prefer Swedish sentences for their language alone)."""
    embedder = assistant.embedder
    lang = lang or question_language(query)
    qvec = embedder.embed_queries([query])[0]
    bias = language_bias(assistant.index, qvec, hits) if hits else None
    translations = _translations(assistant, query, lang)
    evidence = gather(
        query,
        hits,
        embedder,
        query_vec=qvec,
        lang_bias=bias,
        translations=translations,
        vectors=assistant.vectors,
        place_docs=place_documents(city_documents(assistant.index, query) if naming is None else naming, hits),
    )
    evidence.bias, evidence.translations = bias, translations
    return evidence


def decide(assistant: Assistant, query: str, lang: str, hits: list[Hit], evidence: Evidence) -> Verdict:
    """The verdict (`verdict.py`) on `evidence`: does it answer `query`?"""
    features, missing = measure(assistant.index, query, lang, hits, evidence, evidence.bias)
    kind = evidence.kind if evidence.kind_missing else None
    return judge(
        features,
        assistant.verdict_params,
        assistant.settings.answer_threshold,
        missing=missing,
        kind=kind,
        has_evidence=bool(evidence.sentences),
    )


def prepare(
    assistant: Assistant, question: str, k: int | None = None, history: Any = None, filters: Any = None
) -> Prepared:
    """Resolve a follow-up, retrieve, weigh the evidence and decide (`Settings.ask_k` passages, or
    the `k` an asker names, which are then the only ones weighed)."""
    resolved = conversation.resolve(question, history)
    lang = language_of(question, resolved)
    # The documents naming the question's cities, read once for the deeper look and the evidence.
    naming = city_documents(assistant.index, resolved.query)
    hits = retrieve(
        assistant, resolved.query, k or assistant.settings.ask_k, filters, more=not k, lang=lang, naming=naming
    )
    evidence = weigh(assistant, resolved.query, hits, lang, naming)
    verdict = decide(assistant, resolved.query, lang, hits, evidence)
    return Prepared(resolved, lang, hits, evidence, verdict)


def extractive(assistant: Assistant, question: str, p: Prepared) -> Answer:
    """The extractive answer `p` allows: cited quotes when the verdict found one, else "not in the documents"."""
    if not p.verdict.found:
        answer = not_found(question, p.lang, p.hits, missing=p.verdict.missing, kind=p.verdict.kind)
    else:
        answer = compose(
            question,
            p.lang,
            p.hits,
            assistant.embedder,
            query=p.resolved.query,
            followup_of=p.resolved.followup_of,
            evidence=p.evidence,
        )
    answer.confidence = p.verdict.probability
    return answer


def ask_stream(
    assistant: Assistant,
    question: str,
    k: int | None = None,
    history: Any = None,
    filters: Any = None,
) -> Iterator[str | Answer]:
    if not question.strip():
        text = label("en", "empty_question")
        yield text
        yield Answer(question, "en", False, text)
        return
    p = prepare(assistant, question, k, history, filters)
    if p.verdict.found and assistant.settings.llm_url:
        for item in _generate(assistant, question, p.lang, p.hits, p.evidence, p.resolved):
            if isinstance(item, Answer):
                item.confidence = p.verdict.probability
            yield item
        return
    answer = extractive(assistant, question, p)
    yield answer.answer
    yield answer


def _generate(
    assistant: Assistant,
    question: str,
    lang: str,
    hits: list[Hit],
    evidence: Evidence,
    resolved: Resolved,
) -> Iterator[str | Answer]:
    """The model's answer, streamed then checked (`llm.finish`); when nothing of it can be used,
    the extractive answer with a note that gives the true reason: the model could not be
    reached, timed out, answered with an error, said nothing, refused, cited no passage, or
    cited passages that do not back it (a note blaming the connection for an uncited answer
    sends the asker to fix the wrong thing). A refusal does not overturn the verdict, which
    found the passages answer: a small model refuses what they plainly say."""
    s = assistant.settings
    client = ChatClient(s.llm_url, s.llm_model, s.llm_api_key, s.llm_timeout, s.llm_max_tokens)
    # The model reads the passages whose sentences answer best, best first: all ten would
    # overflow the context window of a small local model.
    order = evidence.passages(s.llm_passages)
    given, given_evidence = [hits[i] for i in order], evidence.for_hits(order)
    backs = Backing(given, assistant.embedder)
    # Only checked sentences are shown as they come: a weak model's unbacked sentence must not
    # flash up in the chat before the checked answer replaces it.
    reply = Streamed(len(given), backs)
    try:
        for piece in client.stream(build_messages(question, lang, given)):
            if shown := reply.add(piece):
                yield shown
    except LLMError as exc:
        if exc.kind == "timeout":
            note = label(lang, "llm_timeout", seconds=f"{s.llm_timeout:g}")
        else:
            note = label(lang, "llm_unreachable" if exc.kind == "unreachable" else "llm_error", reason=str(exc))
    else:
        answer, checked = finish(question, lang, given, given_evidence, reply.reply, backs)
        if answer is not None:
            if answer.answer.startswith(reply.shown) and len(answer.answer) > len(reply.shown):
                yield answer.answer[len(reply.shown) :]
            yield answer
            return
        note = label(lang, checked.failure or "llm_empty")
    fallback = compose(
        question,
        lang,
        hits,
        assistant.embedder,
        query=resolved.query,
        followup_of=resolved.followup_of,
        evidence=evidence,
    )
    fallback.note = note
    if not reply.shown:  # the chat shows it come in, as an extractive answer (nothing to replace)
        yield fallback.answer
    yield fallback
