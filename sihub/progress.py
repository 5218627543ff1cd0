"""A rich progress bar for ingest: files (known length) and chunks."""

from __future__ import annotations

import sys

from index.sync import Progress
from sihub.types import FileResult


class RichProgress(Progress):
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None
        self._task = None
        self._chunks = 0

    def __enter__(self) -> RichProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                TextColumn("{task.fields[chunks]} chunks"), TimeRemainingColumn(), TextColumn("{task.fields[name]}"),
                console=Console(stderr=True), transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def start(self, files: int) -> None:
        if self._bar:
            self._task = self._bar.add_task("ingest", total=files, chunks=0, name="")

    def file_done(self, result: FileResult) -> None:
        if self._bar and self._task is not None and result.status not in ("removed", "skipped"):
            name = result.path if len(result.path) < 40 else "…" + result.path[-39:]
            self._bar.update(self._task, advance=1, name=name)

    def chunks_added(self, n: int) -> None:
        self._chunks += n
        if self._bar and self._task is not None:
            self._bar.update(self._task, chunks=self._chunks)
