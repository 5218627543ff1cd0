"""An index's identity, shared by both backends: what it was built with, and the check that a
reader or writer can use it.

The manifest names the schema, the embedder (id and dimension), the chunker settings and the
lexical analyzer; the embedded backend keeps it as `manifest.json` in its folder (`folder.py`),
the Milvus backend as a record of its `meta` collection. Opening an index built otherwise is one
clear line that says what to run (`IndexMismatchError`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sihub import __version__
from sihub.errors import IndexMismatchError

from . import lexical


def now() -> str:
    """The time now, as manifests and documents record it (UTC, whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def new_manifest(schema: int, embedder_id: str, dim: int, chunker: dict[str, Any] | None, **extra: Any) -> dict:
    """The manifest of a new index; `extra` holds what one backend records besides."""
    return {
        "schema": schema,
        "sihub": __version__,
        "embedder": {"id": embedder_id, "dim": int(dim)},
        "chunker": chunker or {},
        "lexical": lexical.ANALYZER_VERSION,
        **extra,
        "created_at": now(),
    }


def check_manifest(
    manifest: dict[str, Any],
    where: str,
    embedder_id: str,
    chunker: dict[str, Any] | None,
    *,
    schema_ok: bool,
    schema: int,
    fix: str,
    lexical_fix: str | None = None,
    other_analyzer: bool = False,
) -> None:
    """Raise IndexMismatchError when the index `where` ("at PATH", "in Milvus …") cannot be used
    for `embedder_id` (and, given, these chunker settings). `schema_ok` says whether the backend
    reads the manifest's schema; `fix` is what to run (`lexical_fix`, when another lexical
    analyzer needs less). With `other_analyzer`, another analyzer is allowed (a writer that
    re-analyses the stored passages)."""
    if not schema_ok:
        raise IndexMismatchError(
            f"index {where} has schema {manifest.get('schema')}, this sihub reads schema {schema}: {fix}"
        )
    built = manifest.get("embedder", {}).get("id")
    if built != embedder_id:
        raise IndexMismatchError(
            f"index {where} was built with embedder {built!r}, settings ask for {embedder_id!r}: {fix}"
        )
    if manifest.get("lexical") != lexical.ANALYZER_VERSION and not other_analyzer:
        raise IndexMismatchError(
            f"index {where} has lexical analyzer {manifest.get('lexical')!r}, "
            f"this sihub uses {lexical.ANALYZER_VERSION!r}: {lexical_fix or fix}"
        )
    if chunker is not None and manifest.get("chunker") != chunker:
        raise IndexMismatchError(
            f"index {where} was cut with chunker settings {manifest.get('chunker')}, settings ask for {chunker}: {fix}"
        )
