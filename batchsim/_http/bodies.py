"""Request bodies: read as they arrive, bounded in size and in how long they may stall, spooled to
a temporary file past a threshold, and counted against one budget of bytes in flight per process."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from typing import Any, BinaryIO

from starlette.requests import ClientDisconnect, Request

from .._engine.errors import OverloadedError, TimedOutError, TooLargeError

__all__ = ["DEFAULT_BODY_BUDGET", "SPOOL_THRESHOLD", "BodyBudget", "read_body", "read_upload"]

SPOOL_THRESHOLD = 256 * 1024
"""A body still arriving is kept in memory up to this size, and in a temporary file past it."""
DEFAULT_BODY_BUDGET = 1 << 30
"""Request body bytes in flight at once (see :class:`BodyBudget`)."""


class BodyBudget:
    """The request body bytes in flight (received and not yet done with) in one process, at
    most ``limit``: past it, a body is refused with 529 ``overloaded_error`` and a
    ``retry-after`` header instead of being read on (memory and temporary files stay bounded
    whatever the number of slow uploads).

    ``timeout``: the longest a body may stop arriving (``None``: no limit, as in process, where a
    body arrives whole). Receives are timed out by one timer of the budget's, which looks at the
    waiting ones every :data:`_SWEEP_EVERY` seconds while there are any (a receive costs two dict
    operations, not a timer of its own); a budget with a timeout serves one event loop."""

    def __init__(self, limit: int = DEFAULT_BODY_BUDGET, timeout: float | None = None) -> None:
        self.limit = limit
        self.timeout = timeout
        self.used = 0
        self._lock = threading.Lock()
        self._waiting: dict[asyncio.Task[Any], float] = {}  # receives in progress: their deadline
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    def take(self, size: int) -> None:
        with self._lock:
            if self.used + size > self.limit:
                raise _overloaded()
            self.used += size

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size

    def _watch(self) -> asyncio.Task[Any] | None:
        """Time out the current task's receives from now on (``None``: no timeout)."""
        if self.timeout is None:
            return None
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - read_body always runs in a task
            return None
        loop = task.get_loop()
        self._waiting[task] = loop.time() + self.timeout
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(_SWEEP_EVERY, self._sweep, loop)
        return task

    def _timed_out(self, task: asyncio.Task[Any], error: BaseException) -> TimedOutError | None:
        """The 408 to raise if ``error`` is this budget's cancellation of ``task``."""
        if task not in self._expired:
            return None
        self._expired.discard(task)
        if isinstance(error, asyncio.CancelledError) and task.uncancel() == 0:
            return TimedOutError(f"The request body stopped arriving for {self.timeout:g} s", headers=_CLOSE)
        return None

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._waiting.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        if self._waiting:
            loop.call_later(_SWEEP_EVERY, self._sweep, loop)
        else:
            self._sweeping = False


_SWEEP_EVERY = 0.5
_CLOSE = {"connection": "close"}
"""A body refused before it was read whole: the rest is not waited for, the connection closes."""


def _overloaded() -> OverloadedError:
    return OverloadedError(
        "Too many request bodies are being received at once; retry shortly",
        headers={"retry-after": "1", **_CLOSE},
    )


def _too_large(limit: int) -> TooLargeError:
    return TooLargeError(f"Request exceeds the maximum size of {limit} bytes", headers=_CLOSE)


async def read_body(request: Request, limit: int, budget: BodyBudget | None = None) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (never buffered
    whole). While more is to come, the body is kept in memory up to :data:`SPOOL_THRESHOLD`
    and in an unnamed temporary file past it. With a ``budget`` its bytes are taken from it as
    they arrive (529 when it is spent; the caller gives ``len(body)`` back when done), and a
    body that stops arriving for its ``timeout`` is refused with 408 (what it took is given
    back). Refusals close the connection rather than wait for the rest of the body."""
    body, _ = await _read(request, limit, budget, whole=True)
    if isinstance(body, bytes):
        return body
    try:
        data: bytes = body.read()
        return data
    finally:
        body.close()


async def read_upload(request: Request, limit: int, budget: BodyBudget | None = None) -> tuple[BinaryIO, int]:
    """The request body as a file positioned at its start, and its size: an upload, kept in memory
    up to :data:`SPOOL_THRESHOLD` and in an unnamed temporary file past it (never whole in
    memory). Bounds, budget and timeout as for :func:`read_body`; the caller closes the file and
    gives the size back to the budget."""
    spool, size = await _read(request, limit, budget, whole=False)
    assert not isinstance(spool, bytes)
    return spool, size


def _spool() -> Any:
    """A body's file: in memory up to :data:`SPOOL_THRESHOLD`, an unnamed temporary file past it."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_THRESHOLD, prefix="batchsim-body-")


async def _read(request: Request, limit: int, budget: BodyBudget | None, *, whole: bool) -> tuple[Any, int]:
    """:func:`read_upload`; with ``whole``, a body that came in one piece (most JSON bodies) is
    answered as those bytes, with no spool file made for it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    receive = request.receive
    watched = budget._watch() if budget is not None else None
    if watched is not None and budget is not None:  # each chunk renews the deadline
        waiting, clock, timeout = budget._waiting, watched.get_loop().time, budget.timeout or 0.0
    spool: Any = None  # made when a second piece arrives (or for an upload)
    size = 0
    try:
        while True:
            message = await receive()  # the only await: a timeout's cancellation lands here
            if watched is not None:
                waiting[watched] = clock() + timeout
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
                if whole and not more and spool is None:
                    return (chunk if type(chunk) is bytes else bytes(chunk)), size
                if spool is None:
                    spool = _spool()
                spool.write(chunk)
            if not more:
                break
        if spool is None:
            if whole:
                return b"", 0
            spool = _spool()
        spool.seek(0)
        return spool, size
    except BaseException as exc:
        if spool is not None:
            spool.close()
        if budget is not None:
            budget.give(size)
            if watched is not None:
                del waiting[watched]
                timed_out = budget._timed_out(watched, exc)
                watched = None
                if timed_out is not None:
                    raise timed_out from None
        raise
    finally:
        if watched is not None:
            del waiting[watched]
