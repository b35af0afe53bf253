"""The HTTP kernel: the providers' operations (:mod:`.spec`) served as Starlette routes.

The kernel does what every API call needs, whatever its provider: it reads the credential (each
key its own workspace; with ``api_keys`` set, only those), reads the body within its bound and the
process's body budget, injects the scenario's faults, runs the provider's handler, writes a
refusal in the provider's envelope (its dialect) with a request id, and journals the call. A
client mistake never gets a 500; an unexpected failure gets a 500 in the provider's envelope
without a traceback (and is logged).

Where two providers serve one path (``/v1/files`` is Anthropic's and OpenAI's), the call goes to
the first provider whose dialect claims it (Anthropic's claims calls that carry
``anthropic-version``), else to the last one registered on the path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from operator import itemgetter
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._engine.clock import Clock
from .._engine.collector import release_memory
from .._engine.errors import DomainError, TooLargeError
from .._engine.faults import FaultInjector
from .._engine.scenario import Fault
from .bodies import BodyBudget, read_body, read_upload
from .connection import CLOSE_CONNECTION, DroppedConnectionError
from .forms import Form, FormReader
from .journal import Journal
from .spec import Dialect, HttpError, Incoming, Operation, Outgoing, Provider

__all__ = ["ApiContext", "build_app"]

log = logging.getLogger("batchsim")

RELEASE_AFTER = 1 << 20
"""A call whose body had at least this many bytes gives memory back to the system once it is
done: the body, read while the allocator was free to place it anywhere, leaves a hole under
what the call keeps (a batch's requests) that only :func:`release_memory` returns."""
_SUFFIXED = re.compile(r"\}[^/{}]+$")
JSON = "application/json"


class ApiContext:
    """What the routes share: the providers, the clock, faults, auth settings, the journal and the
    body budget."""

    def __init__(
        self,
        clock: Clock,
        faults: FaultInjector,
        journal: Journal,
        api_keys: frozenset[str] | None = None,
        providers: Sequence[Provider] = (),
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.journal = journal
        self.api_keys = api_keys
        self.providers = tuple(providers)
        self.admin_token: str | None = None
        self.bodies = BodyBudget()
        self.data_dir: str | None = None
        """The only folder ``canned`` paths set over HTTP may name (none: inline lines only)."""
        self.base_urls: dict[tuple[Any, ...], str] = {}

    def dialect_for(self, headers: Sequence[tuple[bytes, bytes]]) -> Dialect:
        """The dialect of a call no route took (the first that claims it, else the first one)."""
        for provider in self.providers:
            if provider.dialect.claims(headers):
                return provider.dialect
        return self.providers[0].dialect

    def base_url(self, scope: Scope) -> str:
        """The emulator's root as the client reached it (scheme, host, port and root path), with
        '/'. Remembered per (scheme, server, Host header, root path): building it is a noticeable
        part of a retrieve."""
        host = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        server = scope.get("server")
        key = (scope.get("scheme"), server and tuple(server), host, scope.get("app_root_path", scope.get("root_path")))
        base_urls = self.base_urls
        url = base_urls.get(key)
        if url is None:
            if len(base_urls) >= 1024:
                base_urls.clear()
            url = base_urls[key] = str(Request(scope).base_url)
        return url


def error_response(dialect: Dialect, exc: DomainError) -> Response:
    """A refusal as a Starlette response (for routes outside the providers' operations)."""
    rid = dialect.request_id()
    out = dialect.error(rid, exc)
    assert isinstance(out.body, bytes)
    headers = [*(out.headers or ()), (b"content-type", out.content_type)]
    if dialect.request_id_header is not None:
        headers.insert(0, (dialect.request_id_header, rid))
    response = Response(out.body, out.status)
    response.raw_headers = [*headers, (b"content-length", b"%d" % len(out.body))]
    return response


def _fault_error(fault: Fault) -> HttpError:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
    if fault.should_retry is not None:
        headers["x-should-retry"] = "true" if fault.should_retry else "false"
    message = fault.message or {
        429: "Number of requests has exceeded your rate limit (injected by batchsim)",
        529: "OverloadedError (injected by batchsim)",
    }.get(fault.status, f"Injected fault {fault.status} (batchsim)")
    return HttpError(fault.status, message, headers=headers)


def _not_allowed(ctx: ApiContext, routes: list[Any], scope: Scope) -> tuple[Dialect, str]:
    """The dialect of a 405 and its ``Allow`` header: the methods of the routes matching the path
    that the provider the call is for serves there. That provider is the one whose dialect claims
    the call among those serving the path, else the one the first route matching it falls back to.
    A route with text after its last parameter (``/v1/files/{file_id}:download``) is the only match
    of a path it matches: the plain one (``/v1/files/{file_id}``) takes that path only as an id
    holding a colon."""
    path, headers = scope["path"], scope["headers"]
    found = [r for r in routes if isinstance(r, Route) and r.methods and r.path_regex.match(path)]
    found = [r for r in found if _SUFFIXED.search(r.path)] or found
    served = [(r, r.endpoint.choices) for r in found if isinstance(r.endpoint, _Endpoint)]
    if not served:
        return ctx.dialect_for(headers), ", ".join(sorted({m for r in found for m in r.methods or ()}))
    claiming = [d for _, choices in served for _, d in choices if d.claims(headers)]
    dialect = claiming[0] if claiming else served[0][1][-1][1]
    methods = {m for r, choices in served if any(d is dialect for _, d in choices) for m in r.methods or ()}
    return dialect, ", ".join(sorted(methods))


class _Table:
    """The operations of one method whose paths have the same number of segments and the same
    literal segments at the same places, keyed by those literals (``/v1/batches/{batch_id}`` and
    ``/v1/files/{file_id}`` share one, keyed ``("", "v1", "batches")`` and ``("", "v1", "files")``)."""

    __slots__ = ("found", "literals", "params", "single")

    def __init__(self, literals: list[int], params: list[int]) -> None:
        self.literals = itemgetter(*literals)
        self.params = itemgetter(*params) if params else None
        self.single = len(params) == 1
        self.found: dict[Any, tuple[Any, list[str]]] = {}


class _App(Starlette):
    """The app, with the providers' operations found by a look-up before anything else runs:
    Starlette tries its routes one after the other (an operation sat behind every route
    registered before it: a retrieve of OpenAI's behind all of Anthropic's), and runs each call
    through its two middlewares and their wrapped ``send``, which an operation does not need
    (``_serve`` answers every failure itself). Calls no operation matches exactly (``HEAD``, a
    root path, the control plane, the dashboard, a 404 or 405) take Starlette's way."""

    tables: dict[tuple[str, int], list[_Table]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A custom method (Gemini's ``{name}:cancel``, ``{file}:download``) takes Starlette's way,
        # where it is tried before the plain path that would match it too (see _ordered).
        if scope["type"] == "http" and not scope.get("root_path") and ":" not in (path := scope["path"]):
            parts = path.split("/")
            for table in self.tables.get((scope["method"], len(parts)), ()):
                hit = table.found.get(table.literals(parts))
                if hit is None:
                    continue
                endpoint, names = hit
                params = table.params
                if params is None:
                    scope["path_params"] = {}
                else:
                    values = (params(parts),) if table.single else params(parts)
                    if not all(values):  # a parameter is a segment of at least one character
                        continue
                    scope["path_params"] = dict(zip(names, values, strict=True))
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _tables(routes: list[tuple[str, str, Any]]) -> dict[tuple[str, int], list[_Table]]:
    """The look-up tables of ``(method, path, endpoint)`` routes (paths with ``{name}``
    parameters), the most literal first within each method and segment count."""
    tables: dict[tuple[str, int], dict[tuple[tuple[int, ...], tuple[int, ...]], _Table]] = {}
    for method, path, endpoint in routes:
        if ":" in path:  # a custom method: Starlette's way (see _App)
            continue
        parts = path.split("/")
        is_param = [p.startswith("{") and p.endswith("}") for p in parts]
        literals = tuple(n for n, param in enumerate(is_param) if not param)
        params = tuple(n for n, param in enumerate(is_param) if param)
        table = tables.setdefault((method, len(parts)), {}).get((literals, params))
        if table is None:
            table = tables[(method, len(parts))][(literals, params)] = _Table(list(literals), list(params))
        names = [parts[n][1:-1] for n in params]
        table.found.setdefault(table.literals(parts), (endpoint, names))
    return {
        key: [table for (literals, _), table in sorted(found.items(), key=lambda item: -len(item[0][0]))]
        for key, found in tables.items()
    }


class _Endpoint:
    """The operations of one method and path, as a plain ASGI app (Starlette routes to it
    directly, without the request/response wrapper a function endpoint gets)."""

    __slots__ = ("choices", "ctx")

    def __init__(self, ctx: ApiContext, choices: list[tuple[Operation, Dialect]]) -> None:
        self.ctx = ctx
        self.choices = choices

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        choices = self.choices
        operation, dialect = choices[-1]
        if len(choices) > 1:
            headers = scope["headers"]
            for op, candidate in choices:
                if candidate.claims(headers):
                    operation, dialect = op, candidate
                    break
        if await _serve(self.ctx, operation, dialect, scope, receive, send) >= RELEASE_AFTER:
            # Every reference to the body is gone now (not while its handler ran): give back
            # the memory reading and parsing it took (see release_memory), off the event loop.
            await run_in_threadpool(release_memory)


async def _serve(ctx: ApiContext, op: Operation, dialect: Dialect, scope: Scope, receive: Receive, send: Send) -> int:
    """One API call: auth, body, fault, handler, refusal, journal, answer. Returns the size of
    the body it read."""
    rid = dialect.request_id()
    body = b""
    upload: Any = None
    form: Form | None = None
    size = 0
    injected: str | None = None
    fault: Fault | None = None
    dropped: str | None = None
    headers = scope["headers"]
    key = dialect.key(headers, scope.get("query_string", b""))
    try:
        if op.auth:
            if key is None:
                raise dialect.credential_error(False)
            if ctx.api_keys is not None and key not in ctx.api_keys:
                raise dialect.credential_error(True)
        if op.form:
            form, size, body = await _read_form(Request(scope, receive), op.body, ctx, headers)
        elif op.spool:
            upload, size = await read_upload(Request(scope, receive), op.body, ctx.bodies)
            body = upload.read(ctx.journal.body_prefix)  # what the journal keeps of it
            upload.seek(0)
        elif op.body:
            body = await read_body(Request(scope, receive), op.body, ctx.bodies)
            size = len(body)
        fault = ctx.faults.pick(op.endpoint)
        if fault is not None:
            injected = f"status {fault.status}" if fault.kind == "status" else fault.kind
        if fault is not None and fault.kind == "status":
            raise _fault_error(fault)
        if fault is not None and fault.kind == "drop":
            dropped = f"injected drop on {op.endpoint}"  # not processed, not journaled
        call = Incoming(
            scope["method"],
            scope["path"],
            headers,
            scope.get("query_string", b""),
            scope.get("path_params", {}),
            key or "",
            b"" if upload is not None else body,
            upload,
            base_url=lambda: ctx.base_url(scope),
            form=form,
        )
        if dropped is None:
            out = await op.handler(call)
        if fault is not None and fault.kind == "lost":  # processed, but the answer never arrives
            if out.after is not None:
                await _after(out)  # what the server does after answering still happens
            dropped = f"injected lost answer on {op.endpoint}"
        if fault is not None and fault.kind == "truncate" and not isinstance(out.body, bytes):
            out.body = _truncated(out.body)
    except DomainError as exc:
        out = dialect.error(rid, exc)
    except ClientDisconnect:  # gone before its body arrived: nobody reads this answer
        out = dialect.error(rid, HttpError(400, "The client disconnected"))
    except Exception:  # an emulator bug: answer like the API would, log the details
        log.exception("unexpected error on %s %s", scope["method"], scope["path"])
        out = dialect.error(rid, HttpError(500, "Internal server error"))
    if upload is not None:
        upload.close()
    if form is not None:
        form.close()
    if dropped is not None:
        ctx.bodies.give(size)
        await _drop(scope, receive, send, dropped)
        return size
    journal = ctx.journal
    if journal.enabled:
        journal.record_raw(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            body,  # the journal keeps a prefix
            out.status,
            op.endpoint,
            tuple(headers),  # a tuple of bytes pairs: the collector stops tracking it
            ctx.clock.now(),
            injected,
            key,
            size,
        )
    if size:
        ctx.bodies.give(size)
    await _answer(out, dialect.request_id_header, rid, scope, receive, send)
    return size


async def _read_form(
    request: Request, limit: int, ctx: ApiContext, headers: Sequence[tuple[bytes, bytes]]
) -> tuple[Form, int, bytes]:
    """A ``multipart/form-data`` body parsed as it arrives (bounded by ``limit`` and the body
    budget, as :func:`~.bodies.read_upload` bounds a spooled one), its size, and the prefix of it
    the journal keeps."""
    content_type = next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"Request exceeds the maximum size of {limit} bytes")
    reader = FormReader(content_type)
    budget, keep = ctx.bodies, ctx.journal.body_prefix
    prefix = bytearray()
    size = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            if size + len(chunk) > limit:
                raise TooLargeError(f"Request exceeds the maximum size of {limit} bytes")
            budget.take(len(chunk))
            size += len(chunk)
            if len(prefix) < keep:
                prefix += chunk[: keep - len(prefix)]
            reader.write(chunk)
        return reader.finish(), size, bytes(prefix)
    except BaseException:
        budget.give(size)
        reader.abort()
        raise


async def _answer(
    out: Outgoing, rid_header: bytes | None, rid: bytes, scope: Scope, receive: Receive, send: Send
) -> None:
    body = out.body
    try:
        if isinstance(body, bytes):
            headers = [(b"content-length", b"%d" % len(body)), (b"content-type", out.content_type)]
            if rid_header is not None:
                headers.insert(0, (rid_header, rid))
            if out.headers:
                headers.extend(out.headers)
            await send({"type": "http.response.start", "status": out.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            response = StreamingResponse(body, out.status, None, out.content_type.decode("latin-1"))
            if rid_header is not None:
                response.raw_headers.insert(0, (rid_header, rid))
            if out.headers:
                response.raw_headers.extend(out.headers)
            await response(scope, receive, send)
    finally:  # also when the client left before its answer was sent: the call was processed
        if out.after is not None:
            await _after(out)


async def _after(out: Outgoing) -> None:
    after = out.after
    assert after is not None
    if out.after_large:
        await run_in_threadpool(after)
    else:
        after()


async def _drop(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    """No answer at all: the connection is closed before any byte of it is sent, through the
    server's :data:`~batchsim._http.connection.CLOSE_CONNECTION` extension (``batchsim serve`` and
    the in-process transports have it), so every client sees a connection error, not a response.
    Under a server without it, the answer starts and is cut (a fetch-based client may then see a
    response whose body fails)."""
    close = (scope.get("extensions") or {}).get(CLOSE_CONNECTION)
    if close is not None:
        log.warning("batchsim: %s (connection closed before any answer)", reason)
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
    raise DroppedConnectionError(reason)


async def _truncated(chunks: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            data = bytes(chunk)
            yield data[: max(1, len(data) // 2)]
            break
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:  # the rest is never sent: let the source go now
            await aclose()
    raise DroppedConnectionError("injected truncation of a streamed answer")


def _ordered(groups: dict[tuple[str, str], Any]) -> list[tuple[tuple[str, str], Any]]:
    """The groups in registration order, except that a path with text after its last parameter
    (Gemini's ``/v1/files/{file_id}:download``) goes just before the plain path that would match
    it too (``/v1/files/{file_id}``)."""
    keys = list(groups)
    for method, path in list(keys):
        plain = (method, _SUFFIXED.sub("}", path))
        if plain != (method, path) and plain in groups and keys.index(plain) < keys.index((method, path)):
            keys.remove((method, path))
            keys.insert(keys.index(plain), (method, path))
    return [(key, groups[key]) for key in keys]


def build_app(ctx: ApiContext, control_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app: every provider's operations, the control plane and error handlers."""
    groups: dict[tuple[str, str], list[tuple[Operation, Dialect]]] = {}
    for provider in ctx.providers:
        for op in provider.operations:
            groups.setdefault((op.method, op.path), []).append((op, provider.dialect))
    routes: list[Any] = []
    endpoints: list[tuple[str, str, Any]] = []
    for (method, path), choices in _ordered(groups):
        endpoint = _Endpoint(ctx, choices)
        routes.append(Route(path, endpoint, methods=[method]))
        endpoints.append((method, path, endpoint))
    routes.extend(control_routes or [])

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404:
            message = f"Not found: {request.method} {request.url.path}"
        else:
            message = str(exc.detail)
        headers = dict(exc.headers or {})
        dialect = ctx.dialect_for(request.scope["headers"])
        if exc.status_code == 405:  # every route of the path, not only the one Starlette tried
            dialect, allow = _not_allowed(ctx, request.app.router.routes, request.scope)
            headers["allow"] = allow or headers.get("Allow", "")
            headers.pop("Allow", None)
        return error_response(dialect, HttpError(exc.status_code, message, headers=headers))

    async def server_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DroppedConnectionError):  # a fault cut the answer on purpose
            return Response(b"", 500)  # never sent: the answer had started
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(ctx.dialect_for(request.scope["headers"]), HttpError(500, "Internal server error"))

    app = _App(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    app.tables = _tables(endpoints)
    return app
