"""The search filters, shared by both backends: which keys there are, what each value means, and
the SQL the embedded backend runs for them (the Milvus backend writes its own expression from
the same parsed filters, `milvus_schema.filter_expression`).

Values of one key are alternatives, keys all apply. Keys: `lang` (the chunk's language, any
case), `file` (a document path, a folder prefix or a glob, `path_matches`), `partner` (part of
the name, any case), `country`, `year`, `type` (catalogue fields, equal in any case).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from sihub.errors import SihubError

KEYS = ("lang", "file", "partner", "country", "year", "type")
CATALOGUE = ("country", "year", "type")
"""Catalogue fields compared whole (any case); `partner` matches a part of the name."""


def active(filters: dict[str, list[str]]) -> Iterator[tuple[str, list[str]]]:
    """(key, values) of the filters that restrict anything; an unknown key is a SihubError."""
    for key, values in filters.items():
        if not values:
            continue
        if key not in KEYS:
            raise SihubError(f"unknown filter {key!r}")
        yield key, list(values)


def path_matches(path: str, pattern: str) -> bool:
    """Whether a document path passes a `file` filter value: the path itself, a glob (also below
    any folder), or a folder prefix. SQLite's GLOB and `fnmatchcase` agree on these patterns."""
    prefix = pattern.rstrip("/")
    return (
        path == pattern
        or fnmatch.fnmatchcase(path, pattern)
        or fnmatch.fnmatchcase(path, "*/" + pattern)
        or path.startswith(prefix + "/")
    )


def field_text(value: Any) -> str:
    """A catalogue field as the Milvus filters compare it: text, lower case ("" when absent)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " | ".join(str(v) for v in value).lower()
    return str(value).lower()


def chunk_ids_sql(filters: dict[str, list[str]]) -> tuple[str, list[Any]]:
    """The embedded index's query for the ids of the chunks passing `filters`, and its arguments."""
    where: list[str] = []
    args: list[Any] = []
    for key, values in active(filters):
        alts: list[str] = []
        for v in values:
            if key == "lang":
                alts.append("lower(c.lang) = lower(?)")
                args.append(v)
            elif key == "file":
                alts.append("(d.path = ? OR d.path GLOB ? OR d.path GLOB ? OR d.path LIKE ? ESCAPE '\\')")
                prefix = v.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                args.extend([v, v, "*/" + v, prefix + "/%"])
            elif key == "partner":
                alts.append("instr(lower(CAST(json_extract(d.meta, '$.partner') AS TEXT)), lower(?)) > 0")
                args.append(v)
            else:
                alts.append(f"lower(CAST(json_extract(d.meta, '$.{key}') AS TEXT)) = lower(?)")
                args.append(v)
        where.append("(" + " OR ".join(alts) + ")")
    sql = "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, args
