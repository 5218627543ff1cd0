"""A full disk or a read-only index during ingest: one clear error, the previous index intact.

Disk full is made real where the test may mount a tiny tmpfs (root with CAP_SYS_ADMIN, as on the
dev machine); everywhere it is also simulated with RLIMIT_FSIZE in the ingest subprocess (SIGXFSZ
ignored, so writes past the limit fail with EFBIG, which SQLite and FAISS see like a full disk).
A read-only index is a read-only bind mount when root (permission bits do not stop root),
a chmod otherwise.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIHUB_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def sihub(index: Path, *args: str, preexec=None) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run(
        [sys.executable, "-m", "sihub.cli", "--index", str(index), "--embedder", "hash", *args],
        env=cli_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def write_docs(folder: Path, prefix: str, n: int, sentences: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = " ".join(
            f"Sentence {j} of {prefix} {i}: the cooperative in town {j % 17} trained {j * 3} people."
            for j in range(sentences)
        )
        (folder / f"{prefix}-{i}.md").write_text(f"# {prefix} {i}\n\n{body}\n", encoding="utf-8")


def snapshot(index: Path) -> dict[str, tuple[str, int]]:
    from sihub.index.store import Index

    with Index.open(index, "hash/v1") as idx:
        assert idx.consistency_problems() == []
        st = idx.stats()
        assert st["chunks"] == st["vectors"]
        return {d.path: (d.sha256, d.chunks) for d in idx.documents()}


def assert_one_clear_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "cannot read" not in result.stderr, "a full or read-only index was blamed on the input files"
    assert any(w in errors[0] for w in words), errors[0]
    return errors[0]


def fill_then_overflow(tmp_path: Path, index: Path, preexec=None) -> None:  # noqa: ANN001
    folder = tmp_path / "docs"
    write_docs(folder, "small", 3, 20)
    first = sihub(index, "ingest", "-q", str(folder))
    assert first.returncode == 0, first.stderr
    before = snapshot(index)
    assert len(before) == 3

    write_docs(folder, "large", 6, 2500)  # several MB of new chunks, FTS rows and vectors
    failed = sihub(index, "ingest", "-q", str(folder), preexec=preexec)
    line = assert_one_clear_error(failed, "disk full", "disk I/O error")
    assert str(index) in line

    after = snapshot(index)
    for path, state in before.items():
        assert after[path] == state, f"{path} changed or was lost by the failed ingest"
    # Whatever was committed before the disk filled is whole (snapshot checked consistency).
    assert set(after) <= set(before) | {str(folder / f"large-{i}.md") for i in range(6)}


def test_file_size_limit_during_ingest_is_one_clear_error(tmp_path):
    index = tmp_path / "index"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        biggest = max(p.stat().st_size for p in index.iterdir())
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 64_000, biggest + 64_000))

    fill_then_overflow(tmp_path, index, preexec=limit)
    # Once there is room again, the next ingest completes the job.
    done = sihub(index, "ingest", "-q", str(tmp_path / "docs"))
    assert done.returncode == 0, done.stderr
    assert len(snapshot(index)) == 9


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MB tmpfs (real ENOSPC); skipped where mounting is not allowed."""
    point = tmp_path / "tiny-disk"
    point.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=3m", "sihub-test", str(point)):
        pytest.skip("cannot mount a tmpfs here (needs root); the RLIMIT_FSIZE test covers disk full")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_full_disk_during_ingest_is_one_clear_error(tmp_path, tiny_disk):
    index = tiny_disk / "index"
    fill_then_overflow(tmp_path, index)


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for the ingest subprocess; yields a function doing so."""
    mounted: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            if not (_mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,ro,bind", str(folder))):
                pytest.skip("root cannot make a read-only bind mount here")
            mounted.append(folder)
        else:
            for p in [folder, *folder.iterdir()]:
                p.chmod(0o555 if p.is_dir() else 0o444)

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_read_only_index_is_one_clear_error_and_stays_readable(tmp_path, read_only):
    folder, index = tmp_path / "docs", tmp_path / "index"
    write_docs(folder, "small", 3, 20)
    assert sihub(index, "ingest", "-q", str(folder)).returncode == 0
    before = snapshot(index)
    write_docs(folder, "new", 1, 20)
    read_only(index)

    assert_one_clear_error(sihub(index, "ingest", "-q", str(folder)), "read-only", "permission denied")
    assert_one_clear_error(sihub(index, "remove", str(folder / "small-0.md")), "read-only", "permission denied")
    # The index is still served: search answers from the read-only folder.
    found = sihub(index, "search", "cooperative trained people", "--json")
    assert found.returncode == 0, found.stderr
    assert '"hits"' in found.stdout and "small-" in found.stdout
    assert snapshot(index) == before
