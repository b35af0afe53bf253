"""The HTTP layer: thin Starlette routes over :class:`~batchsim._service.BatchService`.

Each route parses, calls the service and serializes with orjson. Every response carries a
``request-id`` header; every error uses the API's envelope
``{"type": "error", "error": {"type", "message"}, "request_id"}``. A client mistake never gets a
500; an unexpected failure gets a 500 ``api_error`` envelope without a traceback (and is logged).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ._errors import ApiError, error_type_for
from ._faults import DroppedConnectionError, FaultInjector
from ._ids import make_id
from ._journal import Call, Journal
from ._scenario import Fault
from ._service import DEFAULT_LIMIT, BatchService
from ._validation import MAX_BODY_BYTES

__all__ = ["ApiContext", "build_app"]

log = logging.getLogger("batchsim")
JSON = "application/json"
JSONL = "application/x-jsonl"
_JOURNAL_BODY_LIMIT = 1 << 20


class ApiContext:
    """What the routes share: the service, faults, auth settings, journal and id source."""

    def __init__(
        self,
        service: BatchService,
        faults: FaultInjector,
        journal: Journal,
        api_keys: frozenset[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.service = service
        self.faults = faults
        self.journal = journal
        self.api_keys = api_keys
        self.admin_token: str | None = None
        self._rng = random.Random(f"request-ids:{seed}")

    def request_id(self) -> str:
        return make_id("req_", self._rng)


def error_response(
    ctx: ApiContext, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    rid = ctx.request_id()
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": rid}
    return Response(orjson.dumps(body), status, {"request-id": rid, **(headers or {})}, JSON)


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


def _api_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request exceeds the maximum size of {limit} bytes", "request_too_large")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request exceeds the maximum size of {limit} bytes", "request_too_large")
        parts.append(chunk)
    return b"".join(parts)


Handler = Callable[[ApiContext, Request, str, bytes], Awaitable[Response]]


def _api(
    ctx: ApiContext, endpoint: str, handler: Handler, *, reads_body: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with auth, fault injection, error mapping, request ids and the journal."""

    async def route(request: Request) -> Response:
        body = b""
        try:
            key = _api_key(request)
            if key is None:
                raise ApiError(401, "x-api-key header is required", "authentication_error")
            if ctx.api_keys is not None and key not in ctx.api_keys:
                raise ApiError(401, "invalid x-api-key", "authentication_error")
            if reads_body:
                body = await read_body(request)
            fault = ctx.faults.pick(endpoint)
            if fault is not None and fault.kind == "status":
                response = _fault_response(ctx, fault)
            elif fault is not None and fault.kind == "drop":
                return _DroppedResponse(f"injected drop on {endpoint}")  # not processed, not journaled
            elif fault is not None and fault.kind == "lost":
                await handler(ctx, request, key, body)  # processed, but the answer never arrives
                return _DroppedResponse(f"injected lost answer on {endpoint}")
            else:
                response = await handler(ctx, request, key, body)
                if fault is not None and fault.kind == "truncate" and isinstance(response, StreamingResponse):
                    response.body_iterator = _truncated(response.body_iterator)
        except ApiError as exc:
            response = error_response(ctx, exc.status, exc.error_type, exc.message)
        except Exception:  # an emulator bug: answer like the API would, log the details
            log.exception("unexpected error on %s %s", request.method, request.url.path)
            response = error_response(ctx, 500, "api_error", "Internal server error")
        if ctx.journal.enabled:
            scope = request.scope
            ctx.journal.record(
                Call(
                    request.method,
                    _url_path(scope["path"]),
                    scope.get("query_string", b"").decode(),
                    None,
                    body[:_JOURNAL_BODY_LIMIT],
                    response.status_code,
                    endpoint,
                    raw_headers=scope["headers"],
                )
            )
        return response

    return route


class _DroppedResponse(Response):
    """Starts an answer, sends part of it and cuts the connection (the server closes it when the
    app raises after the response has started; the in-process transport turns the error into a
    transport error). The call is not processed."""

    def __init__(self, reason: str) -> None:
        super().__init__(b"", 200, None, JSON)
        self.reason = reason

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
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
    async for chunk in chunks:
        data = bytes(chunk)
        yield data[: max(1, len(data) // 2)]
        break
    raise DroppedConnectionError("injected truncation of the results stream")


def _json(ctx: ApiContext, data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, {"request-id": ctx.request_id()}, JSON)


def _url_path(path: str) -> str:
    """``request.url.path`` without building the URL (the same escapes Starlette applies)."""
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


_base_urls: dict[tuple[Any, ...], str] = {}


def base_url(request: Request) -> str:
    """The emulator's root as the client reached it (scheme, host, port and root path), with '/'.

    Remembered per (scheme, server, Host header, root path): building it is a noticeable part of
    a retrieve."""
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    server = scope.get("server")
    key = (scope.get("scheme"), server and tuple(server), host, scope.get("app_root_path", scope.get("root_path")))
    url = _base_urls.get(key)
    if url is None:
        if len(_base_urls) >= 1024:
            _base_urls.clear()
        url = _base_urls[key] = str(request.base_url)
    return url


async def _create(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    return _json(ctx, ctx.service.create(key, body, base_url(request)))


async def _retrieve(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    return _json(ctx, ctx.service.retrieve(key, request.path_params["batch_id"], base_url(request)))


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise ApiError.invalid(
            f"limit: Input should be a valid integer, unable to parse string as an integer: {raw!r}"
        ) from None


async def _list(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    q = request.query_params
    page = ctx.service.list(
        key,
        base_url(request),
        limit=_limit(q.get("limit")),
        after_id=q.get("after_id") or None,
        before_id=q.get("before_id") or None,
    )
    return _json(ctx, page)


async def _cancel(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    return _json(ctx, ctx.service.cancel(key, request.path_params["batch_id"], base_url(request)))


async def _delete(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    return _json(ctx, ctx.service.delete(key, request.path_params["batch_id"]))


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _results(ctx: ApiContext, request: Request, key: str, body: bytes) -> Response:
    chunks = ctx.service.results(key, request.path_params["batch_id"])
    headers = {"request-id": ctx.request_id()}
    return StreamingResponse(_aiter(chunks), 200, headers, JSONL)


def build_app(ctx: ApiContext, control_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app: the six Message Batches routes, the control plane and error handlers."""
    prefix = "/v1/messages/batches"
    routes = [
        Route(prefix, _api(ctx, "create", _create, reads_body=True), methods=["POST"]),
        Route(prefix, _api(ctx, "list", _list), methods=["GET"]),
        Route(prefix + "/{batch_id}", _api(ctx, "retrieve", _retrieve), methods=["GET"]),
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
        return error_response(ctx, exc.status_code, error_type_for(exc.status_code), message)

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DroppedConnectionError):  # a fault cut the answer on purpose
            return Response(b"", 500)  # never sent: the answer had started
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ctx, 500, "api_error", "Internal server error")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
