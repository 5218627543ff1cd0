"""The HTTP API under /api: health, ask, search, documents (list, upload, delete).

Each route is a thin call into `Hub`; errors are turned into JSON by `failures`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sihub.settings import Settings
from sihub.types import FileResult

from .auth import Guard, bearer
from .failures import error
from .hub import Hub
from .render import report_lines


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
    by: Literal["country", "partner"] | None = Field(
        None,
        description="Compare: one section per country (or partner) with its best cited passages; the answer "
        'gains `groups`: [{"key", "label", "found", "citations": [n, ...]}].',
    )


def upload_limit(settings: Settings) -> int:
    """The upload limit in bytes (one request, all its files)."""
    return int(settings.max_upload_mb * 1024 * 1024)


def add_routes(app: FastAPI, hub: Hub, settings: Settings, guard: Guard) -> None:
    """The /api routes on `app`, answering from `hub`; writes need `guard`'s password."""
    limit = upload_limit(settings)

    def admin(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        guard.check(bearer(request.headers.get("authorization")), client)

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
        if body.by:
            answer = hub.compare(body.question, body.by, body.k, body.history, body.filters)
        else:
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
    def documents(
        country: str | None = Query(None, description="Country code(s), comma-separated alternatives: `LV,SE`."),
        partner: str | None = Query(None, description="Partner(s), comma-separated alternatives."),
        type: str | None = Query(None, description="Document type(s)."),  # noqa: A002 - the public parameter name
        year: str | None = Query(None, description="Year(s): `2021,2022`."),
        lang: str | None = Query(None, description="Language(s) the document is written in: `lv,en`."),
        q: str | None = Query(None, max_length=200, description="Words the title, file, partner or abstract hold."),
    ) -> dict[str, Any]:
        """The catalogue: the indexed documents that match (the fields of `sihub docs --json`, each with
        its `abstract`, `country`, `partner`, `type` and `year`), the count of documents for each
        value of each field (`facets`, each counted with the other filters applied) and `total`."""
        from sihub.assistant.catalogue import Query as CatalogueQuery

        query = CatalogueQuery.of(q, country=country, partner=partner, type=type, year=year, lang=lang)
        return hub.browse(query)

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


def add_gap_routes(app: FastAPI, hub: Hub, guard: Guard) -> None:
    """`GET /api/gaps` (coordinators)."""

    @app.get("/api/gaps", tags=["gaps"])
    def gaps(
        request: Request,
        since: str | None = Query(None, description="Only questions asked from this ISO date on (2026-11-01)."),
    ) -> dict[str, Any]:
        """Unanswered and thumbs-down questions grouped by topic, the biggest first (coordinators):
        `{"questions": N, "topics": [{"label", "count", "languages": {lang: n}, "examples": [...]}]}`."""
        from datetime import datetime

        client = request.client.host if request.client else "unknown"
        guard.check(bearer(request.headers.get("authorization")), client)
        if since:
            try:
                datetime.fromisoformat(since)
            except ValueError:
                return error(400, f"since: {since[:40]!r} is not a date like 2026-11-01")
        return hub.gap_report(since)


def add_fallback(app: FastAPI) -> None:
    """A JSON 404 for any other /api path (added after every /api route)."""

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str) -> JSONResponse:
        return error(404, f"no such endpoint: /api/{rest}")


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
