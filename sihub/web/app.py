"""`sihub serve`: the FastAPI app with the HTTP API under /api, the web chat (Gradio) at "/".

Errors are JSON `{"error": "..."}` with a status that means something: 400 bad request,
401/403 coordinator access, 404 unknown document, 409 index busy, 413 too large, 429 too many
wrong passwords, 503 no index built yet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sihub.errors import (
    BadInputError,
    EmbedderError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    LLMError,
    SihubError,
)
from sihub.settings import Settings

from .auth import Denied, Guard
from .hub import Hub
from .render import report_lines

API_DESCRIPTION = """Cited multilingual search over the social-innovation knowledge hub.

Reading is open. Uploading and deleting documents need the coordinator password
(`SIHUB_ADMIN_PASSWORD`) as `Authorization: Bearer <password>`.
"""


class AskBody(BaseModel):
    """The body of `POST /api/ask`."""

    question: str = Field(..., min_length=1, max_length=10_000, description="The question, in any language.")
    k: int | None = Field(
        None, ge=1, le=50, description="Passages to draw from, these only (default: SIHUB_ASK_K and those beside them)."
    )
    filters: dict[str, str | int | list[str | int]] | None = Field(
        None, description="Restrict to documents: lang, country, partner, type, year, file."
    )
    history: list[dict[str, str]] | None = Field(
        None, description='Earlier turns, oldest first: [{"role": "user"|"assistant", "content": "..."}].'
    )


def create_app(settings: Settings, hub: Hub | None = None):  # noqa: ANN201 - FastAPI, imported lazily
    import gradio as gr

    from sihub import __version__

    from .ui import build_ui, ui_assets

    hub = hub or Hub(settings)
    guard = Guard(settings.admin_password)
    limit = int(settings.max_upload_mb * 1024 * 1024)

    app = FastAPI(
        title="sihub",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.hub = hub
    app.state.guard = guard
    app.add_middleware(BodyLimit, limit=limit, paths=("/api/documents",))

    def error(status: int, message: str, **headers: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers or None)

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        return error(exc.status, exc.message, **headers)

    @app.exception_handler(IndexMissingError)
    @app.exception_handler(IndexMismatchError)
    async def _no_index(request: Request, exc: SihubError) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(IndexLockedError)
    async def _locked(request: Request, exc: SihubError) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(SihubError)
    async def _sihub(request: Request, exc: SihubError) -> JSONResponse:
        # The remaining domain errors are about the request (e.g. an unknown filter key),
        # except a model that cannot be loaded or reached.
        status = 503 if isinstance(exc, EmbedderError) else 502 if isinstance(exc, LLMError) else 400
        return error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return error(400, "bad request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    def admin(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        # Starlette decodes headers as Latin-1: back to the bytes the client sent.
        supplied = token.strip().encode("latin-1") if scheme.lower() == "bearer" else None
        guard.check(supplied, request.client.host if request.client else "unknown")

    # ---- routes -----------------------------------------------------------------------------

    @app.get("/api/health", tags=["status"])
    def health() -> dict[str, Any]:
        """Index size, embedder and version (503 when no index is built)."""
        return hub.health()

    @app.post("/api/ask", tags=["ask"])
    def ask(body: AskBody) -> dict[str, Any]:
        """An answer with numbered citations: the same object as `sihub ask --json`."""
        if not body.question.strip():
            return error(400, "the question is empty")
        return hub.ask(body.question, body.k, body.history, body.filters).to_json()

    @app.get("/api/search", tags=["ask"])
    def search(
        q: str = Query(..., min_length=1, max_length=10_000, description="The query, in any language."),
        k: int = Query(10, ge=1, le=100),
        filter: Annotated[  # noqa: A002 - the public parameter name
            list[str] | None,
            Query(description="KEY=VALUE, repeatable: lang, country, partner, type, year, file (e.g. country=LV)."),
        ] = None,
    ) -> dict[str, Any]:
        """The passages closest to `q`: the same object as `sihub search --json`."""
        if not q.strip():
            return error(400, "the query is empty")
        return {"query": q, "hits": [h.to_json() for h in hub.search(q, k, filter or None)]}

    @app.get("/api/documents", tags=["documents"])
    def documents() -> dict[str, Any]:
        """The indexed documents (the same fields as `sihub docs --json`, plus `id`)."""
        return {"documents": [d.to_json() for d in hub.documents()]}

    @app.post("/api/documents", tags=["documents"], status_code=201)
    def upload(request: Request, files: list[UploadFile] = File(..., description="One or more documents.")) -> Any:  # noqa: B008
        """Add documents (coordinators): saved under the library folder, then indexed.

        Returns the per-file results and the summary line `sihub ingest` prints. 400 when no
        file could be saved, 413 when the request is larger than the upload limit.
        """
        admin(request)
        saved: list[Path] = []
        refused: list[dict[str, str]] = []
        for f in files:
            name = f.filename or ""
            try:
                saved.append(hub.save_upload(name, lambda tmp, f=f: _copy(f, tmp, limit)))
            except BadInputError as exc:
                refused.append({"file": name, "status": "failed", "reason": str(exc)})
            except _TooLarge:
                return error(413, f"{name}: larger than the upload limit ({settings.max_upload_mb:g} MB)")
        if not saved:
            return error(400, "; ".join(r["reason"] for r in refused) or "no files")
        report = hub.ingest(saved)
        results = refused + [
            {"file": r.path, "status": r.status, "reason": r.reason, "chunks": r.chunks, "warnings": r.warnings}
            for r in report.results
        ]
        ids = hub.doc_ids()
        for r in results:
            if r["file"] in ids:
                r["id"] = ids[r["file"]]
        return {"results": results, "summary": report.summary(), "lines": report_lines(report)}

    @app.delete("/api/documents/{doc_id}", tags=["documents"])
    def delete(doc_id: int, request: Request) -> dict[str, Any]:
        """Remove a document from the index (coordinators)."""
        admin(request)
        doc = hub.document(doc_id)
        if doc is None:
            return error(404, f"no document with id {doc_id}")
        return hub.delete(doc)

    @app.get("/files/{doc_id}", tags=["documents"])
    def original(doc_id: int) -> Any:
        """The original file of an indexed document (PDFs open at `#page=N`)."""
        doc = hub.document(doc_id)
        if doc is None:
            return error(404, f"no document with id {doc_id}")
        path = hub.file_of(doc)
        if path is None:
            return error(404, f"{doc.path}: the file is no longer there")
        return _file_response(FileResponse, path)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str) -> JSONResponse:
        return error(404, f"no such endpoint: /api/{rest}")

    theme, css, head = ui_assets()
    demo = build_ui(hub, settings, guard)
    return gr.mount_gradio_app(
        app,
        demo,
        path="/",
        theme=theme,
        css=css,
        head=head,
        footer_links=["api"],
        max_file_size=limit,
        show_error=True,
    )


class _TooLarge(Exception):
    pass


def _copy(upload: Any, target: Path, limit: int) -> None:
    """Copy an UploadFile to `target`, refusing more than `limit` bytes."""
    total = 0
    upload.file.seek(0)
    with open(target, "wb") as out:
        while True:
            block = upload.file.read(1 << 20)
            if not block:
                break
            total += len(block)
            if total > limit:
                raise _TooLarge()
            out.write(block)


_TYPES = {
    ".pdf": "application/pdf",
    ".md": "text/plain; charset=utf-8",
    ".markdown": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _file_response(FileResponse: Any, path: Path) -> Any:  # noqa: N803
    media = _TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"X-Content-Type-Options": "nosniff"}
    if media.startswith("text/html"):
        # A partner's HTML page is shown, but its scripts never run on this origin.
        headers["Content-Security-Policy"] = "sandbox"
    inline = media.startswith(("application/pdf", "text/"))
    return FileResponse(
        path,
        media_type=media,
        headers=headers,
        filename=path.name,
        content_disposition_type="inline" if inline else "attachment",
    )


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes to one of `paths` gets 413 at once.

    Checks Content-Length up front, and counts the bytes of bodies sent without one.
    """

    def __init__(self, app: Any, limit: int, paths: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT") or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        # Multipart framing adds a little to the files themselves.
        allowed = self.limit + 64 * 1024
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > allowed:
            await self._too_large(send)
            return
        state = {"seen": 0, "over": False, "started": False}

        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > allowed:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            if state["over"]:
                return
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = b'{"error": "upload larger than the limit (SIHUB_MAX_UPLOAD_MB)"}'
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def exposure_warning(settings: Settings) -> str | None:
    """What to say when the server is reachable from other machines and has no password."""
    if settings.host in ("127.0.0.1", "localhost", "::1") or settings.admin_password:
        return None
    return (
        f"serving on {settings.host} without SIHUB_ADMIN_PASSWORD: anyone who can reach this address can "
        "read the documents (uploads and deletions stay disabled)"
    )


def serve(settings: Settings) -> None:
    """Start the server: warm the index and embedder first, so the first question is fast."""
    import time

    import uvicorn

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    warning = exposure_warning(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    hub = Hub(settings)
    remark = hub.warm()
    if remark:
        print(f"note: {remark}", file=sys.stderr, flush=True)
    app = create_app(settings, hub)
    print(
        f"sihub: serving on http://{settings.host}:{settings.port} (ready in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    if remark is None:
        hub.warm_quotes_in_background()  # answers read quote vectors as this thread fills them in
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
