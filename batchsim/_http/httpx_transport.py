"""In-process transports for clients built on ``httpx`` (not ``httpx2``): the legacy Anthropic
SDK (0.x), OpenAI's SDK before 3.x, google-genai before 2.x. Imports ``httpx`` only; a project on
those SDKs needs no ``httpx2``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from .inprocess import ASGIApp, call_app, shared_loop

__all__ = ["httpx_handler", "httpx_transport"]

_WIRE_ONLY = (b"transfer-encoding", b"content-encoding")


def httpx_handler(app: ASGIApp) -> Callable[[httpx.Request], httpx.Response]:
    """A function answering one ``httpx.Request`` by running ``app`` on the in-process loop thread."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read()
        coro = call_app(app, request.method, request.url, list(request.headers.raw), body, httpx.RemoteProtocolError)
        status, headers, content = asyncio.run_coroutine_threadsafe(coro, shared_loop()).result()
        kept = [(k, v) for k, v in headers if k.lower() not in _WIRE_ONLY]
        return httpx.Response(status, headers=kept, content=content, request=request)

    return handle


def httpx_transport(app: ASGIApp) -> httpx.MockTransport:
    """An ``httpx`` transport (sync and async) that forwards to ``app``."""
    return httpx.MockTransport(httpx_handler(app))
