"""The original files of indexed documents, served by document id only; and the web chat's
answers as Markdown, by the token `Hub.kept` gave them.

A file is found through the index (`Hub.file_of`), never from a path in the request: no name
the asker sends can reach a file that is not an indexed document (issue 18).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

from .failures import error
from .hub import Hub

_TYPES = {
    ".pdf": "application/pdf",
    ".md": "text/plain; charset=utf-8",
    ".markdown": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def add_routes(app: FastAPI, hub: Hub) -> None:
    """`GET /files/{doc_id}` and `GET /answers/{token}.md` on `app`."""

    @app.get("/answers/{token}/{name}", tags=["documents"], include_in_schema=False)
    def kept_answer(token: str, name: str) -> Any:
        """An answer of the web chat as Markdown with its references (`Hub.kept`), as a download."""
        text = hub.kept.get(token)
        name = name if re.fullmatch(r"[\w.-]{1,80}\.md", name) else "sihub-answer.md"
        if text is None:
            return error(404, "this answer is no longer kept: ask the question again")
        return Response(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    @app.get("/files/{doc_id}", tags=["documents"])
    def original(doc_id: int) -> Any:
        """The original file of an indexed document (PDFs open at `#page=N`)."""
        doc = hub.document(doc_id)
        if doc is None:
            return error(404, f"no document with id {doc_id}")
        path = hub.file_of(doc)
        if path is None:
            return error(404, f"{doc.path}: the file is no longer there")
        return file_response(path)


def file_response(path: Path) -> FileResponse:
    """The file, inline when a browser shows it safely; a partner's HTML never runs its scripts here."""
    media = _TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"X-Content-Type-Options": "nosniff"}
    if media.startswith("text/html"):
        headers["Content-Security-Policy"] = "sandbox"
    inline = media.startswith(("application/pdf", "text/"))
    return FileResponse(
        path,
        media_type=media,
        headers=headers,
        filename=path.name,
        content_disposition_type="inline" if inline else "attachment",
    )
