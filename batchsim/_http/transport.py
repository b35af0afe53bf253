"""In-process transports: the official SDK talks to the ASGI app with no socket.

The current SDK (>= 1.0) is built on ``httpx2``: :class:`AsyncASGITransport` and
:class:`SyncASGITransport` are ``httpx2`` transports handed to the SDK as ``http_client=``. The
exchange itself is :func:`.inprocess.call_app`; the sync transport runs it on a private event
loop of the calling thread (or, from code that is itself running inside an event loop, on one
event loop in a daemon thread). Exceptions raised
by the app propagate to the caller unchanged, so an emulator bug is never mistaken for a
network error.
"""

from __future__ import annotations

import httpx2

from .inprocess import ASGIApp, call_app, run_sync

__all__ = ["ASGIApp", "AsyncASGITransport", "SyncASGITransport", "call_app", "run_sync"]


def _response(request: httpx2.Request, result: tuple[int, list[tuple[bytes, bytes]], bytes]) -> httpx2.Response:
    status, headers, content = result
    # The body is already whole: drop framing headers that describe the wire, not the content.
    headers = [(k, v) for k, v in headers if k.lower() not in (b"transfer-encoding", b"content-encoding")]
    return httpx2.Response(status, headers=headers, content=content, request=request)


class AsyncASGITransport(httpx2.AsyncBaseTransport):
    """``httpx2`` async transport calling the app on the caller's event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        result = await call_app(
            self.app, request.method, request.url, list(request.headers.raw), body, httpx2.RemoteProtocolError
        )
        return _response(request, result)


class SyncASGITransport(httpx2.BaseTransport):
    """``httpx2`` sync transport running the app on an event loop of its own (see :func:`run_sync`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        coro = call_app(
            self.app, request.method, request.url, list(request.headers.raw), body, httpx2.RemoteProtocolError
        )
        return _response(request, run_sync(coro))
