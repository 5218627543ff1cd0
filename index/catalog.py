"""Catalogue sidecar: `catalog.yaml` (or `.csv`) in an ingested folder.

Keyed by the path relative to that folder (`lv/report.pdf`) or by the bare file name; a
YAML mapping, a YAML list of entries with a `file` field, or a CSV with a `file` column.
Fields kept: partner, country, year, type, and title (which overrides the extracted title).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

FIELDS = ("partner", "country", "year", "type", "title")
CATALOG_NAMES = ("catalog.yaml", "catalog.yml", "catalog.csv")


def load_catalog(folder: Path) -> dict[str, dict[str, Any]]:
    """Map of path relative to `folder` (and bare file name) -> catalogue fields."""
    for name in CATALOG_NAMES:
        path = folder / name
        if path.is_file():
            try:
                entries = _read(path)
            except Exception:  # noqa: BLE001 - a broken catalogue must not stop the ingest
                return {}
            out: dict[str, dict[str, Any]] = {}
            for key, fields in entries.items():
                clean = {k: v for k, v in (fields or {}).items() if k in FIELDS and v not in (None, "")}
                out[str(key)] = clean
                out.setdefault(Path(str(key)).name, clean)
            return out
    return {}


def _read(path: Path) -> dict[str, dict[str, Any]]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return {row.pop("file"): row for row in csv.DictReader(fh) if row.get("file")}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and isinstance(data.get("files"), (dict, list)):
        data = data["files"]
    if isinstance(data, list):
        return {item["file"]: item for item in data if isinstance(item, dict) and "file" in item}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
