"""`sihub serve`: the FastAPI app with the HTTP API under /api, the web chat (Gradio) at "/".

`create_app` only puts the parts together: the guards in front (`guards`), the errors as JSON
(`failures`), the API (`api`), the original files (`files`), the OpenAI-compatible routes
(`openai_compat`) and the web page (`ui`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sihub.settings import Settings

from . import api, failures, files, openai_compat, viewer
from .api import upload_limit
from .auth import Guard
from .guards import GRADIO_UPLOAD, BodyLimit, GradioGate, HostCheck, SameOrigin
from .hub import Hub
from .text import LangPage, translations

API_DESCRIPTION = """Cited multilingual search over the social-innovation knowledge hub.

Reading is open. Uploading and deleting documents need the coordinator password
(`SIHUB_ADMIN_PASSWORD`) as `Authorization: Bearer <password>`.
"""


def create_app(settings: Settings, hub: Hub | None = None):  # noqa: ANN201 - FastAPI, imported lazily
    from fastapi import FastAPI

    from sihub import __version__

    hub = hub or Hub(settings)
    guard = Guard(settings.admin_password)
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
    app.add_middleware(LangPage)  # added first, so innermost: the page learns the reader's language
    _add_guards(app, settings, guard)
    failures.add_handlers(app)
    api.add_routes(app, hub, settings, guard)
    api.add_gap_routes(app, hub, guard)
    api.add_fallback(app)
    files.add_routes(app, hub)
    viewer.add_routes(app, hub, settings)
    openai_compat.add_routes(app, hub)
    _mount_page(app, hub, settings, guard)
    return app


def _mount_page(app: Any, hub: Hub, settings: Settings, guard: Guard) -> None:
    """The web page (Gradio) at "/"."""
    import gradio as gr

    from .ui import build_ui, ui_assets

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
        i18n=translations(),
        max_file_size=upload_limit(settings),
        show_error=True,
    )
    # Gradio checks that the files an event's data names were uploaded to it (are inside its
    # upload folder) only for Blocks it launched itself; these are mounted, so say they were.
    # Without it, any file the server can read could be named and fetched back (issue 18).
    demo.has_launched = True


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
