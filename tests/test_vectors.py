"""The FAISS index choice by size: IVF-SQ8 beyond a threshold, checked against brute force.

Real FAISS, real SQLite; the threshold is lowered so a few hundred vectors make an IVF index.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import sihub.index.vectors as vectors
from sihub.index.store import Index
from sihub.index.vectors import FLAT, IVF_SQ8, VectorIndex, VectorSpec, choose, ivf_spec
from sihub.types import Chunk, Document

DIM = 16


def clustered(n: int, seed: int = 0, centers: int = 12) -> np.ndarray:
    """Unit vectors around a few centres: the structure IVF relies on, like real embeddings."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, DIM))
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute(q: np.ndarray, ids: np.ndarray, mat: np.ndarray, k: int) -> list[int]:
    s = mat @ q
    order = np.argsort(-s, kind="stable")[:k]
    return [int(ids[i]) for i in order]


def test_choose_by_size_with_hysteresis():
    assert choose(10, flat_max=100).type == FLAT
    big = choose(101, flat_max=100)
    assert big.type == IVF_SQ8 and big.nlist >= 64 and 1 <= big.nprobe <= big.nlist
    assert choose(80, big, flat_max=100) is big  # no flip back just under the threshold
    assert choose(40, big, flat_max=100).type == FLAT
    assert choose(5 * big.trained_on, big, flat_max=100).trained_on == 5 * big.trained_on  # outgrown: retrain
    assert VectorSpec.from_json(big.to_json()) == big


def test_ivf_lists_fitted_and_coarse_indexes_rebuilt():
    """Lists and the share scanned follow the fit on real vectors (`ivf_spec`); an IVF index
    built with far fewer lists than that (the rule before the fit) is rebuilt on its next save,
    one built by the rule is kept."""
    n = 1_000_000
    spec = ivf_spec(n)
    assert spec.nlist == round(vectors.LISTS_PER_ROOT * n**0.5)
    assert spec.nprobe == spec.nlist // vectors.PROBE_SHARE
    assert choose(n, spec) is spec
    old = VectorSpec(IVF_SQ8, nlist=1000, nprobe=125, trained_on=n)  # sqrt(n) lists
    assert choose(n, old) == spec
    # Too few vectors to train the planned lists: `_train` made fewer (about 39 vectors each).
    capped = VectorSpec(IVF_SQ8, nlist=20_000 // 39, nprobe=64, trained_on=20_000)
    assert capped.nlist < ivf_spec(20_000).nlist
    assert choose(20_000, capped, flat_max=10_000) is capped


def test_ivf_with_rerank_matches_brute_force_and_filters():
    x = clustered(3000)
    ids = np.arange(1000, 4000, dtype=np.int64)
    table = dict(zip(ids.tolist(), x, strict=True))

    def batches(sel):
        for s in range(0, len(sel), 700):
            part = np.asarray(sel[s : s + 700], dtype=np.int64)
            yield part, np.stack([table[int(i)] for i in part])

    def exact(wanted):
        got = [i for i in wanted if i in table]
        return np.array(got, dtype=np.int64), np.stack([table[i] for i in got]).reshape(len(got), DIM)

    vi = VectorIndex.build(DIM, ivf_spec(3000), ids, batches)
    assert vi.spec.type == IVF_SQ8 and vi.ntotal == 3000
    assert sorted(vi.ids().tolist()) == ids.tolist()
    queries = clustered(40, seed=7)
    recall = []
    for q in queries:
        got = vi.search(q, 10, exact=exact, nprobe=vi.spec.nlist // 2)
        truth = brute(q, ids, x, 10)
        recall.append(len({i for i, _ in got} & set(truth)) / 10)
        # scores are exact cosines after re-ranking, best first
        assert all(abs(s - float(table[i] @ q)) < 1e-5 for i, s in got)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert np.mean(recall) >= 0.95

    # A filter returns only allowed ids; a small one is searched exhaustively (exact top-k).
    allowed = ids[::37]
    q = queries[0]
    got = vi.search(q, 5, ids=allowed, exact=exact)
    assert [i for i, _ in got] == brute(q, allowed, np.stack([table[int(i)] for i in allowed]), 5)
    # A large filter goes through the IVF index with a selector: still only allowed ids.
    many = ids[::2]
    monkey_max = vectors.EXACT_FILTER_MAX
    try:
        vectors.EXACT_FILTER_MAX = 10
        got = vi.search(q, 10, ids=many, exact=exact)
    finally:
        vectors.EXACT_FILTER_MAX = monkey_max
    assert got and set(i for i, _ in got) <= set(many.tolist())
    assert vi.search(q, 5, ids=np.array([], dtype=np.int64), exact=exact) == []

    # Removal (which HNSW could not do) and a file round trip.
    top = vi.search(q, 1, exact=exact)[0][0]
    assert vi.remove([top]) == 1
    assert top not in {i for i, _ in vi.search(q, 10, exact=exact)}


def _doc(i: int, vecs: np.ndarray) -> tuple[Document, list[Chunk], dict[str, np.ndarray]]:
    chunks, table = [], {}
    for j, v in enumerate(vecs):
        text = f"document {i} passage {j}"
        h = hashlib.sha256(text.encode()).hexdigest()
        chunks.append(Chunk(path=f"d{i}.txt", text=text, lang="en", ord=j, hash=h, end=len(text)))
        table[h] = v
    doc = Document(path=f"d{i}.txt", title=f"D{i}", lang="en", sha256=f"{i:064x}")
    return doc, chunks, table


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(vectors, "FLAT_MAX", 200)


def _eight_documents(path, x):
    """A new writable index at `path` holding eight documents of 50 of the vectors `x` each, saved."""
    index = Index.open(path, "test/v", DIM, {}, writable=True, create=True)
    for i in range(8):
        index.put_document(*_doc(i, x[i * 50 : (i + 1) * 50]))
    index.save()
    return index


def test_store_switches_to_ivf_and_keeps_semantics(tmp_path, small_threshold):
    x = clustered(400, seed=3)
    path = tmp_path / "idx"
    with _eight_documents(path, x) as index:
        assert json.loads((path / "manifest.json").read_text())["vectors"]["type"] == IVF_SQ8
        assert index.consistency_problems() == []
        assert index.remove_document("d0.txt")
        index.put_document(*_doc(0, x[:50]))  # re-added: new chunk ids
        assert index.consistency_problems() == []

    reader = Index.open(path, "test/v")
    assert reader.vectors.spec.type == IVF_SQ8
    with reader.db.read() as conn:
        rows = conn.execute("SELECT c.id, e.vec FROM chunks c JOIN embeddings e ON e.hash = c.hash").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    mat = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    for q in clustered(10, seed=11):
        got = [i for i, _ in reader.search_dense(q, 5)]
        assert len(set(got) & set(brute(q, ids, mat, 5))) >= 4
        allowed = ids[::9]
        filtered = reader.search_dense(q, 3, ids=allowed)
        assert [i for i, _ in filtered] == brute(q, allowed, mat[::9], 3)
    reader.close()

    # A lost FAISS file is rebuilt from SQLite, as the recorded type.
    for f in path.glob("vectors-*.faiss"):
        f.unlink()
    again = Index.open(path, "test/v")
    assert again.vectors.spec.type == IVF_SQ8 and again.size == 400 and again.consistency_problems() == []
    again.close()

    # Shrinking well below the threshold goes back to exact search.
    with Index.open(path, "test/v", DIM, {}, writable=True) as index:
        for i in range(1, 8):
            index.remove_document(f"d{i}.txt")
        index.save()
        assert index.vectors.spec.type == FLAT and index.size == 50
        assert index.consistency_problems() == []
    assert json.loads((path / "manifest.json").read_text())["vectors"] == {"type": FLAT}


@pytest.mark.parametrize("flat_max", [10_000, 200])
def test_vectors_read_inside_a_search_are_the_stored_ones(tmp_path, monkeypatch, flat_max):
    """Inside `consistent` a flat index gives the chunks' vectors from FAISS, byte for byte the
    ones SQLite stores; an IVF index, or an id FAISS does not hold, reads them from SQLite."""
    monkeypatch.setattr(vectors, "FLAT_MAX", flat_max)
    path = tmp_path / "idx"
    _eight_documents(path, clustered(400, seed=5)).close()
    reader = Index.open(path, "test/v")
    try:
        held = sorted(reader.vectors.ids().tolist())[::7]
        assert (reader.vectors.copies(held) is not None) == (reader.vectors.spec.type == FLAT)
        for wanted in (held, [*held, max(held) + 1000]):
            stored = reader.rows.vectors_by_id(wanted)
            read = reader.consistent(lambda wanted=wanted: reader.vectors_by_id(wanted))
            assert read.keys() == stored.keys() == set(held)
            assert all(read[i].dtype == np.float32 and np.array_equal(read[i], stored[i]) for i in held)
    finally:
        reader.close()
