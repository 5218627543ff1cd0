"""Coordinator access: the admin password, compared in constant time, with failed tries rate-limited."""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Denied(Exception):
    """Why a coordinator action was refused; `status` is the HTTP status that says it."""

    status: int
    message: str
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message


class Guard:
    """Checks the coordinator password for uploads and deletions.

    After `max_failures` wrong passwords from one client within `window` seconds, that client
    is refused (429) until the window has passed, even with the right password.
    """

    def __init__(self, password: str, max_failures: int = 5, window: float = 60.0) -> None:
        self._password = password.encode("utf-8")
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._password)

    def check(self, supplied: str | bytes | None, client: str) -> None:
        """Return if `supplied` is the password; raise Denied (403, 401 or 429) otherwise.

        `supplied` is text, or the raw bytes of an HTTP header (UTF-8 for non-ASCII passwords).
        """
        if not self.enabled:
            raise Denied(403, "uploads and deletions are disabled: start sihub with SIHUB_ADMIN_PASSWORD set")
        now = time.monotonic()
        with self._lock:
            tries = self._failures.setdefault(client, deque())
            while tries and now - tries[0] > self.window:
                tries.popleft()
            if len(tries) >= self.max_failures:
                wait = int(self.window - (now - tries[0])) + 1
                raise Denied(429, f"too many wrong passwords: try again in {wait} s", retry_after=wait)
        if not supplied:
            raise Denied(401, "the coordinator password is required")
        given = supplied if isinstance(supplied, bytes) else supplied.encode("utf-8")
        ok = hmac.compare_digest(given, self._password)
        if not ok:
            with self._lock:
                self._failures.setdefault(client, deque()).append(now)
            raise Denied(401, "wrong coordinator password")
