"""Request bodies: read as they arrive, bounded in size, spooled to a temporary file past a
threshold, and counted against one budget of bytes in flight per process."""

from __future__ import annotations

import tempfile
import threading
from typing import Any, BinaryIO

from starlette.requests import ClientDisconnect, Request

from .._engine.errors import OverloadedError, TooLargeError

__all__ = ["DEFAULT_BODY_BUDGET", "SPOOL_THRESHOLD", "BodyBudget", "read_body", "read_upload"]

SPOOL_THRESHOLD = 256 * 1024
"""A body still arriving is kept in memory up to this size, and in a temporary file past it."""
DEFAULT_BODY_BUDGET = 1 << 30
"""Request body bytes in flight at once (see :class:`BodyBudget`)."""


class BodyBudget:
    """The request body bytes in flight (received and not yet done with) in one process, at
    most ``limit``: past it, a body is refused with 529 ``overloaded_error`` and a
    ``retry-after`` header instead of being read on (memory and temporary files stay bounded
    whatever the number of slow uploads)."""

    def __init__(self, limit: int = DEFAULT_BODY_BUDGET) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        with self._lock:
            if self.used + size > self.limit:
                raise _overloaded()
            self.used += size

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


def _overloaded() -> OverloadedError:
    return OverloadedError(
        "Too many request bodies are being received at once; retry shortly", headers={"retry-after": "1"}
    )


async def read_body(request: Request, limit: int, budget: BodyBudget | None = None) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (never buffered
    whole). While more is to come, the body is kept in memory up to :data:`SPOOL_THRESHOLD`
    and in an unnamed temporary file past it. With a ``budget`` its bytes are taken from it as
    they arrive (529 when it is spent); the caller gives ``len(body)`` back when done."""
    spool, _ = await read_upload(request, limit, budget)
    try:
        return spool.read()
    finally:
        spool.close()


async def read_upload(request: Request, limit: int, budget: BodyBudget | None = None) -> tuple[BinaryIO, int]:
    """The request body as a file positioned at its start, and its size: an upload, kept in memory
    up to :data:`SPOOL_THRESHOLD` and in an unnamed temporary file past it (never whole in
    memory). Bounds and budget as for :func:`read_body`; the caller closes the file and gives
    the size back to the budget."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"Request exceeds the maximum size of {limit} bytes")
    receive = request.receive
    spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_THRESHOLD, prefix="batchsim-body-")  # noqa: SIM115
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            if chunk:
                if size + len(chunk) > limit:
                    raise TooLargeError(f"Request exceeds the maximum size of {limit} bytes")
                if budget is not None:
                    budget.take(len(chunk))
                size += len(chunk)
                spool.write(chunk)
            if not more:
                break
        spool.seek(0)
        return spool, size
    except BaseException:
        if budget is not None:
            budget.give(size)
        spool.close()
        raise
