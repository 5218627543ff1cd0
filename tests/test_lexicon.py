"""The question's words in the index's other languages (assistant/lexicon.py), and their use by
the search and the answer: real index, real default embedder."""

from __future__ import annotations

import numpy as np
from conftest import assistant_over

from sihub.assistant.fusion import Candidates, FusionParams, fuse
from sihub.assistant.lexicon import Lexicon, question_words, vocabulary
from sihub.assistant.query import parse_query
from sihub.assistant.retrieve import retrieve

SV = {
    "sv/projekt.md": (
        "# Projektets organisation\n\n"
        "Stiftelsen ledde arbetspaket fyra om verktyg och metoder. Deltagarna kom från kommuner och regioner.\n"
    ),
    "sv/fika.md": "# Personalens fikarum\n\nKaffebryggaren i fikarummet byts ut under våren.\n",
}


# An English passage on the foundation that does not say which work package it led.
FOUNDATION_REPORT = (
    "# The foundation in the project\n\nThe foundation took part in the project from the start. "
    "Its work on the project is described in the annual report of the foundation.\n"
)


def test_question_words_are_content_words_once():
    assert question_words("Which work package did the foundation lead, and which work?", "en") == [
        "work",
        "package",
        "foundation",
        "lead",
    ]
    assert question_words("Cik dalībnieku 2022. gadā?", "lv") == ["dalībnieku", "gadā"]


def test_vocabulary_keeps_the_most_frequent_words_by_language(tmp_path):
    docs = {
        **SV,
        "sv/styrelse.md": "# Styrelsen\n\nStiftelsen och styrelsen träffas fyra gånger om året för att följa verktyg och metoder.\n",
    }
    with assistant_over(tmp_path, docs) as a:
        vocab = vocabulary(a.index)
        assert set(vocab) == {"sv"}
        assert "arbetspaket" in vocab["sv"] and "personalens" in vocab["sv"]  # headings too
        assert "och" not in vocab["sv"]
        # Words held by two chunks come first, then alphabetically; the limit keeps the first.
        assert vocab["sv"][:4] == ["fyra", "metoder", "stiftelsen", "verktyg"]
        assert vocabulary(a.index, limit=3)["sv"] == vocab["sv"][:3]
        # The chunks are read a page at a time: every one once, in order, whatever the page.
        texts = list(a.index.chunk_texts())
        assert len(texts) == 3 and list(a.index.chunk_texts(page=1)) == texts == list(a.index.chunk_texts(page=2))


def test_translations_come_with_the_ingest_and_are_kept(tmp_path):
    question = "Which work package did the foundation lead?"
    with assistant_over(tmp_path, SV) as a:
        a.search(question)  # attaches the index
        # The ingest embedded and stored every word of the index: no warm-up.
        assert set(a.index.word_vectors(vocabulary(a.index)["sv"])) == set(vocabulary(a.index)["sv"])
        got = a.lexicon.translate(a.embedder, question, "en")
        assert got["sv"]["lead"] == "ledde"
        assert got["sv"]["package"] == "arbetspaket"
        # No translation into the question's own language, none for an unknown language.
        assert a.lexicon.translate(a.embedder, "Vem ledde arbetspaketet?", "sv") == {}
        assert a.lexicon.translate(a.embedder, question, "und") == {}
        # Kept in the index: another process (a new lexicon on the same index) translates
        # without embedding the vocabulary, and `sihub warm` has nothing to do.
        assert a.warm_quotes().documents == 0
        other = Lexicon()
        other.attach(a.index)
        assert other.translate(a.embedder, question, "en") == got
        # A question whose words are all kept is not embedded word by word again.
        embedded: list[str] = []
        real = a.embedder.embed_queries

        def counting(texts: list[str]):  # noqa: ANN202
            embedded.extend(texts)
            return real(texts)

        a.embedder.embed_queries = counting
        try:
            got = other.translate(a.embedder, "Stiftelsen verktyg metoder", "en")
            assert got["sv"]["verktyg"] == "verktyg" and embedded == []
        finally:
            del a.embedder.embed_queries
        # A new document's words come with its ingest.
        (tmp_path / "docs" / "sv" / "budget.md").write_text(
            "# Budget\n\nBudgeten för projektet godkändes av styrelsen i mars, och den omfattar alla kostnader "
            "för personal och resor under de tre åren.\n"
        )
        a.ingest([tmp_path / "docs"])
        assert a.lexicon.translate(a.embedder, "Who approved the budget?", "en")["sv"]["budget"] in (
            "budget",
            "budgeten",
        )
        # Removed, its words go with it (those no other chunk holds).
        a.remove([p for p in (d.path for d in a.documents()) if p.endswith("budget.md")])
        assert "budgeten" not in vocabulary(a.index)["sv"]


def test_a_name_keeps_its_own_form_over_a_nearer_word(tmp_path):
    # To the embedder, the Latvian "rīku" (tools) is a little nearer to "riga" than "Rīga" is:
    # the name spelled the same but for its diacritics stands for it; a word spelled otherwise
    # still goes to its nearest translation.
    docs = {
        "lv/konference.md": (
            "# Konference Rīgā\n\nNoslēguma konference notika Rīgā. Rīga uzņēma dalībniekus, "
            "un darbnīcās izmantoja rīku komplektu.\n"
        ),
    }
    with assistant_over(tmp_path, docs) as a:
        a.search("conference")
        table = a.lexicon._vectors(a.embedder)
        words = table.langs["lv"].words
        matrix = table.langs["lv"].vectors(list(range(len(words))))
        sims = {w: float(matrix[i] @ a.embedder.embed_queries(["riga"])[0]) for i, w in enumerate(words)}
        assert max(sims, key=sims.get) == "rīku"  # what the nearest word alone would give
        got = a.lexicon.translate(a.embedder, "the conference in Riga", "en")["lv"]
        assert got["riga"] == "rīga"
        assert got["conference"] == "konference"


def test_search_finds_the_passage_holding_the_translated_words(tmp_path):
    from sihub.assistant.ask import prepare
    from sihub.assistant.verdict import QuestionWords, coverage

    # An English passage on the foundation without the answer outranks the Swedish one that
    # holds it, as the embedder prefers the question's language; the Swedish words for "work
    # package" and "lead" turn that round.
    question = "Which work package did the foundation lead?"
    with assistant_over(tmp_path, {**SV, "en/report.md": FOUNDATION_REPORT}) as a:
        a.use_caches()  # the lexicon reads the index's words
        first = [
            retrieve(
                a.index, a.embedder, parse_query(question), 2, params=FusionParams(translated=t), lexicon=a.lexicon
            )[0].chunk.path
            for t in (0.0, FusionParams().translated)
        ]
        assert first[0].endswith("report.md") and first[1].endswith("projekt.md")
        # Through the translations, the Swedish passage holds every word of the question: the
        # verdict's coverage sees it (an English passage could only share the names).
        p = prepare(a, question)
        sv = next(i for i, h in enumerate(p.hits) if h.chunk.path.endswith("projekt.md"))
        words = QuestionWords(a.index, question, "en", p.evidence.translations)
        assert coverage(words, p.hits)[0][sv] == 1.0
        assert p.verdict.features["cover"] == 1.0


def test_translated_bonus_goes_to_other_languages_only():
    c = Candidates(
        ids=np.array([1, 2, 3]),
        dense=np.array([0.80, 0.80, 0.80]),
        lexical=np.zeros(3),
        langs=["en", "sv", "sv"],
        translated=np.array([1.0, 1.0, 0.0]),
    )
    plain = fuse(c, "en", FusionParams(translated=0.0))
    scores = fuse(c, "en", FusionParams(translated=1.5))
    assert scores[0] == plain[0]  # the question's language: its own lexical score counts
    assert scores[1] - plain[1] == 1.5 and scores[2] == plain[2]
    # No passage in the question's language: the translated words weigh `translated_alone`.
    alone = fuse(c, "en", FusionParams(translated=1.5, translated_alone=2.0), lang_share=0.0)
    assert alone[1] - fuse(c, "en", FusionParams(translated=0.0, translated_alone=0.0), lang_share=0.0)[1] == 2.0
    assert (fuse(c, "en", FusionParams(translated=1.5, translated_alone=2.0), lang_share=0.3) == scores).all()


def test_a_fresh_assistant_searches_with_the_kept_translations(tmp_path):
    """The word vectors live in the index: a new Assistant over the same index (another
    process, `sihub search`) ranks as the first one, and its search translates as its answers do."""
    from sihub.assistant import Assistant

    question = "Which work package did the foundation lead?"
    with assistant_over(tmp_path, {**SV, "en/report.md": FOUNDATION_REPORT}) as a:
        warmed = [h.chunk.id for h in a.search(question, 3)]
        fresh = Assistant(a.settings, embedder=a.embedder)
        try:
            assert fresh.lexicon is not a.lexicon and fresh.vectors is not a.vectors
            assert [h.chunk.id for h in fresh.search(question, 3)] == warmed
            assert fresh.lexicon.translate(fresh.embedder, question, "en")["sv"]["package"] == "arbetspaket"
        finally:
            fresh.close()


def test_a_search_embeds_the_question_and_its_unknown_words_in_one_call(tmp_path, monkeypatch):
    """Words the lexicon does not keep but the index stores are read (the ingest embedded them as
    a question's words are embedded: the same vector); the words the index lacks go to the model
    with the question, in one call; the translations are those worked out word by word."""
    from sihub.assistant import lexicon as lexmod

    question = "Which package of tools did the foundation lead in spring?"
    with assistant_over(tmp_path, {**SV, "en/report.md": FOUNDATION_REPORT}) as a:
        monkeypatch.setattr(lexmod, "MAX_WORDS", 2)  # most of the index's words are not kept
        a.search("warm up")
        a.lexicon.clear()
        kept = {w for ws in vocabulary(a.index, 2).values() for w in ws}
        words = question_words(question, "en")
        stored = a.index.word_vectors(words)
        assert stored and set(stored).isdisjoint(kept) and set(words) - set(stored) - kept
        for w, v in stored.items():  # the stored vector is the one the question's path gives
            a.embedder.recent.clear()
            assert np.array_equal(v, a.embedder.embed_queries([w])[0])
        calls: list[list[str]] = []
        real = a.embedder.embed_queries

        def counting(texts: list[str]):  # noqa: ANN202
            calls.append(list(texts))
            return real(texts)

        a.embedder.recent.clear()
        a.embedder.embed_queries = counting
        try:
            a.search(question)
        finally:
            del a.embedder.embed_queries
        assert calls[0] == [question, *(w for w in words if w not in stored and w not in kept)]
        assert len(calls) == 1
        batched = a.lexicon.translate(a.embedder, question, "en")
        one_by_one = Lexicon()
        one_by_one.attach(a.index)
        assert one_by_one.translate(a.embedder, question, "en") == batched
