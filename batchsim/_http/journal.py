"""The request journal: every API call the emulator received, for assertions in tests.

It is bounded by count (:data:`DEFAULT_CALLS`) and by bytes (:data:`DEFAULT_BYTES`: each call
counts its kept body prefix, its headers and :data:`_OVERHEAD`), oldest dropped first, and keeps
only a prefix of each body (:data:`DEFAULT_BODY_PREFIX`). Over HTTP
(``GET /_batchsim/journal``) credentials are redacted to a short tail (``…a1b2``), and the answer
is encoded a few calls at a time as the client reads it (:func:`journal_response`), so a client
that stops reading holds neither the journal's JSON nor a copy of the journal.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from itertools import chain, islice
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from .._engine.times import rfc3339
from .spec import Dialect

__all__ = [
    "DEFAULT_BODY_PREFIX",
    "DEFAULT_BYTES",
    "DEFAULT_CALLS",
    "Call",
    "Journal",
    "journal_response",
    "key_tail",
    "redact",
]

RawHeaders = Sequence[tuple[bytes, bytes]]
_RawCall = tuple[str, str, bytes, bytes, int, str, RawHeaders, int | None, str | None, int, str | None]

DEFAULT_CALLS = 10_000
DEFAULT_BYTES = 64 * 1024 * 1024
DEFAULT_BODY_PREFIX = 1 << 20
_OVERHEAD = 256  # what one entry costs besides its body and headers, roughly
_SECRET_HEADERS = frozenset(
    {"x-api-key", "x-goog-api-key", "authorization", "proxy-authorization", "cookie", "x-batchsim-admin-token"}
)


_QUERY_KEY = re.compile(r"((?:^|&)key=)([^&]*)")
"""A credential in a query string (Gemini's ``?key=``), redacted like a credential header."""


def key_tail(key: str) -> str:
    """The end of an API key, never the whole of it: ``\u2026a1b2`` (fewer characters for short keys)."""
    shown = min(4, len(key) // 3)
    return "\u2026" + key[-shown:] if shown else "\u2026"


def redact(value: str) -> str:
    """A credential header cut to its :func:`key_tail`, after its scheme if it has one
    (``Bearer \u2026a1b2``)."""
    scheme, space, secret = value.partition(" ")
    if not space or not secret:
        return key_tail(value)
    return f"{scheme} {key_tail(secret)}"


class Call:
    """One API call as received: method, path, query, headers (lower-case names), body, status,
    the emulator time it arrived at (``at``, epoch microseconds) and the fault injected on it
    (``fault``: ``"status 529"``, ``"lost"``, ``"truncate"``, or ``None``).

    Recording one is cheap (the server records every call): the headers are kept as received
    and decoded into a dict the first time :attr:`headers` is read.
    """

    __slots__ = (
        "_headers",
        "_raw",
        "at",
        "body",
        "body_size",
        "endpoint",
        "fault",
        "key",
        "method",
        "path",
        "query",
        "status",
    )

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
        body_size: int | None = None,
        key: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self._headers = headers
        self._raw = raw_headers
        self.body = body
        self.body_size = len(body) if body_size is None else body_size
        """The size of the body as received (``body`` keeps at most the journal's body prefix)."""
        self.status = status
        self.endpoint = endpoint
        self.at = at
        self.fault = fault
        self.key = key
        """The API key the call was served under (its workspace), or ``None``."""

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
        """The call as plain data (for ``GET /_batchsim/journal``): credentials redacted, the body
        cut to ``body_limit`` bytes."""
        text = self.body[:body_limit].decode("utf-8", "replace")
        headers = {k: redact(v) if k in _SECRET_HEADERS else v for k, v in self.headers.items()}
        return {
            "method": self.method,
            "path": self.path,
            "query": _QUERY_KEY.sub(lambda m: m.group(1) + key_tail(m.group(2)), self.query),
            "headers": headers,
            "body": text,
            "body_truncated": self.body_size > min(body_limit, len(self.body)),
            "status": self.status,
            "endpoint": self.endpoint,
            "time": rfc3339(self.at) if self.at is not None else None,
            "fault": self.fault,
        }


class Journal:
    """A thread-safe list of calls, bounded by count (``limit``) and bytes (``max_bytes``),
    oldest dropped first; each body is kept up to ``body_prefix`` bytes."""

    def __init__(
        self,
        enabled: bool = True,
        limit: int = DEFAULT_CALLS,
        *,
        max_bytes: int = DEFAULT_BYTES,
        body_prefix: int = DEFAULT_BODY_PREFIX,
    ) -> None:
        self.enabled = enabled
        self.limit = limit
        self.max_bytes = max_bytes
        self.body_prefix = body_prefix
        self._calls: deque[tuple[_RawCall, int]] = deque()
        self._bytes = 0
        self._dropped = 0  # calls dropped from the front, ever: the position of the oldest kept
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The bytes the journal counts against ``max_bytes`` now."""
        return self._bytes

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
        key: str | None = None,
        size: int | None = None,
    ) -> None:
        """Record a call from its raw parts; the :class:`Call` is only built when read. ``key``
        is the credential the call was served under (when a call carries two, the one the server
        used); ``size`` the body's size when ``body`` is only its start (an upload)."""
        kept = body[: self.body_prefix] if len(body) > self.body_prefix else body
        cost = _OVERHEAD + len(kept) + len(query) + len(path) + sum(map(len, chain.from_iterable(headers)))
        with self._lock:
            calls = self._calls
            whole = len(body) if size is None else max(size, len(body))
            calls.append(((method, path, query, kept, status, endpoint, headers, at, fault, whole, key), cost))
            self._bytes += cost
            while len(calls) > self.limit or self._bytes > self.max_bytes:
                self._bytes -= calls.popleft()[1]
                self._dropped += 1

    def calls(self) -> list[Call]:
        with self._lock:
            entries = [entry for entry, _ in self._calls]
        return [_call(*e) for e in entries]

    def clear(self) -> None:
        with self._lock:
            self._dropped += len(self._calls)
            self._calls.clear()
            self._bytes = 0

    def numbered(self) -> tuple[int, list[Call]]:
        """The calls kept, oldest first, and the position of the oldest. A call's position is
        its number since the journal was made (a clear does not restart it), so it names the
        call for :meth:`at` as long as the journal keeps it."""
        with self._lock:
            first = self._dropped
            entries = [entry for entry, _ in self._calls]
        return first, [_call(*e) for e in entries]

    def at(self, position: int) -> Call | None:
        """The call at ``position`` (see :meth:`numbered`), or ``None`` once it is dropped."""
        with self._lock:
            index = position - self._dropped
            if not 0 <= index < len(self._calls):
                return None
            entry = self._calls[index][0]
        return _call(*entry)

    def _span(self) -> tuple[int, int]:
        """The positions of the calls kept now: ``[oldest, newest + 1)``."""
        with self._lock:
            return self._dropped, self._dropped + len(self._calls)

    def _window(self, start: int, end: int, count: int) -> tuple[int, list[Call]]:
        """Up to ``count`` calls still kept from position ``start`` (those dropped meanwhile are
        skipped) and before ``end``; and the position after them."""
        with self._lock:
            first = self._dropped
            skip = max(start - first, 0)
            raw = [entry for entry, _ in islice(self._calls, skip, max(skip, min(end - first, skip + count)))]
        return first + skip + len(raw), [_call(*entry) for entry in raw]


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
    size: int,
    key: str | None,
) -> Call:
    # ``request.url.path`` without building the URL (the same escapes Starlette applies).
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return Call(
        method,
        path,
        query.decode(),
        None,
        body,
        status,
        endpoint,
        raw_headers=headers,
        at=at,
        fault=fault,
        body_size=size,
        key=key,
    )


_CHUNK = 64 * 1024  # bytes of encoded calls per piece of the answer
_WINDOW = 16  # calls taken from the journal at a time


async def _journal_json(journal: Journal, body_limit: int) -> AsyncIterator[bytes]:
    """``{"calls": [...]}`` of the calls kept when it starts, encoded call by call and sent in
    pieces of about :data:`_CHUNK` bytes."""
    position, end = journal._span()
    parts: list[bytes] = [b'{"calls":[']
    size = 0
    separator = b""
    while position < end:
        position, calls = journal._window(position, end, _WINDOW)
        if not calls:
            break
        for call in calls:
            part = orjson.dumps(call.to_dict(body_limit))
            parts += (separator, part)
            separator = b","
            size += len(part)
            if size >= _CHUNK:
                yield b"".join(parts)
                parts, size = [], 0
        del calls
    parts.append(b"]}")
    yield b"".join(parts)


def journal_response(journal: Journal, dialect: Dialect, body_limit: int = 65536) -> StreamingResponse:
    """``GET /_batchsim/journal``: every call the journal keeps (credentials redacted, bodies cut
    to ``body_limit``) as ``{"calls": [...]}``, encoded as it is sent, with a request id as
    ``dialect``'s answers have. A call the journal drops while the answer is sent is left out."""
    response = StreamingResponse(_journal_json(journal, body_limit), media_type="application/json")
    if dialect.request_id_header is not None:
        response.raw_headers.insert(0, (dialect.request_id_header, dialect.request_id()))
    return response
