"""What both backends' `neighbours` share: which chunks beside a passage are worth adding."""

from __future__ import annotations

from sihub.types import Chunk


def covered(n: Chunk, chunks: list[Chunk]) -> bool:
    """Whether the text of chunk `n` lies inside one of `chunks` (a neighbour not to add)."""
    return any(o.doc_id == n.doc_id and o.page == n.page and o.start <= n.start and n.end <= o.end for o in chunks)
