"""Shared fixtures: real SQLite and FAISS in temp folders, the real default embedder."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVAL = ROOT.parent / "shared" / "eval"

TLS = ssl.create_default_context()
"""Pass as `verify=` to httpx's one-call functions (`httpx.get(url, verify=TLS)`): without it each
call builds a TLS context of its own, even for http:// (about 40 ms of CPU, where a loopback
request takes 2 ms). Each call still opens its own connection and keeps no cookies."""


def pytest_configure(config: pytest.Config) -> None:
    """Test this checkout's code, or stop. ingest/, index/ and assistant/ import as sihub.ingest
    etc. only through the install's package-dir mapping, so an install of another checkout would
    run its layers under this checkout's `sihub`."""
    import importlib.util

    for name, folder in (("sihub.ingest", "ingest"), ("sihub.index", "index"), ("sihub.assistant", "assistant")):
        spec = importlib.util.find_spec(name)
        where = Path(spec.origin).resolve().parent if spec and spec.origin else None
        if where != ROOT / folder:
            raise pytest.UsageError(
                f"{name} imports from {where or 'nowhere'}, not {ROOT / folder}: run `pip install -e {ROOT}` "
                "(make install) with this interpreter"
            )


DOCS = {
    "fr/incubateur.md": (
        "# Incubateurs d'entreprises sociales\n\n"
        "L'incubateur Ruche Solidaire de Nantes a accompagné 42 projets d'entreprises sociales en 2022. "
        "Chaque projet reçoit un mentorat de six mois et une bourse de 15 000 euros.\n\n"
        "## Mesure d'impact\n\n"
        "Les entreprises incubées mesurent leur impact social avec une grille de douze indicateurs "
        "définie avec les collectivités locales.\n"
    ),
    "lv/likums.txt": (
        "Sociālās uzņēmējdarbības atbalsts Latvijā\n\n"
        "Sociālā uzņēmuma likums stājās spēkā 2018. gada 1. aprīlī. Līdz 2022. gadam Labklājības "
        "ministrija reģistrēja vairāk nekā 200 sociālos uzņēmumus, kas nodarbina cilvēkus ar invaliditāti.\n"
    ),
    "sv/upphandling.md": (
        "# Sociala hänsyn i offentlig upphandling\n\n"
        "Malmö stad reserverade fem procent av sina städkontrakt för arbetsintegrerande sociala företag "
        "under 2021. Upphandlingen gav 37 personer anställning.\n"
    ),
}


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return root


@contextmanager
def assistant_over(root: Path, files: dict[str, str | bytes], **settings: Any) -> Iterator[Any]:
    """An Assistant over `files` written under `root`/docs, ingested (no failures), closed after."""
    from sihub.assistant import Assistant
    from sihub.settings import Settings

    a = Assistant(Settings.from_env(env={}, index=root / "index", **settings))
    try:
        assert not a.ingest([write_tree(root / "docs", files)]).failed
        yield a
    finally:
        a.close()


CATALOG = (
    "fr/incubateur.md: {partner: Avise, country: FR, year: 2022}\n"
    "lv/likums.txt: {partner: LSUA, country: LV, year: 2021}\n"
    "sv/upphandling.md: {partner: Coompanion, country: SE, year: 2021}\n"
)
"""Catalogue fields for `DOCS`, so that references name partner, country and year."""


def make_site(root: Path) -> Path:
    """`DOCS` and their catalogue under `root`/docs, indexed in `root`/index with the default
    embedder, by paths relative to `root` (as a coordinator runs `sihub ingest docs` there).
    Returns `root`."""
    from contextlib import chdir

    from sihub.assistant import Assistant
    from sihub.settings import Settings

    write_tree(root / "docs", {**DOCS, "catalog.yaml": CATALOG})
    with chdir(root):
        a = Assistant(Settings.from_env(env={}, index=root / "index"))
        try:
            assert not a.ingest([Path("docs")]).failed
        finally:
            a.close()
    return root


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    """A born-digital PDF with one text block per page (core font: Latin-1 text only)."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


HUB_EXTRA = {
    "es/clausulas.md": (
        "# Cláusulas sociales en la contratación pública\n\n"
        "La Diputación de Barcelona incluyó cláusulas sociales en 120 contratos públicos en 2021. "
        "Las empresas de inserción obtuvieron contratos por un valor de tres millones de euros.\n"
    ),
    "catalog.yaml": (
        "fr/incubateur.md: {partner: Avise, country: FR, year: 2022, type: report}\n"
        "lv/likums.txt: {partner: LSUA, country: LV, year: 2021, type: law}\n"
        "sv/upphandling.md: {partner: Coompanion, country: SE, year: 2021, type: case study}\n"
        "es/clausulas.md: {partner: CEPES, country: ES, year: 2021, type: case study}\n"
        "en/buicasus.pdf: {partner: BuiCaSuS, year: 2023, type: report}\n"
    ),
}
"""With `make_tiny_folder`: a fourth country (Spain) and a catalogue, so that the hub's views
(catalogue, comparisons by country) have four countries to show."""


def make_hub_folder(root: Path) -> Path:
    """The tiny folder, a Spanish document and the catalogue of all (`HUB_EXTRA`) under `root`."""
    return write_tree(make_tiny_folder(root), HUB_EXTRA)


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    return make_tiny_folder(tmp_path / "docs")


def make_tiny_folder(root: Path) -> Path:
    """The `tiny_folder` documents under `root` (for fixtures with a wider scope)."""
    folder = write_tree(root, DOCS)
    make_pdf(
        folder / "en" / "buicasus.pdf",
        [
            "BuiCaSuS project overview\n\nThe project Building Capacity for a Sustainable Society ran from "
            "June 2021 to May 2023 under the call VP/2020/010.",
            "Best practices\n\nThe partners collected 35 best practices of support to social innovation: "
            "14 from France, 4 from Latvia, 7 from Spain and 10 from Sweden.",
        ],
        title="BuiCaSuS overview",
    )
    return folder


@pytest.fixture
def settings(tmp_path: Path):
    from sihub.settings import Settings

    return Settings.from_env(env={}, index=tmp_path / "index", library=tmp_path / "library")


@pytest.fixture
def assistant(settings):
    from sihub.assistant import Assistant

    a = Assistant(settings)
    yield a
    a.close()


@contextmanager
def serving(index: Path, library: Path, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """A real `sihub serve` process over `index` on a free loopback port, started in `cwd`;
    yields its base URL and stops it afterwards (its log is shown if it does not start)."""
    import subprocess
    import sys

    from bench.common import free_port, wait_healthy

    port = free_port()
    log = open(cwd / f"serve-{port}.log", "w+")  # noqa: SIM115 - closed in finally, read on failure
    cmd = [sys.executable, "-m", "sihub.cli", "--index", str(index), "serve", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--library", str(library)], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(base, proc, timeout=90):
            log.seek(0)
            pytest.fail(f"sihub serve did not start:\n{log.read()[-3000:]}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# ---- index backends: the embedded folder, Milvus Lite in-process, a Milvus server on loopback ----

BACKENDS = ("embedded", "milvus-lite", "milvus-server")
"""What the backend-parametrised fixtures run on (`backend_settings`)."""


@contextmanager
def milvus_lite_server(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """`milvus-lite server` on 127.0.0.1 (a free port unless given) over `data_dir`; its URI."""
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time

    from bench.common import free_port

    pytest.importorskip("pymilvus", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)")
    pytest.importorskip(
        "milvus_lite", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)"
    )
    exe = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or shutil.which("milvus-lite")
    assert exe, "milvus-lite is installed but its command is not on PATH"
    port = port or free_port()
    log = open(data_dir.parent / f"milvus-{port}.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [exe, "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, f"milvus-lite server exited: see {log.name}"
                assert time.monotonic() < deadline, "milvus-lite server did not start within 60 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Milvus server (Milvus Lite's gRPC server) on a free loopback port for the whole session."""
    with milvus_lite_server(tmp_path_factory.mktemp("milvus-server") / "data") as uri:
        yield uri


def backend_settings(kind: str, root: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides that put an index on `kind` (one of BACKENDS), private to `root`."""
    if kind == "embedded":
        return {}
    pytest.importorskip("pymilvus", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)")
    pytest.importorskip(
        "milvus_lite", reason="the milvus backend needs `pip install -e '.[milvus]'` (make test does it)"
    )
    if kind == "milvus-lite":
        return {"backend": "milvus", "milvus_uri": str(root / "milvus.db")}
    import uuid

    uri = request.getfixturevalue("milvus_server")
    return {"backend": "milvus", "milvus_uri": uri, "milvus_collection": f"t{uuid.uuid4().hex[:12]}"}
