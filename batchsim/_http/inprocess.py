"""Running one HTTP exchange through the ASGI app in-process, for any HTTP client library.

Knows no client library: :mod:`.transport` wraps it as ``httpx2`` transports (the current SDK),
``batchsim._pytest.legacy`` as an ``httpx`` one (the 0.x SDK), so a project on the 0.x SDK never
needs ``httpx2`` installed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, Protocol, TypeVar

from .connection import CLOSE_CONNECTION, DroppedConnectionError

__all__ = ["ASGIApp", "ConnectionClosedError", "call_app", "run_sync", "shared_loop"]

_T = TypeVar("_T")

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[dict[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class URL(Protocol):
    """What :func:`call_app` reads of a request's URL (``httpx.URL`` and ``httpx2.URL`` both fit)."""

    @property
    def scheme(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def raw_path(self) -> bytes: ...
    @property
    def query(self) -> bytes: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...


class ConnectionClosedError(Exception):
    """The app cut the connection (the default of :func:`call_app`'s ``closed``)."""


async def call_app(
    app: ASGIApp,
    method: str,
    url: URL,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    closed: Callable[[str], Exception] = ConnectionClosedError,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one HTTP exchange through an ASGI app and return status, headers and the whole body.

    A connection the app cuts raises ``closed(message)``: each HTTP client library's own
    "remote protocol error", with the message it would give for a real server doing that."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "headers": [(k.lower(), v) for k, v in headers],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }
    scope["extensions"] = {CLOSE_CONNECTION: _disconnect}
    status = 500
    out_headers: list[tuple[bytes, bytes]] = []
    parts: list[bytes] = []
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if chunk and method != "HEAD":
                parts.append(chunk)
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    except _DisconnectedError:  # closed before any answer: what httpx says when a server does that
        raise closed("Server disconnected without sending a response.") from None
    except DroppedConnectionError as exc:  # a fault cut the connection: what a client would see
        raise closed(f"peer closed connection without sending complete message body ({exc})") from None
    except BaseExceptionGroup as group:
        match, _ = group.split(DroppedConnectionError)
        if match is not None:
            raise closed(
                f"peer closed connection without sending complete message body ({match.exceptions[0]})"
            ) from None
        raise
    finally:
        done.set()
    return status, out_headers, b"".join(parts)


class _DisconnectedError(DroppedConnectionError):
    """The app closed the connection before answering (see :data:`CLOSE_CONNECTION`): a cut
    made on purpose, which the app's error handler passes over as it does every
    :class:`DroppedConnectionError`."""


async def _disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    raise _DisconnectedError


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop in a daemon thread serves every sync in-process client of the process."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="batchsim-inprocess", daemon=True).start()
            _loop = loop
        return _loop


class _LoopHolder:
    """A thread's private event loop, closed when the thread's locals go away."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


_thread = threading.local()


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from synchronous code: on the calling thread's own private
    event loop (no thread switch), or on the shared loop thread when the calling thread is
    itself running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        holder = getattr(_thread, "holder", None)
        if holder is None:
            holder = _thread.holder = _LoopHolder()
        return holder.loop.run_until_complete(coro)
    return asyncio.run_coroutine_threadsafe(coro, shared_loop()).result()
