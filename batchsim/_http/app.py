"""The HTTP layer: thin Starlette routes over :class:`~batchsim._anthropic.api.MessageBatches`.

Each route reads the request (path, query, body), calls the wire-format operation and sends
the bytes it returns. Every response carries a
``request-id`` header; every error uses the API's envelope
``{"type": "error", "error": {"type", "message"}, "request_id"}``. A client mistake never gets a
500; an unexpected failure gets a 500 ``api_error`` envelope without a traceback (and is logged).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._anthropic.api import DEFAULT_LIMIT, MessageBatches
from .._engine.errors import ApiError, error_type_for
from .._engine.faults import FaultInjector
from .._engine.ids import RequestIds
from .._engine.scenario import Fault
from .bodies import BodyBudget, read_body
from .connection import CLOSE_CONNECTION, DroppedConnectionError
from .journal import Journal

__all__ = ["ApiContext", "build_app"]

log = logging.getLogger("batchsim")
JSON = "application/json"
JSONL = "application/x-jsonl"


class ApiContext:
    """What the routes share: the API operations, faults, auth settings, journal and id source."""

    def __init__(
        self,
        api: MessageBatches,
        faults: FaultInjector,
        journal: Journal,
        api_keys: frozenset[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.api = api
        self.faults = faults
        self.journal = journal
        self.api_keys = api_keys
        self.admin_token: str | None = None
        self.bodies = BodyBudget()
        self.data_dir: str | None = None
        """The only folder ``canned`` paths set over HTTP may name (none: inline lines only)."""
        self._ids = RequestIds(random.Random(f"request-ids:{seed}"))
        self.next_request_id = self._ids.next
        self.base_urls: dict[tuple[Any, ...], str] = {}

    def request_id(self) -> str:
        return self._ids.next().decode()


class JsonResponse(Response):
    """An encoded JSON answer with its ``request-id``: the headers Starlette would build, built
    directly (this is every successful API answer, so it is kept lean)."""

    def __init__(self, body: bytes, request_id: bytes, status: int = 200) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"request-id", request_id),
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]


def error_response(
    ctx: ApiContext, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    rid = ctx.request_id()
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": rid}
    return Response(orjson.dumps(body), status, {"request-id": rid, **(headers or {})}, JSON)


def _allowed(routes: list[Any], path: str) -> str:
    """The methods the routes matching ``path`` accept, for a 405's ``Allow`` header."""
    methods = {m for r in routes if isinstance(r, Route) and r.methods and r.path_regex.match(path) for m in r.methods}
    return ", ".join(sorted(methods))


def _fault_response(ctx: ApiContext, fault: Fault) -> Response:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    if fault.should_retry is not None:
        headers["x-should-retry"] = "true" if fault.should_retry else "false"
    message = fault.message or {
        429: "Number of requests has exceeded your rate limit (injected by batchsim)",
        529: "Overloaded (injected by batchsim)",
    }.get(fault.status, f"Injected fault {fault.status} (batchsim)")
    return error_response(ctx, fault.status, error_type_for(fault.status), message, headers)


def _api_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The ``x-api-key`` header, else a bearer token (the first of each header, as Starlette reads)."""
    key = auth = None
    for name, value in headers:
        if name == b"x-api-key":
            if key is None:
                key = value
        elif name == b"authorization" and auth is None:
            auth = value
    if key:
        return key.decode("latin-1")
    bearer = auth.decode("latin-1") if auth is not None else ""
    if bearer[:7].lower() == "bearer " and bearer[7:].strip():
        return bearer[7:].strip()
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first ``name`` header (lower case), or ``None``."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1").strip()
    return None


Handler = Callable[[ApiContext, Request, str, bytes], Awaitable[Response]]


class _Endpoint:
    """An API route as a plain ASGI app: Starlette routes to it directly, without the
    request/response wrapper a function endpoint gets (whose exception handling ``_api``
    already does), which is a noticeable part of a retrieve's time."""

    __slots__ = ("route",)

    def __init__(self, route: Callable[[Request], Awaitable[Response]]) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.route(Request(scope, receive))
        await response(scope, receive, send)


def _api(ctx: ApiContext, endpoint: str, handler: Handler, *, reads_body: bool = False) -> _Endpoint:
    """Wrap a handler with auth, fault injection, error mapping, request ids and the journal."""
    journal = ctx.journal

    async def route(request: Request) -> Response:
        body = b""
        scope = request.scope
        injected: str | None = None
        try:
            key = _api_key(scope["headers"])
            if key is None:
                raise ApiError(401, "x-api-key header is required", "authentication_error")
            if ctx.api_keys is not None and key not in ctx.api_keys:
                raise ApiError(401, "invalid x-api-key", "authentication_error")
            if reads_body:
                body = await read_body(request, budget=ctx.bodies)
            fault = ctx.faults.pick(endpoint)
            if fault is not None:
                injected = f"status {fault.status}" if fault.kind == "status" else fault.kind
            if fault is not None and fault.kind == "status":
                response = _fault_response(ctx, fault)
            elif fault is not None and fault.kind == "drop":
                ctx.bodies.give(len(body))
                return _DroppedResponse(f"injected drop on {endpoint}")  # not processed, not journaled
            elif fault is not None and fault.kind == "lost":
                lost = await handler(ctx, request, key, body)  # processed, but the answer never arrives
                if lost.background is not None:
                    await lost.background()  # what the server does after answering still happens
                ctx.bodies.give(len(body))
                return _DroppedResponse(f"injected lost answer on {endpoint}")
            else:
                response = await handler(ctx, request, key, body)
                if fault is not None and fault.kind == "truncate" and isinstance(response, StreamingResponse):
                    response.body_iterator = _truncated(response.body_iterator)
        except ApiError as exc:
            response = error_response(ctx, exc.status, exc.error_type, exc.message, getattr(exc, "headers", None))
        except ClientDisconnect:  # gone before its body arrived: nobody reads this answer
            response = error_response(ctx, 400, "invalid_request_error", "The client disconnected")
        except Exception:  # an emulator bug: answer like the API would, log the details
            log.exception("unexpected error on %s %s", request.method, request.url.path)
            response = error_response(ctx, 500, "api_error", "Internal server error")
        if journal.enabled:
            journal.record_raw(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                body,  # the journal keeps a prefix
                response.status_code,
                endpoint,
                tuple(scope["headers"]),  # a tuple of bytes pairs: the collector stops tracking it
                ctx.api.service.clock.now(),
                injected,
            )
        if body:
            ctx.bodies.give(len(body))
        return response

    return _Endpoint(route)


class _DroppedResponse(Response):
    """No answer at all: the connection is closed before any byte of it is sent, through the
    server's :data:`~batchsim._http.connection.CLOSE_CONNECTION` extension (``batchsim serve`` and the
    in-process transports have it), so every client sees a connection error, not a response.
    Under a server without it, the answer starts and is cut (a fetch-based client may then see
    a response whose body fails)."""

    def __init__(self, reason: str) -> None:
        super().__init__(b"", 200, None, JSON)
        self.reason = reason

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        close = (scope.get("extensions") or {}).get(CLOSE_CONNECTION)
        if close is not None:
            log.warning("batchsim: %s (connection closed before any answer)", self.reason)
            await close(receive)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", b"1024")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"type":', "more_body": True})
        raise DroppedConnectionError(self.reason)


async def _truncated(chunks: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            data = bytes(chunk)
            yield data[: max(1, len(data) // 2)]
            break
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:  # the rest is never sent: let the results source go now
            await aclose()
    raise DroppedConnectionError("injected truncation of the results stream")


def json_response(ctx: ApiContext, data: Any, status: int = 200) -> Response:
    """``data`` encoded as JSON, with the next request id."""
    return JsonResponse(orjson.dumps(data), ctx.next_request_id(), status)


def base_url(ctx: ApiContext, request: Request) -> str:
    """The emulator's root as the client reached it (scheme, host, port and root path), with '/'.

    Remembered per (scheme, server, Host header, root path): building it is a noticeable part of
    a retrieve."""
    scope = request.scope
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    server = scope.get("server")
    key = (scope.get("scheme"), server and tuple(server), host, scope.get("app_root_path", scope.get("root_path")))
    base_urls = ctx.base_urls
    url = base_urls.get(key)
    if url is None:
        if len(base_urls) >= 1024:
            base_urls.clear()
        url = base_urls[key] = str(request.base_url)
    return url


async def _create(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    # What the answer does not need (freeing a parsed body of up to a million objects, checking
    # params) runs once it is sent: for a large batch in a worker thread, so the event loop keeps
    # answering other calls meanwhile; for a small one right on the loop (a thread hop would cost
    # more than the work). The params are judged by the create call's API version.
    version = _header(request.scope["headers"], b"anthropic-version")
    created = ctx.api.create(key, body, base_url(ctx, request), version=version)
    response = JsonResponse(created.answer, ctx.next_request_id())
    response.background = BackgroundTask(created.finish) if created.large else BackgroundTask(_call, created.finish)
    return response


async def _call(function: Callable[[], None]) -> None:
    """Run ``function`` on the event loop (a plain callable would be sent to a thread)."""
    function()


async def _retrieve(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    batch_id = request.scope["path_params"]["batch_id"]
    return JsonResponse(ctx.api.retrieve(key, batch_id, base_url(ctx, request)), ctx.next_request_id())


def _limit(raw: str | None) -> int:
    """The ``limit`` query value: absent means the default; present, it must be an integer (an
    empty ``limit=`` is refused, as a typed query parameter is)."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise ApiError.invalid(
            f"limit: Input should be a valid integer, unable to parse string as an integer: {raw!r}"
        ) from None


async def _list(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    q = request.query_params
    page = ctx.api.list(
        key,
        base_url(ctx, request),
        limit=_limit(q.get("limit")),
        after_id=q.get("after_id") or None,
        before_id=q.get("before_id") or None,
    )
    return JsonResponse(page, ctx.next_request_id())


async def _cancel(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    batch_id = request.path_params["batch_id"]
    return JsonResponse(ctx.api.cancel(key, batch_id, base_url(ctx, request)), ctx.next_request_id())


async def _delete(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    return JsonResponse(ctx.api.delete(key, request.path_params["batch_id"]), ctx.next_request_id())


async def _results(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    chunks = ctx.api.results(key, request.path_params["batch_id"])
    response = StreamingResponse(chunks, 200, None, JSONL)
    response.raw_headers.insert(0, (b"request-id", ctx.next_request_id()))
    return response


def build_app(ctx: ApiContext, control_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app: the six Message Batches routes, the control plane and error handlers."""
    prefix = "/v1/messages/batches"
    routes = [  # retrieve first: the most frequent call (no two routes match the same request)
        Route(prefix + "/{batch_id}", _api(ctx, "retrieve", _retrieve), methods=["GET"]),
        Route(prefix, _api(ctx, "create", _create, reads_body=True), methods=["POST"]),
        Route(prefix, _api(ctx, "list", _list), methods=["GET"]),
        Route(prefix + "/{batch_id}", _api(ctx, "delete", _delete), methods=["DELETE"]),
        Route(prefix + "/{batch_id}/cancel", _api(ctx, "cancel", _cancel), methods=["POST"]),
        Route(prefix + "/{batch_id}/results", _api(ctx, "results", _results), methods=["GET"]),
        *(control_routes or []),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404:
            message = f"Not found: {request.method} {request.url.path}"
        else:
            message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every route of the path, not only the one Starlette tried
            headers["allow"] = _allowed(request.app.router.routes, request.scope["path"]) or headers.get("Allow", "")
            headers.pop("Allow", None)
        return error_response(ctx, exc.status_code, error_type_for(exc.status_code), message, headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DroppedConnectionError):  # a fault cut the answer on purpose
            return Response(b"", 500)  # never sent: the answer had started
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ctx, 500, "api_error", "Internal server error")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
