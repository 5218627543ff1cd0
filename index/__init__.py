"""Index layer: embedders, the on-disk index (FAISS + SQLite), and folder sync."""
