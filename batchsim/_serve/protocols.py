"""uvicorn's two HTTP/1.1 protocols (httptools and h11), extended so the app can close a connection
before sending any byte of an answer.

ASGI has no way to do that: an app that raises or returns without answering gets a ``500`` from
uvicorn, and an app that starts an answer has already sent its status line, which fetch-based
clients take as a response. These subclasses give each request the
:data:`~batchsim._http.connection.CLOSE_CONNECTION` extension (in ``scope["extensions"]``): an async
callable that closes the connection's transport and waits until uvicorn has seen the connection
go, so the request ends with nothing sent. The ``drop`` and ``lost`` faults use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from .._http.connection import CLOSE_CONNECTION

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] ships httptools where it builds
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]

__all__ = ["PROTOCOLS", "ClosingH11Protocol", "ClosingHttpToolsProtocol"]

Receive = Callable[[], Awaitable[Any]]


def _closing(app: ASGIApp, transport: asyncio.Transport) -> ASGIApp:
    """``app`` with the close extension of this connection in every HTTP scope."""

    async def close(receive: Receive) -> None:
        transport.close()  # nothing of this request's answer is buffered: nothing is sent
        while (await receive())["type"] != "http.disconnect":  # uvicorn notes the connection gone
            pass

    extensions = {CLOSE_CONNECTION: close}

    async def app_with_close(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {**scope["extensions"], **extensions} if scope.get("extensions") else extensions
        await app(scope, receive, send)

    return app_with_close


class ClosingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the close extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _closing(self.app, transport)


class ClosingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the close extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _closing(self.app, transport)


PROTOCOLS = {
    "httptools": f"{__name__}:ClosingHttpToolsProtocol",
    "h11": f"{__name__}:ClosingH11Protocol",
}
"""uvicorn's ``http`` option for each implementation (import strings: worker processes load them)."""
