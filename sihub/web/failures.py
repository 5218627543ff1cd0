"""Errors as JSON `{"error": "..."}` with a status that means something (the API's and the
viewer's; /v1 answers in OpenAI's shape, see `openai_compat`).

400 bad request, 401/403 coordinator access, 404 unknown document, 409 index busy, 413 too
large, 429 too many wrong passwords, 502 the language model failed, 503 no index built yet
(or the index or its Milvus server cannot be read).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sihub.errors import (
    EmbedderError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexUnavailableError,
    LLMError,
    SihubError,
)

from . import openai_compat
from .auth import Denied

ERROR_CHARS = 500
"""Longest error message sent back: a message never echoes more of the request than this."""


def clip(message: str) -> str:
    """A message no longer than ERROR_CHARS characters."""
    return message if len(message) <= ERROR_CHARS else message[: ERROR_CHARS - 1] + "…"


def error(status: int, message: str, **headers: str) -> JSONResponse:
    """`{"error": message}` with `status`."""
    return JSONResponse({"error": clip(message)}, status_code=status, headers=headers or None)


def _failed(request: Request, status: int, message: str, **headers: str) -> JSONResponse:
    """An exception's error response, in OpenAI's shape under /v1 (`openai_compat`)."""
    if openai_compat.owns(request.url.path):
        return openai_compat.error_response(status, clip(message), headers)
    return error(status, message, **headers)


def add_handlers(app: FastAPI) -> None:
    """Turn the domain's exceptions into error responses on `app`."""

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        return _failed(request, exc.status, exc.message, **headers)

    @app.exception_handler(IndexMissingError)
    @app.exception_handler(IndexMismatchError)
    @app.exception_handler(IndexUnavailableError)
    async def _no_index(request: Request, exc: SihubError) -> JSONResponse:
        return _failed(request, 503, str(exc))

    @app.exception_handler(IndexLockedError)
    async def _locked(request: Request, exc: SihubError) -> JSONResponse:
        return _failed(request, 409, str(exc))

    @app.exception_handler(SihubError)
    async def _sihub(request: Request, exc: SihubError) -> JSONResponse:
        # The remaining domain errors are about the request (e.g. an unknown filter key),
        # except a model that cannot be loaded or reached.
        status = 503 if isinstance(exc, EmbedderError) else 502 if isinstance(exc, LLMError) else 400
        return _failed(request, status, str(exc))

    @app.exception_handler(sqlite3.Error)
    async def _store(request: Request, exc: sqlite3.Error) -> JSONResponse:
        return _failed(
            request, 503, "the index cannot answer this request now (database error); try again or simplify it"
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _failed(request, 400, "bad request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        return _failed(request, exc.status_code, str(exc.detail))
