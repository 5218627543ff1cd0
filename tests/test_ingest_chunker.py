"""Chunks: structure first, then sentences, within the token budget; exact spans; no tiny leftovers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sihub.index.embedder import make_embedder
from sihub.ingest import Block, ChunkerConfig, Page, ParsedDocument, chunk_document, split_sentences
from sihub.ingest.lang import word_count

COUNT = make_embedder("hash").count_tokens
SENT = "Kommunen avsatte medel till sociala företag under året som gick. "


def doc(*pages: list[Block], paged: bool = True) -> ParsedDocument:
    return ParsedDocument("x", pages=[Page(i + 1 if paged else None, list(b)) for i, b in enumerate(pages)])


def test_tiny_section_joins_its_neighbour_under_the_common_heading():
    d = doc(
        [
            Block("Rapport", "heading", 1),
            Block("Bakgrund", "heading", 2),
            Block("Kort inledning om projektet."),
            Block("Resultat", "heading", 2),
            Block(SENT * 8),
        ]
    )
    chunks = chunk_document(d, ChunkerConfig(), COUNT, doc_lang="sv")
    assert len(chunks) == 1
    c = chunks[0]
    assert c.heading == "Rapport" and "Kort inledning" in c.text and "Resultat" in c.text
    assert d.pages[0].text[c.start : c.end] == c.text


def test_long_section_is_cut_into_balanced_chunks_with_overlap_and_whole_sentences():
    body = " ".join(f"Mening nummer {i} handlar om upphandling och sociala hänsyn i kommunen." for i in range(80))
    d = doc([Block("Upphandling", "heading", 1), Block(body)])
    cfg = ChunkerConfig(target_words=120, max_tokens=400, overlap=1)
    chunks = chunk_document(d, cfg, COUNT, doc_lang="sv")
    sizes = [word_count(c.text) for c in chunks]
    assert len(chunks) >= 6 and min(sizes) > 0.6 * max(sizes)  # no tiny tail
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end  # one sentence of overlap
    for c in chunks:
        assert c.text.startswith("Mening") and c.text.endswith("kommunen.")
        assert COUNT(c.embed_text()) <= cfg.max_tokens + COUNT(c.heading) + 2
        assert c.heading == "Upphandling"


def test_never_across_pages_and_heading_carries_over():
    d = doc([Block("Del ett", "heading", 1), Block(SENT * 2)], [Block(SENT * 2)])
    chunks = chunk_document(d, ChunkerConfig(), COUNT, doc_lang="sv")
    assert [c.page for c in chunks] == [1, 2]
    assert all(c.heading == "Del ett" for c in chunks)


def test_short_chunk_language_falls_back_to_the_document():
    d = doc([Block("Sociālā uzņēmuma likums stājās spēkā 2018. gadā un atbalsta uzņēmumus. " * 5)], [Block("OK.")])
    chunks = chunk_document(d, ChunkerConfig(), COUNT)
    assert [c.lang for c in chunks] == ["lv", "lv"]


def test_sentence_splitter_keeps_abbreviations_and_numbers():
    text = "Se t.ex. rapporten från 2022. Den visar 3.5 procent. Nästa mening!"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["Se t.ex. rapporten från 2022.", "Den visar 3.5 procent.", "Nästa mening!"]


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzåäöāēī", min_size=1, max_size=12)
sentences = st.lists(words, min_size=1, max_size=30).map(lambda ws: " ".join(ws).capitalize() + ".")
blocks = st.lists(
    st.one_of(
        st.lists(sentences, min_size=1, max_size=12).map(lambda ss: Block(" ".join(ss))),
        words.map(lambda w: Block(w.capitalize(), "heading", 2)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(blocks, min_size=1, max_size=3))
def test_spans_are_exact_and_cover_every_sentence(pages):
    d = doc(*pages)
    cfg = ChunkerConfig(target_words=60, max_tokens=200, overlap=1)
    chunks = chunk_document(d, cfg, COUNT, doc_lang="sv")
    for page in d.pages:
        text = page.text
        mine = [c for c in chunks if c.page == page.number]
        for c in mine:
            assert text[c.start : c.end] == c.text and c.text.strip() == c.text
        covered = set()
        for c in mine:
            covered.update(range(c.start, c.end))
        offset = 0
        for b in page.blocks:
            if b.kind != "heading":
                for s, e in split_sentences(b.text, offset):
                    assert s in covered and e - 1 in covered
            offset += len(b.text) + 2
