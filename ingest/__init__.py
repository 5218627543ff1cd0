"""Ingest layer: read files of every format into pages of blocks, then cut chunks."""

from .chunker import ChunkerConfig, chunk_document, split_sentences
from .model import Block, Page, ParsedDocument
from .readers import READERS, read_document, reader_version, supported

__all__ = [
    "READERS",
    "Block",
    "ChunkerConfig",
    "Page",
    "ParsedDocument",
    "chunk_document",
    "read_document",
    "reader_version",
    "split_sentences",
    "supported",
]
