"""The request journal: every API call the emulator received, for assertions in tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Call", "Journal"]


@dataclass(frozen=True)
class Call:
    """One API call as received: method, path, query, headers (lower-case names), body, status."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int
    endpoint: str

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
        }


class Journal:
    """A bounded, thread-safe list of calls (oldest dropped first)."""

    def __init__(self, enabled: bool = True, limit: int = 10_000) -> None:
        self.enabled = enabled
        self.limit = limit
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            if len(self._calls) > self.limit:
                del self._calls[: len(self._calls) - self.limit]

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
