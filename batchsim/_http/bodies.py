"""Request bodies: read as they arrive, bounded in size and in how long they may stall, spooled to
a temporary file past a threshold, and counted against one budget of bytes in flight per process."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from typing import Any

from starlette.requests import ClientDisconnect, Request

from .._anthropic.validation import MAX_BODY_BYTES
from .._engine.errors import ApiError

__all__ = ["DEFAULT_BODY_BUDGET", "SPOOL_THRESHOLD", "BodyBudget", "read_body"]

SPOOL_THRESHOLD = 256 * 1024
"""A body still arriving is kept in memory up to this size, and in a temporary file past it."""
DEFAULT_BODY_BUDGET = 1 << 30
"""Request body bytes in flight at once (see :class:`BodyBudget`)."""


class BodyBudget:
    """The request body bytes in flight (received and not yet done with) in one process, at
    most ``limit``: past it, a body is refused with 529 ``overloaded_error`` and a
    ``retry-after`` header instead of being read on (memory and temporary files stay bounded
    whatever the number of slow uploads). ``timeout``: the longest a body may stop arriving
    (``None``: no limit, as in process, where a body arrives whole)."""

    def __init__(self, limit: int = DEFAULT_BODY_BUDGET, timeout: float | None = None) -> None:
        self.limit = limit
        self.timeout = timeout
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        with self._lock:
            if self.used + size > self.limit:
                raise _OverloadedError()
            self.used += size

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


class _RefusedBodyError(ApiError):
    """A body refused before it was read whole: the rest of it is not waited for, the
    connection closes with the answer."""

    headers = {"connection": "close"}


class _OverloadedError(_RefusedBodyError):
    headers = {"retry-after": "1", "connection": "close"}

    def __init__(self) -> None:
        super().__init__(529, "Too many request bodies are being received at once; retry shortly", "overloaded_error")


def _too_large(limit: int) -> ApiError:
    return _RefusedBodyError(413, f"Request exceeds the maximum size of {limit} bytes", "request_too_large")


async def _receive_within(receive: Any, seconds: float) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await receive()
    except TimeoutError:
        raise _RefusedBodyError(408, f"The request body stopped arriving for {seconds:g} s", "timeout_error") from None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES, budget: BodyBudget | None = None) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (never buffered
    whole). While more is to come, the body is kept in memory up to :data:`SPOOL_THRESHOLD`
    and in an unnamed temporary file past it. With a ``budget`` its bytes are taken from it as
    they arrive (529 when it is spent; the caller gives ``len(body)`` back when done), and a
    body that stops arriving for its ``timeout`` is refused with 408 (what it took is given
    back). Refusals close the connection rather than wait for the rest of the body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    receive = request.receive
    timeout = budget.timeout if budget is not None else None
    parts: list[bytes] = []
    size = 0
    spool: Any = None
    try:
        while True:
            message = await (receive() if timeout is None else _receive_within(receive, timeout))
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            if chunk:
                if size + len(chunk) > limit:
                    raise _too_large(limit)
                if budget is not None:
                    budget.take(len(chunk))
                size += len(chunk)
                if spool is None and more and size > SPOOL_THRESHOLD:
                    spool = tempfile.TemporaryFile(prefix="batchsim-body-")  # noqa: SIM115 (closed below)
                    spool.writelines(parts)
                    parts = []
                if spool is not None:
                    spool.write(chunk)
                else:
                    parts.append(chunk)
            if not more:
                break
        if spool is not None:
            spool.seek(0)
            return bytes(spool.read())
        return parts[0] if len(parts) == 1 else b"".join(parts)
    except BaseException:
        if budget is not None:
            budget.give(size)
        raise
    finally:
        if spool is not None:
            spool.close()
