"""ASGI middleware in front of the whole server (the API and the web page's Gradio routes).

Each refuses a request before any route sees it, with a JSON `{"error": ...}` (under /v1, the
OpenAI-compatible routes, in OpenAI's shape `{"error": {"message", "type", "param", "code"}}`,
which chat clients read):

- `HostCheck`: a Host header naming a server this is not (DNS rebinding) gets 400;
- `SameOrigin`: a write (POST, PUT, PATCH, DELETE) sent by a page of another site gets 403;
- `GradioGate`: the web page's file uploads (`/gradio_api/upload`) need the coordinator's
  upload cookie (issued once the password is checked) or the password itself, and its file
  route serves no web address (Gradio would fetch any public URL for the asker);
- `BodyLimit`: a body over its limit (uploads: size and number of files) gets 413.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from .auth import Denied, Guard, bearer

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

GRADIO_UPLOAD = "/gradio_api/upload"
GRADIO_FILE = "/gradio_api/file"
UPLOAD_COOKIE = "sihub_upload"
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


async def refuse(scope: Scope, send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """Send a JSON error response, in OpenAI's error shape for the OpenAI-compatible paths."""
    from .openai_compat import error_body, owns

    error = error_body(status, message) if owns(_path(scope)) else {"error": message}
    body = json.dumps(error).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


def _path(scope: Scope) -> str:
    """The request path without repeated or trailing slashes."""
    return "/" + "/".join(p for p in str(scope.get("path", "")).split("/") if p)


def _names_url(path: str) -> bool:
    """Whether a Gradio file route names a web address (`/gradio_api/file=https://...`)."""
    target = path.split("file", 1)[1].lstrip("=/").lower()
    return target.startswith(("http:", "https:", "ftp:"))


def _host_name(netloc: str) -> str:
    """The host of `host[:port]` or `[v6]:port`, lower case, without a trailing dot."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.rpartition(":")[0].rstrip(".") if ":" in netloc else netloc.rstrip(".")


def _with_port(netloc: str, scheme: str = "http") -> str:
    """`host:port` with the scheme's default port spelled out, for comparing two origins."""
    netloc = netloc.strip().lower()
    _, sep, port = netloc.rpartition(":")
    return netloc if sep and port.isdigit() else f"{netloc}:{443 if scheme == 'https' else 80}"


class HostCheck:
    """Answers only requests whose Host is an IP address, `localhost`, or one of `allowed`.

    A web page cannot then reach a server on loopback through a name it controls and points at
    127.0.0.1 (DNS rebinding): the browser would send that name as Host.
    """

    def __init__(self, app: Any, allowed: str) -> None:
        self.app = app
        self.allowed = {_host_name(h) for h in allowed.split(",") if h.strip()}

    def allows(self, host: str | None) -> bool:
        if host is None or "*" in self.allowed:
            return True
        name = _host_name(host)
        if name == "localhost" or name in self.allowed:
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.allows(_header(scope, b"host")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refuse(scope, send, 400, "unknown host: add it to SIHUB_ALLOWED_HOSTS to serve it")
            return
        await self.app(scope, receive, send)


class SameOrigin:
    """Refuses writes that a page of another site sends (cross-site request forgery).

    A browser names the page's origin in `Origin` (and `Sec-Fetch-Site`); a write whose origin is
    not this server's host gets 403. Requests without these headers (curl, scripts) pass.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    @staticmethod
    def foreign(scope: Scope) -> bool:
        if _header(scope, b"sec-fetch-site") in ("cross-site", "same-site"):
            return True
        origin = _header(scope, b"origin")
        if origin is None:
            return False
        parts = urlsplit(origin)
        host = _header(scope, b"host") or ""
        return not parts.netloc or _with_port(parts.netloc, parts.scheme) != _with_port(host, parts.scheme)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in _WRITES and self.foreign(scope):
            await refuse(scope, send, 403, "refused: the request comes from a page of another site")
            return
        await self.app(scope, receive, send)


class GradioGate:
    """The web page uploads files to `/gradio_api/upload` before they are added; only a
    coordinator may: with the upload cookie `Guard.issue` made when the page checked the
    password, or with `Authorization: Bearer <password>`. Without a password, never.

    Gradio's file route (`/gradio_api/file=<path or URL>`) would also fetch any public web
    address for whoever asks; the page never needs that, so only local paths pass."""

    def __init__(self, app: Any, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    def check(self, scope: Scope) -> None:
        if not self.guard.enabled:
            raise Denied(403, "uploads are disabled: start sihub with SIHUB_ADMIN_PASSWORD set")
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie") or "")
        except CookieError:  # a malformed cookie header is no cookie
            cookie = SimpleCookie()
        if UPLOAD_COOKIE in cookie and self.guard.valid(cookie[UPLOAD_COOKIE].value):
            return
        supplied = bearer(_header(scope, b"authorization"))
        client = (scope.get("client") or ("unknown",))[0]
        if supplied is None:
            raise Denied(401, "uploading needs the coordinator password: type it and press Unlock first")
        self.guard.check(supplied, client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _path(scope) if scope["type"] == "http" else ""
        if path.startswith((GRADIO_FILE + "=", GRADIO_FILE + "/")) and _names_url(path):
            await refuse(scope, send, 403, "only files of this server are served here")
            return
        if path == GRADIO_UPLOAD:
            try:
                self.check(scope)
            except Denied as exc:
                headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
                await refuse(scope, send, exc.status, exc.message, headers)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """A request body over its limit gets 413 at once: an upload (`upload_paths`) at most
    `upload_limit` bytes in `max_files` files, any other body at most `limit` bytes.

    Checks Content-Length up front, and counts the bytes (and multipart parts) of bodies as
    they stream in, so a body sent without a length is cut off too.
    """

    def __init__(self, app: Any, limit: int, upload_limit: int, max_files: int, upload_paths: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.max_files = max_files
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WRITES:
            await self.app(scope, receive, send)
            return
        upload = _path(scope) in self.upload_paths
        # Multipart framing adds a little to the files themselves.
        allowed = self.upload_limit + 64 * 1024 if upload else self.limit
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > allowed:
            await refuse(scope, send, 413, self._too_large(upload))
            return
        meter = _Meter(allowed, _boundary(scope) if upload else None, self.max_files)
        started = False

        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request" and meter.add(message.get("body", b"")):
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            nonlocal started
            if meter.over is None:
                started = True
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if meter.over is None:
                raise
        if meter.over is not None and not started:
            reason = f"at most {self.max_files} files in one upload" if meter.over == "files" else None
            await refuse(scope, send, 413, reason or self._too_large(upload))

    @staticmethod
    def _too_large(upload: bool) -> str:
        if upload:
            return "upload larger than the limit (SIHUB_MAX_UPLOAD_MB)"
        return "request body larger than the limit (SIHUB_MAX_REQUEST_KB)"


def _boundary(scope: Scope) -> bytes | None:
    kind = _header(scope, b"content-type") or ""
    for part in kind.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "boundary" and value:
            return b"--" + value.strip('"').encode("latin-1")
    return None


class _Meter:
    """Counts a streamed body's bytes and, given the multipart `delimiter`, its parts."""

    def __init__(self, limit: int, delimiter: bytes | None, max_parts: int) -> None:
        self.limit = limit
        self.delimiter = delimiter
        self.max_parts = max_parts
        self.seen = 0
        self.delimiters = 0
        self.tail = b""
        self.over: str | None = None

    def add(self, block: bytes) -> bool:
        """Count `block`; True once the body is over a limit."""
        self.seen += len(block)
        if self.seen > self.limit:
            self.over = "bytes"
        elif self.delimiter:
            # The tail is shorter than a delimiter: each one found holds a byte of `block`.
            window = self.tail + block
            self.delimiters += window.count(self.delimiter)
            self.tail = window[-(len(self.delimiter) - 1) :]
            if self.delimiters - 1 > self.max_parts:  # the last delimiter closes the body
                self.over = "files"
        return self.over is not None
