"""Coordinator access: the admin password, compared in constant time, with failed tries rate-limited."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Denied(Exception):
    """Why a coordinator action was refused; `status` is the HTTP status that says it."""

    status: int
    message: str
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message


def bearer(authorization: str | None) -> bytes | None:
    """The token of an `Authorization: Bearer <token>` header, as the bytes the client sent
    (servers decode headers as Latin-1), or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip().encode("latin-1") if scheme.lower() == "bearer" else None


class Guard:
    """Checks the coordinator password for uploads and deletions.

    After `max_failures` wrong passwords from one client within `window` seconds, that client
    is refused (429) until the window has passed, even with the right password. The counter
    forgets a client once its failures are older than the window, and holds at most
    `max_clients` clients (the longest quiet go first), so a flood of addresses cannot grow it.

    `issue` makes an upload token, `valid` checks one: the web page's proof, for its file
    uploads, that the password was typed (see guards.GradioGate).
    """

    def __init__(
        self,
        password: str,
        max_failures: int = 5,
        window: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._password = password.encode("utf-8")
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        # Ordered by each client's latest failure, oldest first.
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)

    @property
    def enabled(self) -> bool:
        return bool(self._password)

    def check(self, supplied: str | bytes | None, client: str) -> None:
        """Return if `supplied` is the password; raise Denied (403, 401 or 429) otherwise.

        `supplied` is text, or the raw bytes of an HTTP header (UTF-8 for non-ASCII passwords).
        """
        if not self.enabled:
            raise Denied(403, "uploads and deletions are disabled: start sihub with SIHUB_ADMIN_PASSWORD set")
        now = self._clock()
        with self._lock:
            self._forget(now)
            tries = self._failures.get(client)
            while tries and now - tries[0] > self.window:
                tries.popleft()
            if tries and len(tries) >= self.max_failures:
                wait = int(self.window - (now - tries[0])) + 1
                raise Denied(429, f"too many wrong passwords: try again in {wait} s", retry_after=wait)
        if not supplied:
            raise Denied(401, "the coordinator password is required")
        given = supplied if isinstance(supplied, bytes) else supplied.encode("utf-8")
        if not hmac.compare_digest(given, self._password):
            self._failed(client, now)
            raise Denied(401, "wrong coordinator password")

    def clients(self) -> int:
        """How many clients the failure counter holds."""
        with self._lock:
            return len(self._failures)

    def _failed(self, client: str, now: float) -> None:
        with self._lock:
            tries = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
            tries.append(now)
            self._failures[client] = tries
            while len(self._failures) > self.max_clients:
                del self._failures[next(iter(self._failures))]

    def _forget(self, now: float) -> None:
        """Drop the clients whose latest failure is older than the window (they come first)."""
        while self._failures:
            client = next(iter(self._failures))
            if now - self._failures[client][-1] <= self.window:
                break
            del self._failures[client]

    # ---- upload tokens ----------------------------------------------------------------------

    def issue(self, ttl: float = 3600.0) -> str:
        """A token that `valid` accepts for `ttl` seconds (signed with this process's secret)."""
        expires = str(int(time.time() + ttl))
        return f"{expires}.{self._sign(expires)}"

    def valid(self, token: str) -> bool:
        expires, _, mac = token.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return self.enabled and hmac.compare_digest(mac.encode(), self._sign(expires).encode())

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), "sha256").hexdigest()
