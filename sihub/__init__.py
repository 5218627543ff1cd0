"""sihub: cited multilingual search over a social-innovation knowledge hub.

One namespace, in layers that import one way (tests/test_imports.py checks it):

- the core, here: `types`, `errors`, `settings`, which import nothing else of the project;
- `sihub.ingest` -> `sihub.index` -> `sihub.assistant`, kept in the top-level folders
  ingest/, index/, assistant/ and installed under `sihub` (pyproject's package-dir);
- the edges, here: `cli` and `web`, with what only they use (`feedback`, `progress`, `limits`).
"""

__version__ = "0.1.0"
