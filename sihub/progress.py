"""A rich progress bar for ingest: files (known length) and chunks (total grows as files are read)."""

from __future__ import annotations

import sys

from sihub.index.sync import Progress
from sihub.types import FileResult


class RichProgress(Progress):
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None
        self._files = None
        self._chunks = None

    def __enter__(self) -> RichProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]{task.description:<6}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[name]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def start(self, files: int) -> None:
        if self._bar:
            self._files = self._bar.add_task("files", total=files, name="")
            self._chunks = self._bar.add_task("chunks", total=0, name="")

    def file_done(self, result: FileResult) -> None:
        if self._bar and self._files is not None and result.status not in ("removed", "skipped"):
            name = result.path if len(result.path) < 40 else "…" + result.path[-39:]
            self._bar.update(self._files, advance=1, name=name)

    def chunks_found(self, n: int) -> None:
        if self._bar and self._chunks is not None:
            task = self._bar.tasks[self._chunks]
            self._bar.update(self._chunks, total=(task.total or 0) + n)

    def chunks_embedded(self, n: int) -> None:
        if self._bar and self._chunks is not None:
            self._bar.update(self._chunks, advance=n)
