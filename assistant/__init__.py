"""Assistant layer: retrieval, ranking and cited answers, behind one facade (`Assistant`)."""

from .service import Assistant

__all__ = ["Assistant"]
