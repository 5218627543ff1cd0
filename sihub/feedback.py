"""Thumbs up/down on answers, kept in a small SQLite file beside the index.

Each vote stores the question, the answer text and its citations as they were shown, so the
export (`sihub feedback --json`) is enough to review an answer without the index.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sihub.index.sqlite_db import SideFile

FILE_NAME = "feedback.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    language TEXT,
    found INTEGER,
    citations TEXT NOT NULL,
    comment TEXT
)
"""


def feedback_path(index: Path) -> Path:
    """Where the votes of an index live: inside its folder (a `--rebuild` leaves the file alone)."""
    return Path(index) / FILE_NAME


class FeedbackStore(SideFile):
    """The votes on answers, in the index folder's feedback file."""

    SCHEMA = _SCHEMA

    def add(self, rating: int, answer: dict[str, Any], comment: str | None = None) -> int:
        """Store one vote (+1 or -1) on an answer given as `Answer.to_json()`; returns its id."""
        if rating not in (-1, 1):
            raise ValueError("rating must be 1 (up) or -1 (down)")
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO feedback (created_at, rating, question, answer, language, found, citations, comment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    rating,
                    str(answer.get("question", "")),
                    str(answer.get("answer", "")),
                    answer.get("language"),
                    None if answer.get("found") is None else int(bool(answer.get("found"))),
                    json.dumps(answer.get("citations", []), ensure_ascii=False),
                    comment,
                ),
            )
            return int(cur.lastrowid)

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, rating, question, answer, language, found, citations, comment "
                "FROM feedback ORDER BY id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "created_at": r[1],
                "rating": "up" if r[2] > 0 else "down",
                "question": r[3],
                "answer": r[4],
                "language": r[5],
                "found": None if r[6] is None else bool(r[6]),
                "citations": json.loads(r[7]),
                **({"comment": r[8]} if r[8] else {}),
            }
            for r in rows
        ]
