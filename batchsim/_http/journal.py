"""The request journal: every API call the emulator received, for assertions in tests."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from .._engine.clock import rfc3339

__all__ = ["Call", "Journal"]

RawHeaders = Sequence[tuple[bytes, bytes]]
_RawCall = tuple[str, str, bytes, bytes, int, str, RawHeaders, int | None, str | None]


class Call:
    """One API call as received: method, path, query, headers (lower-case names), body, status,
    the emulator time it arrived at (``at``, epoch microseconds) and the fault injected on it
    (``fault``: ``"status 529"``, ``"lost"``, ``"truncate"``, or ``None``).

    Recording one is cheap (the server records every call): the headers are kept as received
    and decoded into a dict the first time :attr:`headers` is read.
    """

    __slots__ = ("_headers", "_raw", "at", "body", "endpoint", "fault", "method", "path", "query", "status")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        status: int = 0,
        endpoint: str = "",
        *,
        raw_headers: RawHeaders | None = None,
        at: int | None = None,
        fault: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self._headers = headers
        self._raw = raw_headers
        self.body = body
        self.status = status
        self.endpoint = endpoint
        self.at = at
        self.fault = fault

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self._raw or ()}
        return self._headers

    def __repr__(self) -> str:
        return (
            f"Call(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"status={self.status!r}, endpoint={self.endpoint!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Call):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.method, self.path, self.query, self.status, self.endpoint))

    def _key(self) -> tuple[Any, ...]:
        return (self.method, self.path, self.query, self.headers, self.body, self.status, self.endpoint)

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return orjson.loads(self.body) if self.body else None

    def to_dict(self, body_limit: int = 65536) -> dict[str, Any]:
        text = self.body[:body_limit].decode("utf-8", "replace")
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": text,
            "body_truncated": len(self.body) > body_limit,
            "status": self.status,
            "endpoint": self.endpoint,
            "time": rfc3339(self.at) if self.at is not None else None,
            "fault": self.fault,
        }


class Journal:
    """A bounded, thread-safe list of calls (oldest dropped first)."""

    def __init__(self, enabled: bool = True, limit: int = 10_000) -> None:
        self.enabled = enabled
        self.limit = limit
        self._calls: deque[_RawCall] = deque(maxlen=limit)  # the oldest drop out past ``limit``
        self._lock = threading.Lock()

    def record_raw(
        self,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        status: int,
        endpoint: str,
        headers: RawHeaders,
        at: int | None = None,
        fault: str | None = None,
    ) -> None:
        """Record a call from its raw parts; the :class:`Call` is only built when read."""
        self._calls.append((method, path, query, body, status, endpoint, headers, at, fault))

    def calls(self) -> list[Call]:
        with self._lock:
            entries = list(self._calls)
        return [_call(*e) for e in entries]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


def _call(
    method: str,
    path: str,
    query: bytes,
    body: bytes,
    status: int,
    endpoint: str,
    headers: RawHeaders,
    at: int | None,
    fault: str | None,
) -> Call:
    # ``request.url.path`` without building the URL (the same escapes Starlette applies).
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return Call(method, path, query.decode(), None, body, status, endpoint, raw_headers=headers, at=at, fault=fault)
