"""What one connection may make the server hold, and for how long.

uvicorn buffers a request head until it ends, however long it grows and however slowly it comes,
keeps a connection whose client stopped reading an answer, and accepts connections until the
process runs out of file descriptors (then it stops answering everyone). The protocols of
:mod:`.protocols` enforce :data:`LIMITS` instead:

* a request target (path and query) longer than ``url_max`` is answered 414, a header block
  larger than ``headers_max`` 431, and the connection is closed: a head that is still
  incomplete past both bounds is refused as it arrives, never buffered whole;
* a head that has not arrived in full ``header_timeout`` seconds after its first byte (or after
  the connection opened) is answered 408 and closed;
* a send that waits more than ``send_timeout`` seconds for the client to read cuts the
  connection (the answer's source, a results file or the journal, is let go);
* past ``connections_max`` open connections a new one is answered 529 ``overloaded_error`` and
  closed at once, so the descriptors the open ones need (a socket, a request body's spool file
  or a results file) never run out. By default it is tied to the process's descriptor limit.

Each refusal is the API's error envelope with a ``request-id``. Timeouts are checked once a
second by one :class:`Sweeper` per server (a timer on its event loop), so a request costs no timer
of its own. Request bodies that stop arriving are timed out where they are read
(:func:`batchsim._http.bodies.read_body`).
"""

from __future__ import annotations

import asyncio
import http
import random
import resource
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from .._engine.ids import IdFormat

__all__ = [
    "LIMITS",
    "Limits",
    "Sweeper",
    "configure",
    "default_connections_max",
    "every_second",
    "header_bytes",
    "raise_descriptor_limit",
    "refusal",
    "sweeper",
]

_RESERVED_DESCRIPTORS = 64
"""Descriptors kept for the process itself (its database, lock files, results writer, logs)."""
_SWEEP_EVERY = 1.0


@dataclass
class Limits:
    """The bounds of :mod:`batchsim._serve.connections`, for every server of this process."""

    headers_max: int = 64 * 1024
    """Bytes of the header block (each header counts its name, value and 4 bytes)."""
    url_max: int = 16 * 1024
    """Bytes of the request target (path and query string)."""
    header_timeout: float = 30.0
    """Seconds a request head may take to arrive in full."""
    send_timeout: float = 60.0
    """Seconds a send may wait for the client to read."""
    connections_max: int = 0
    """Open connections at once; 0: :func:`default_connections_max` when the server starts."""


LIMITS = Limits()
"""The bounds in force; ``batchsim serve`` sets them from its options before it starts."""


def default_connections_max() -> int:
    """Half of the descriptors left once the process's own are set aside: each connection may
    hold two (its socket, and a request body's spool file or a results file it reads)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(8, (soft - _RESERVED_DESCRIPTORS) // 2)


def raise_descriptor_limit(ceiling: int = 1 << 16) -> int:
    """Raise this process's soft descriptor limit to its hard limit (at most ``ceiling``), as
    servers do; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # pragma: no cover - a sandbox that refuses it
            pass
    return soft


def header_bytes(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The size of a header block as :attr:`Limits.headers_max` counts it."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


_ids = random.Random()
_REQUEST_ID = IdFormat("req_", 22, lead="01")  # the shape of the API's request ids


def refusal(status: int, message: str, error_type: str, *extra: tuple[bytes, bytes]) -> bytes:
    """A whole HTTP/1.1 answer in the API's error envelope that closes the connection."""
    request_id = _REQUEST_ID.make(_ids)
    body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id})
    lines = [
        b"HTTP/1.1 %d %s" % (status, _phrase(status)),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"request-id: " + request_id.encode(),
        b"x-content-type-options: nosniff",
        b"connection: close",
        *(name + b": " + value for name, value in extra),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _phrase(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Overloaded" if status == 529 else b""


class Guarded(Protocol):
    """A connection the sweeper looks after (the protocols of :mod:`.protocols`)."""

    def overdue(self, now: float, limits: Limits) -> None:
        """Time the connection out if it stalled past a bound."""


class Sweeper:
    """Once a second, times out the connections of one server that stalled past a bound, and
    runs the callbacks of :meth:`every_second` (one timer per server, none per request)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        self.loop = loop
        self.connections = connections
        self._handle = loop.call_later(_SWEEP_EVERY, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        limits = LIMITS
        for connection in list(self.connections):
            overdue: Callable[[float, Limits], None] | None = getattr(connection, "overdue", None)
            if overdue is not None:
                overdue(now, limits)
        for callback in list(_EVERY_SECOND):
            callback()
        self._handle = self.loop.call_later(_SWEEP_EVERY, self._sweep)


_sweepers: weakref.WeakKeyDictionary[Any, Sweeper] = weakref.WeakKeyDictionary()
_EVERY_SECOND: list[Callable[[], object]] = []


def sweeper(server_state: Any, loop: asyncio.AbstractEventLoop) -> Sweeper:
    """The sweeper of the server whose uvicorn state is ``server_state`` (started on first use)."""
    found = _sweepers.get(server_state)
    if found is None or found.loop is not loop:
        if LIMITS.connections_max <= 0:
            LIMITS.connections_max = default_connections_max()
        found = _sweepers[server_state] = Sweeper(loop, server_state.connections)
    return found


def every_second(callback: Callable[[], object]) -> None:
    """Run ``callback`` on the server's event loop about once a second while it serves (a
    worker adopting what other workers changed, even when no request comes)."""
    _EVERY_SECOND.append(callback)


def configure(**values: Any) -> None:
    """Set bounds of :data:`LIMITS` by name (``None`` leaves one as it is)."""
    for name, value in values.items():
        if not hasattr(LIMITS, name):
            raise TypeError(f"no such bound: {name}")
        if value is not None:
            setattr(LIMITS, name, value)
