"""The session server of the ``batchsim_server`` fixture: uvicorn on 127.0.0.1 and a free port, in a
background thread of the test process, serving whichever emulator the current test owns.

The server is started once; each test points it at its own emulator (:attr:`SessionServer.target`),
so the test's handle and the server share state without copying, and the next test starts clean.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import uvicorn
from starlette.types import ASGIApp

from .._serve.server import _uvicorn_options

__all__ = ["SessionServer"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_IDLE = orjson.dumps(
    {
        "type": "error",
        "error": {"type": "api_error", "message": "no test is using batchsim_server right now"},
        "request_id": None,
    }
)


class _Dispatch:
    """An ASGI app forwarding to ``target`` (swapped per test); 503 when no test owns the server."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        target = self.target
        if target is not None:
            await target(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_IDLE)).encode())]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": _IDLE})


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover - uvicorn skips them off the main thread
        """The test process owns its signals."""


class SessionServer:
    """uvicorn in a daemon thread, bound before it starts so the URL is known at once."""

    def __init__(self, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self._dispatch = _Dispatch()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{port}"
        options = {**_uvicorn_options("warning"), "lifespan": "off", "ws": "none"}
        self._server = _Server(uvicorn.Config(self._dispatch, **options))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="batchsim-server", daemon=True)
        self._thread.start()
        ready = threading.Event()
        while not self._server.started and self._thread.is_alive():
            ready.wait(0.002)
        if not self._server.started:
            self._sock.close()
            raise RuntimeError(f"the batchsim test server did not start: {self._error!r}")

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by the constructor or close()
            self._error = exc

    @property
    def target(self) -> ASGIApp | None:
        return self._dispatch.target

    @target.setter
    def target(self, app: ASGIApp | None) -> None:
        self._dispatch.target = app

    def close(self) -> None:
        self._dispatch.target = None
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
