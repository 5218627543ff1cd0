"""The "Add documents" tab (coordinators): unlock with the password, choose files, index them."""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sihub.errors import SihubError
from sihub.index.sync import Progress
from sihub.types import FileResult

from ..auth import Denied
from ..guards import UPLOAD_COOKIE
from ..render import pre, report_lines
from ..text import request_lang, say, t
from .base import Page, client

UPLOAD_TOKEN_TTL = 3600
"""Seconds an unlocked page may upload files (the cookie's life, and how long uploads are kept)."""
# Stores the upload token `unlock` returns as a cookie sent with the page's file uploads only.
SET_UPLOAD_COOKIE = (
    "(token) => { if (token) { document.cookie = "
    f"'{UPLOAD_COOKIE}=' + token + '; path=/gradio_api/upload; max-age={UPLOAD_TOKEN_TTL}; SameSite=Strict'"
    " + (location.protocol === 'https:' ? '; Secure' : ''); } }"
)


class _BarProgress(Progress):
    """Feeds sync's progress callbacks to the Gradio progress bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.total = 0
        self.done = 0

    def start(self, files: int) -> None:
        self.total = max(files, 1)
        self.bar((0, self.total), desc="ingesting", unit="files")

    def file_done(self, result: FileResult) -> None:
        if result.status in ("removed", "skipped"):
            return
        self.done += 1
        self.bar(
            (min(self.done, self.total), self.total), desc=f"{Path(result.path).name}: {result.status}", unit="files"
        )


def _uploaded(files: list | None) -> tuple[list[Path], list[str]]:
    """The files of a `gr.File` value that Gradio's upload folder holds, and a line for each
    other one (a path the client made up is never read)."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()).resolve()
    ok: list[Path] = []
    bad: list[str] = []
    for f in files or []:
        path = Path(f if isinstance(f, str) else getattr(f, "name", str(f))).resolve()
        (ok if path.is_relative_to(folder) and path.is_file() else bad).append(path)
    return ok, [f"{p.name}: not a file uploaded to this page" for p in bad]


def _copier(path: Path) -> Any:
    """A writer (hub.Writer) that copies the file at `path`."""

    def copy(out: Any) -> None:
        with path.open("rb") as src:
            shutil.copyfileobj(src, out)

    return copy


@dataclass
class AddTab:
    added: Any
    """The upload's event: what other tabs show is reloaded after it."""


def build(page: Page) -> AddTab:
    import gradio as gr

    from sihub.ingest.readers import READERS

    hub, guard = page.hub, page.guard

    def unlock(password: str, request: gr.Request):
        """Check the password; then the page may upload files (with the token as a cookie)."""
        try:
            guard.check(password, client(request))
        except Denied as exc:
            return pre([f"error: {exc}"]), "", gr.update(interactive=False)
        return pre([say(request_lang(request), "unlocked")]), guard.issue(UPLOAD_TOKEN_TTL), gr.update(interactive=True)

    def add_documents(files: list | None, password: str, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        try:
            guard.check(password, client(request))
        except Denied as exc:
            return pre([f"error: {exc}"])
        paths, lines = _uploaded(files)
        try:
            report, refused = hub.add_uploads([(p.name, _copier(p)) for p in paths], progress=_BarProgress(progress))
            lines += [f"{r.path}: {r.reason}" for r in refused]
            lines += report_lines(report) if report else ["no file to add" if not lines else "nothing was added"]
        except (SihubError, OSError) as exc:
            lines.append(f"error: {exc}")
        finally:
            for p in paths:  # Gradio's copy: the library holds the file now
                p.unlink(missing_ok=True)
        return pre(lines)

    with gr.Tab(t("tab_add"), id="add"):
        if page.disabled_note:
            gr.Markdown(page.disabled_note)
        else:
            gr.Markdown(t("add_intro"))
            with gr.Row(equal_height=True):
                gr.Markdown(t("add_formats"), container=False)
                gr.Markdown(", ".join(f"`{x}`" for x in sorted(READERS)), container=False)
        with gr.Row():
            password = gr.Textbox(
                label=t("password"),
                type="password",
                elem_id="upload-password",
                interactive=guard.enabled,
                scale=4,
            )
            unlock_btn = gr.Button(t("unlock"), elem_id="unlock", interactive=guard.enabled, scale=1)
        token = gr.Textbox(visible=False, elem_id="upload-token")
        files = gr.File(
            label=t("documents_label"),
            file_count="multiple",
            file_types=sorted(READERS),
            elem_id="upload-files",
            interactive=False,
        )
        button = gr.Button(t("add_button"), variant="primary", elem_id="upload", interactive=guard.enabled)
        result = gr.HTML(elem_id="upload-result", js_on_load=None)

    for unlocked in (unlock_btn.click, password.submit):
        unlocked(unlock, [password], [result, token, files]).then(None, [token], None, js=SET_UPLOAD_COOKIE)
    added = button.click(add_documents, [files, password], [result])
    return AddTab(added=added)
