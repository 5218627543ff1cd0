"""`sihub serve`: the FastAPI app with the HTTP API under /api, the web chat (Gradio) at "/".

Errors are JSON `{"error": "..."}` with a status that means something: 400 bad request,
401/403 coordinator access, 404 unknown document, 409 index busy, 413 too large, 429 too many
wrong passwords, 503 no index built yet (or the index cannot be read).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sihub.errors import (
    EmbedderError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    LLMError,
    SihubError,
)
from sihub.settings import Settings
from sihub.types import FileResult

from . import openai_compat
from .auth import Denied, Guard, bearer
from .guards import GRADIO_UPLOAD, BodyLimit, GradioGate, HostCheck, SameOrigin
from .hub import Hub
from .render import report_lines

ERROR_CHARS = 500
"""Longest error message sent back: a message never echoes more of the request than this."""

API_DESCRIPTION = """Cited multilingual search over the social-innovation knowledge hub.

Reading is open. Uploading and deleting documents need the coordinator password
(`SIHUB_ADMIN_PASSWORD`) as `Authorization: Bearer <password>`.
"""


class AskBody(BaseModel):
    """The body of `POST /api/ask`."""

    question: str = Field(
        ..., min_length=1, description="The question, in any language (at most SIHUB_MAX_QUESTION_CHARS characters)."
    )
    k: int | None = Field(
        None, ge=1, le=50, description="Passages to draw from, these only (default: SIHUB_ASK_K and those beside them)."
    )
    filters: dict[str, str | int | list[str | int]] | None = Field(
        None, description="Restrict to documents: lang, country, partner, type, year, file."
    )
    history: list[dict[str, str]] | None = Field(
        None,
        description='Earlier turns, oldest first: [{"role": "user"|"assistant", "content": "..."}] '
        "(at most SIHUB_MAX_HISTORY_TURNS).",
    )


def create_app(settings: Settings, hub: Hub | None = None):  # noqa: ANN201 - FastAPI, imported lazily
    import gradio as gr

    from sihub import __version__

    from .ui import build_ui, ui_assets

    hub = hub or Hub(settings)
    guard = Guard(settings.admin_password)
    limit = upload_limit(settings)

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
    _add_guards(app, settings, guard)

    def error(status: int, message: str, **headers: str) -> JSONResponse:
        return JSONResponse({"error": _clip(message)}, status_code=status, headers=headers or None)

    def failed(request: Request, status: int, message: str, **headers: str) -> JSONResponse:
        """An exception's error response, in OpenAI's shape under /v1 (`openai_compat`)."""
        if openai_compat.owns(request.url.path):
            return openai_compat.error_response(status, _clip(message), headers)
        return error(status, message, **headers)

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        return failed(request, exc.status, exc.message, **headers)

    @app.exception_handler(IndexMissingError)
    @app.exception_handler(IndexMismatchError)
    async def _no_index(request: Request, exc: SihubError) -> JSONResponse:
        return failed(request, 503, str(exc))

    @app.exception_handler(IndexLockedError)
    async def _locked(request: Request, exc: SihubError) -> JSONResponse:
        return failed(request, 409, str(exc))

    @app.exception_handler(SihubError)
    async def _sihub(request: Request, exc: SihubError) -> JSONResponse:
        # The remaining domain errors are about the request (e.g. an unknown filter key),
        # except a model that cannot be loaded or reached.
        status = 503 if isinstance(exc, EmbedderError) else 502 if isinstance(exc, LLMError) else 400
        return failed(request, status, str(exc))

    @app.exception_handler(sqlite3.Error)
    async def _store(request: Request, exc: sqlite3.Error) -> JSONResponse:
        return failed(
            request, 503, "the index cannot answer this request now (database error); try again or simplify it"
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return failed(request, 400, "bad request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return failed(request, exc.status_code, str(exc.detail))

    def admin(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        guard.check(bearer(request.headers.get("authorization")), client)

    # ---- routes -----------------------------------------------------------------------------

    @app.get("/api/health", tags=["status"])
    def health() -> dict[str, Any]:
        """Index size, embedder and version (503 when no index is built)."""
        return hub.health()

    @app.post("/api/ask", tags=["ask"], response_model=None)
    def ask(
        body: AskBody,
        format: Literal["json", "markdown"] = Query(  # noqa: A002 - the public parameter name
            "json", description="`markdown`: the answer with numbered references, as `sihub ask --markdown`."
        ),
    ) -> dict[str, Any] | Response:
        """An answer with numbered citations: the same object as `sihub ask --json` (or its Markdown)."""
        answer = hub.ask(body.question, body.k, body.history, body.filters)
        if format == "markdown":
            from sihub.assistant.export import to_markdown

            return Response(to_markdown(answer), media_type="text/markdown; charset=utf-8")
        return answer.to_json()

    @app.get("/api/search", tags=["ask"])
    def search(
        q: str = Query(
            ..., min_length=1, description="The query, in any language (at most SIHUB_MAX_QUESTION_CHARS characters)."
        ),
        k: int = Query(10, ge=1, le=100),
        filter: Annotated[  # noqa: A002 - the public parameter name
            list[str] | None,
            Query(description="KEY=VALUE, repeatable: lang, country, partner, type, year, file (e.g. country=LV)."),
        ] = None,
    ) -> dict[str, Any]:
        """The passages closest to `q`: the same object as `sihub search --json`."""
        return {"query": q, "hits": [h.to_json() for h in hub.search(q, k, filter or None)]}

    @app.get("/api/documents", tags=["documents"])
    def documents() -> dict[str, Any]:
        """The indexed documents (the same fields as `sihub docs --json`, plus `id`)."""
        return {"documents": [d.to_json() for d in hub.documents()]}

    @app.post("/api/documents", tags=["documents"], status_code=201)
    def upload(request: Request, files: list[UploadFile] = File(..., description="One or more documents.")) -> Any:  # noqa: B008
        """Add documents (coordinators): saved under the library folder, then indexed.

        Returns the per-file results and the summary line `sihub ingest` prints. 400 when no
        file could be saved, 413 when the request is larger than the upload limit or holds more
        than SIHUB_MAX_UPLOAD_FILES files.
        """
        admin(request)
        if len(files) > settings.max_upload_files:
            return error(413, f"at most {settings.max_upload_files} files in one upload")
        try:
            report, refused = hub.add_uploads([(f.filename or "", _copier(f, limit)) for f in files])
        except _TooLarge as exc:
            return error(413, f"{exc}: larger than the upload limit ({settings.max_upload_mb:g} MB)")
        if report is None:
            return error(400, "; ".join(r.reason for r in refused) or "no files")
        results = [_result_json(r) for r in refused + report.results]
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

    openai_compat.add_routes(app, hub)

    theme, css, head = ui_assets()
    demo = build_ui(hub, settings, guard)
    gr.mount_gradio_app(
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
    # Gradio checks that the files an event's data names were uploaded to it (are inside its
    # upload folder) only for Blocks it launched itself; these are mounted, so say they were.
    # Without it, any file the server can read could be named and fetched back (issue 18).
    demo.has_launched = True
    return app


def _clip(message: str) -> str:
    """A message no longer than ERROR_CHARS characters."""
    return message if len(message) <= ERROR_CHARS else message[: ERROR_CHARS - 1] + "…"


def upload_limit(settings: Settings) -> int:
    """The upload limit in bytes (one request, all its files)."""
    return int(settings.max_upload_mb * 1024 * 1024)


def _add_guards(app: Any, settings: Settings, guard: Guard) -> None:
    """The middleware of `guards`, outermost first: host, origin, upload access, body size."""
    app.add_middleware(
        BodyLimit,
        limit=settings.max_request_kb * 1024,
        upload_limit=upload_limit(settings),
        max_files=settings.max_upload_files,
        upload_paths=("/api/documents", GRADIO_UPLOAD),
    )
    app.add_middleware(GradioGate, guard=guard)
    app.add_middleware(SameOrigin)
    app.add_middleware(HostCheck, allowed=settings.allowed_hosts)


def _result_json(r: FileResult) -> dict[str, Any]:
    return {"file": r.path, "status": r.status, "reason": r.reason, "chunks": r.chunks, "warnings": r.warnings}


class _TooLarge(Exception):
    """An uploaded file went over the limit; the message is its name."""


def _copier(upload: Any, limit: int) -> Any:
    """A writer (hub.Writer) that copies an UploadFile, refusing more than `limit` bytes."""

    def copy(out: Any) -> None:
        total = 0
        upload.file.seek(0)
        while block := upload.file.read(1 << 20):
            total += len(block)
            if total > limit:
                raise _TooLarge(upload.filename or "upload")
            out.write(block)

    return copy


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
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    # Forwarded headers are believed only from configured proxies: otherwise any client could
    # name its own address (and dodge the password rate limit).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )
