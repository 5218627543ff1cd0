"""The Milvus backend's collections, row forms, filter expressions and error lines.

Seven collections per hub, named `<prefix>_<name>`:

- `chunks`: one row per chunk version — its text, the dense vector, `lex` (the chunk's text as
  sihub's own analyzer writes it: stems, folded, see `lexical.analyze`) with Milvus's BM25
  function filling `sparse` from it, and the metadata the filters read (language, country,
  partner, type, year, file) lower-cased;
- `documents`: the document registry (path, content hash, catalogue fields) and, per document,
  the chunk version readers see (`ver`);
- `meta`: the manifest, the write lease, id counters, the generation readers poll, and the
  per-language statistics the ranking uses (chunk counts, vector sums);
- `quotes`, `words`, `wordvecs`: what answers need, stored at ingest as the embedded index stores
  it (`answer_data.py`, `milvus_answers.py`): the vector of each quote text of a document version
  (keyed by the text's sha256), the index's words per chunk language with their chunk counts,
  and each word's vector;
- `terms`: each analysed term of the live chunks with the number of chunks holding it, for BM25
  (`milvus_terms.py`), as FTS5's vocabulary table holds them in the embedded index.

Milvus wants a vector field in every collection: `documents`, `meta`, `words` and `terms` carry a
2-d placeholder.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sihub.errors import IndexUnavailableError, SihubError
from sihub.types import Chunk, Document

from . import filters
from .filters import field_text as filter_value
from .fts import fts_token

SCHEMA_VERSION = 2
"""Layout of the collections below; an index with another number must be rebuilt (2: `lex`
split as FTS5 splits it, underscores included). The answer collections came later within 2: an
index made before them gets them empty on open, and `sihub warm` fills them in; so does `terms`,
which the next writer counts (`milvus_terms.py`)."""

KINDS = ("meta", "documents", "chunks", "quotes", "words", "wordvecs", "terms")
"""The hub's collections, `<prefix>_<kind>`."""
TEXT_KEYS = ("meta", "quotes", "words", "wordvecs", "terms")
"""The collections whose primary key is text."""

TEXT_MAX = 65_535
"""Longest VARCHAR Milvus stores (bytes); longer text is cut at a character boundary."""
PLACEHOLDER_DIM = 2
PLACEHOLDER = [0.0, 1.0]

CHUNK_FIELDS = [
    "id", "doc_id", "ver", "ord", "page", "heading", "lang", "start", "end", "ocr", "text", "hash", "path",
]  # fmt: skip
"""What a search result's chunk is built from (no vectors, no analysed text)."""
FILTER_FIELDS = ("country", "partner", "type", "year")


def create_collections(client: Any, prefix: str, dim: int) -> None:
    """Create the hub's collections (those missing), with their indexes, and load them."""
    from pymilvus import DataType, Function, FunctionType

    if not client.has_collection(f"{prefix}_meta"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        s.add_field("value", DataType.VARCHAR, max_length=TEXT_MAX)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        _create(client, f"{prefix}_meta", s, [("v", "FLAT", "IP")])
    if not client.has_collection(f"{prefix}_documents"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("path", DataType.VARCHAR, max_length=4096)
        s.add_field("ver", DataType.INT64)
        s.add_field("doc", DataType.VARCHAR, max_length=TEXT_MAX)  # the Document as JSON
        s.add_field("v", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        _create(client, f"{prefix}_documents", s, [("v", "FLAT", "IP")])
    if not client.has_collection(f"{prefix}_chunks"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("doc_id", DataType.INT64)
        s.add_field("ver", DataType.INT64)
        s.add_field("ord", DataType.INT64)
        s.add_field("page", DataType.INT64)  # -1: no page
        s.add_field("heading", DataType.VARCHAR, max_length=TEXT_MAX)
        s.add_field("lang", DataType.VARCHAR, max_length=32)
        s.add_field("start", DataType.INT64)
        s.add_field("end", DataType.INT64)
        s.add_field("ocr", DataType.BOOL)
        s.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
        s.add_field("hash", DataType.VARCHAR, max_length=128)
        s.add_field("path", DataType.VARCHAR, max_length=4096)
        for name in FILTER_FIELDS:
            s.add_field(name, DataType.VARCHAR, max_length=1024)
        # sihub's own analysis (stems, folded); Milvus only splits it on non-word characters, so
        # no stemmer depends on the engine (Milvus Lite ignores stemmer filters).
        s.add_field(
            "lex",
            DataType.VARCHAR,
            max_length=TEXT_MAX,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        s.add_function(
            Function(
                name="lex_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lex"],
                output_field_names=["sparse"],
            )
        )
        _create(client, f"{prefix}_chunks", s, [("vec", "FLAT", "IP"), ("sparse", "SPARSE_INVERTED_INDEX", "BM25")])
    if not client.has_collection(f"{prefix}_quotes"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=96)  # "<ver>:<key>"
        s.add_field("doc_id", DataType.INT64)
        s.add_field("ver", DataType.INT64)
        s.add_field("key", DataType.VARCHAR, max_length=64)  # sha256 of the quote text, hex
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        _create(
            client, f"{prefix}_quotes", s, [("vec", "FLAT", "IP"), ("key", "INVERTED", ""), ("doc_id", "INVERTED", "")]
        )
    if not client.has_collection(f"{prefix}_words"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1100)  # "<lang>:<word>"
        s.add_field("lang", DataType.VARCHAR, max_length=32)
        s.add_field("word", DataType.VARCHAR, max_length=1024)
        s.add_field("chunks", DataType.INT64)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        _create(client, f"{prefix}_words", s, [("v", "FLAT", "IP")])
    if not client.has_collection(f"{prefix}_wordvecs"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)  # the word
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        _create(client, f"{prefix}_wordvecs", s, [("vec", "FLAT", "IP")])
    if not client.has_collection(f"{prefix}_terms"):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)  # `milvus_terms.term_key`
        s.add_field("chunks", DataType.INT64)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=PLACEHOLDER_DIM)
        _create(client, f"{prefix}_terms", s, [("v", "FLAT", "IP")])


def load_collections(client: Any, prefix: str) -> None:
    """Load the hub's collections into memory (a restarted Milvus Lite server holds them released)."""
    for kind in KINDS:
        name = f"{prefix}_{kind}"
        if client.has_collection(name):
            client.load_collection(name)


def _create(client: Any, name: str, schema: Any, indexes: list[tuple[str, str, str]]) -> None:
    params = client.prepare_index_params()
    for field_name, kind, metric in indexes:
        if metric:
            params.add_index(field_name, index_type=kind, metric_type=metric)
        else:  # a scalar index
            params.add_index(field_name, index_type=kind)
    # Strong: a read sees every write acknowledged before it (the document flip included).
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")


_WORD = re.compile(r"[^\W_]+")


def lex_words(analysed: str) -> str:
    """Analysed text (`lexical.analyze`, `lexical.query_terms`) as the embedded index's FTS5
    tokenizer (unicode61, diacritics removed) stores it: folded, split on anything that is not a
    letter or digit, underscores too ("super_bowl_50" -> "super bowl 50"). Milvus's own analyzer
    then only splits on the spaces, so both backends count the same words."""
    return " ".join(_WORD.findall(fts_token(analysed)))


def cut(text: str, limit: int = TEXT_MAX) -> str:
    """`text` within `limit` UTF-8 bytes, cut at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def chunk_row(c: Chunk, doc: Document, ver: int, lex: str, vec: Any) -> dict[str, Any]:
    meta = doc.meta or {}
    row = {
        "id": int(c.id or 0),
        "doc_id": int(doc.id or 0),
        "ver": ver,
        "ord": c.ord,
        "page": -1 if c.page is None else int(c.page),
        "heading": cut(c.heading),
        "lang": c.lang,
        "start": c.start,
        "end": c.end,
        "ocr": bool(c.ocr),
        "text": cut(c.text),
        "hash": c.hash,
        "path": cut(doc.path, 4096),
        "lex": cut(lex),
        "vec": [float(x) for x in vec],
    }
    for name in FILTER_FIELDS:
        row[name] = cut(filter_value(meta.get(name)), 1024)
    return row


def row_chunk(r: dict[str, Any]) -> Chunk:
    page = int(r["page"])
    return Chunk(
        id=int(r["id"]),
        doc_id=int(r["doc_id"]),
        ord=int(r["ord"]),
        page=None if page < 0 else page,
        heading=r["heading"],
        lang=r["lang"],
        start=int(r["start"]),
        end=int(r["end"]),
        ocr=bool(r["ocr"]),
        text=r["text"],
        hash=r["hash"],
        path=r["path"],
    )


def doc_row(doc: Document, ver: int, answers: bool = False) -> dict[str, Any]:
    """The registry row of `doc` at chunk version `ver`; `answers`: its answer rows are in."""
    data = {
        "title": doc.title,
        "lang": doc.lang,
        "langs": doc.langs,
        "pages": doc.pages,
        "sha256": doc.sha256,
        "size": doc.size,
        "mtime": doc.mtime,
        "meta": doc.meta,
        "ingested_at": doc.ingested_at,
        "chunks": doc.chunks,
        "reader": doc.reader,
        "answers": answers,
    }
    text = json.dumps(data, ensure_ascii=False)
    if len(text.encode("utf-8")) > TEXT_MAX:
        raise SihubError(f"{doc.path}: catalogue fields too long to store ({len(text)} characters)")
    return {"id": int(doc.id or 0), "path": cut(doc.path, 4096), "ver": ver, "doc": text, "v": PLACEHOLDER}


def row_answers(r: dict[str, Any]) -> bool:
    """Whether a registry row's document has its answer rows in."""
    return bool(json.loads(r["doc"]).get("answers"))


def row_doc(r: dict[str, Any]) -> Document:
    d = json.loads(r["doc"])
    return Document(
        id=int(r["id"]),
        path=r["path"],
        title=d["title"],
        lang=d["lang"],
        langs=list(d.get("langs") or []),
        pages=d.get("pages"),
        sha256=d["sha256"],
        size=int(d.get("size") or 0),
        mtime=float(d.get("mtime") or 0.0),
        meta=dict(d.get("meta") or {}),
        ingested_at=d.get("ingested_at"),
        chunks=int(d.get("chunks") or 0),
        reader=int(d.get("reader") or 1),
    )


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def id_list(ids: Any) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def filter_expression(wanted: dict[str, list[str]], docs: list[Document]) -> str | None:
    """The Milvus expression for sihub's filters (`filters.py`: values of one key are
    alternatives, keys all apply); None when nothing passes. `file` (a path, folder prefix or
    glob) is matched against the registry's paths here (`filters.path_matches`, as the embedded
    backend's GLOB does); the others are chunk fields."""
    parts: list[str] = []
    for key, values in filters.active(wanted):
        alts: list[str] = []
        if key == "lang":
            langs = sorted({v for v in values} | {v.lower() for v in values})
            alts.append(f"lang in [{','.join(quote(v) for v in langs)}]")
        elif key == "file":
            ids = [d.id for d in docs if any(filters.path_matches(d.path, v) for v in values)]
            if not ids:
                return None
            alts.append(f"doc_id in {id_list(ids)}")
        elif key == "partner":
            for v in values:
                low = v.lower()
                if any(ch in low for ch in "%_\\"):  # no LIKE escape everywhere: match in the registry
                    ids = [d.id for d in docs if low in filter_value(d.meta.get("partner"))]
                    alts.append(f"doc_id in {id_list(ids)}" if ids else "id < 0")
                else:
                    alts.append(f"partner like {quote('%' + low + '%')}")
        else:
            alts.append(f"{key} in [{','.join(quote(v.lower()) for v in values)}]")
        parts.append("(" + " or ".join(alts) + ")")
    return " and ".join(parts) if parts else ""


def unavailable(uri: str, exc: BaseException) -> IndexUnavailableError:
    """One line for a Milvus call that failed: server down, slow, or refusing."""
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    reason = (text[0] if text else type(exc).__name__)[:200]
    return IndexUnavailableError(f"the Milvus index at {uri} cannot be reached or failed: {reason}")
