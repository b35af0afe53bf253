"""The control plane under ``/_batchsim/``: health, clock, scenario, reset and the journal.

Reserved like moto's ``/moto-api/``: tests and CI steps in any language drive the emulator
through it. With an admin token set, every control route except ``health`` and ``openapi.json``
needs ``x-batchsim-admin-token: <token>`` (401 otherwise). ``GET /_batchsim/openapi.json`` serves
an OpenAPI description of a provider's routes (``?provider=anthropic``, the default, ``openai`` or
``gemini``: one document each, as Anthropic and OpenAI share ``/v1/files``), for OpenAPI tools such
as schemathesis.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Awaitable, Callable
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._engine.canned import read_canned
from .._engine.clock import Clock, VirtualClock
from .._engine.errors import DomainError, InvalidError, UnauthenticatedError
from .._engine.scenario import Scenario, ScenarioError
from .._engine.times import rfc3339
from .app import ApiContext, error_response
from .bodies import read_body
from .journal import Call, Journal, journal_response

__all__ = ["Controlled", "control_routes", "guarded", "json_response"]


class Controlled(Protocol):
    """What the control plane drives (an :class:`~batchsim.Emulator`)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def scenario(self) -> Scenario: ...

    @scenario.setter
    def scenario(self, value: Scenario) -> None: ...

    @property
    def calls(self) -> list[Call]: ...

    def advance(self, seconds: float = 0) -> Any: ...

    def reset(self) -> None: ...

    def results_pending(self) -> int: ...


_CONTROL_BODY_LIMIT = 1 << 20
_CANNED_REFUSED = (
    "invalid scenario: canned: expected inline results lines, or the path of a regular file of at most "
    "64 MiB in the server's data folder (--data-dir)"
)


def canned_path(data_dir: str | None, value: str) -> str:
    """The real path of a ``canned`` value set over HTTP if it names a regular file inside
    ``data_dir`` (relative paths are taken from there); an ``InvalidError`` otherwise, with one
    text whatever the reason, so that the answer never tells whether a path exists."""
    if data_dir is not None and "\x00" not in value:
        root = os.path.realpath(data_dir)
        path = os.path.realpath(os.path.join(root, value))
        if os.path.commonpath([root, path]) == root and path != root:
            return path
    raise InvalidError(_CANNED_REFUSED)


async def _json_body(ctx: ApiContext, request: Request) -> Any:
    body = await read_body(request, _CONTROL_BODY_LIMIT, ctx.bodies)
    ctx.bodies.give(len(body))  # parsed at once: no longer held
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidError(f"The request body is not valid JSON: {exc}") from None


OPENAPI_DOCUMENTS = {"anthropic": "openapi.json", "openai": "openapi-openai.json", "gemini": "openapi-gemini.json"}
"""Each provider's OpenAPI 3.1 description (package data, written by scripts/extract_openapi.py)."""


@cache
def openapi_description(provider: str = "anthropic") -> bytes:
    """The OpenAPI 3.1 description of a provider's routes."""
    return files("batchsim").joinpath(OPENAPI_DOCUMENTS[provider]).read_bytes()


def json_response(ctx: ApiContext, data: Any, status: int = 200) -> Response:
    """``data`` encoded as JSON, with a request id as the API's answers have."""
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    dialect = ctx.providers[0].dialect
    response = Response(body, status)
    response.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    if dialect.request_id_header is not None:
        response.raw_headers.insert(0, (dialect.request_id_header, dialect.request_id()))
    return response


def guarded(
    ctx: ApiContext, handler: Callable[[Request], Awaitable[Any]], *, open_route: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """A control-plane route: the admin token checked (unless ``open_route``), the handler's
    answer encoded as JSON (a :class:`Response` passes as it is), errors in the envelope of the
    first provider's API (Anthropic's)."""

    async def route(request: Request) -> Response:
        try:
            token = ctx.admin_token
            if token is not None and not open_route:
                given = request.headers.get("x-batchsim-admin-token", "")
                if not hmac.compare_digest(given.encode(), token.encode()):
                    raise UnauthenticatedError("the control plane needs a valid x-batchsim-admin-token header")
            answer = await handler(request)
            return answer if isinstance(answer, Response) else json_response(ctx, answer)
        except DomainError as exc:
            return error_response(ctx.providers[0].dialect, exc)

    return route


def control_routes(sim: Controlled, ctx: ApiContext) -> list[Route]:
    async def health(request: Request) -> Any:
        # results_pending: batches whose results file is still being written in the background
        return {"status": "ok", "results_pending": sim.results_pending()}

    async def clock(request: Request) -> Any:
        return {"now": rfc3339(sim.clock.now()), "kind": sim.clock.kind}

    async def advance(request: Request) -> Any:
        data = await _json_body(ctx, request)
        if not isinstance(data, dict) or set(data) - {"seconds"}:
            raise InvalidError('expected {"seconds": N}')
        seconds = data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidError("seconds: expected a number >= 0")
        if not isinstance(sim.clock, VirtualClock):
            raise InvalidError(f"the clock is {sim.clock.kind}: only a virtual clock can be advanced")
        try:
            sim.advance(seconds=float(seconds))
        except ValueError as exc:
            raise InvalidError(f"seconds: {exc}") from None
        return {"now": rfc3339(sim.clock.now()), "kind": sim.clock.kind}

    async def get_scenario(request: Request) -> Any:
        return sim.scenario.to_dict()

    async def put_scenario(request: Request) -> Any:
        data = await _json_body(ctx, request)
        canned = data.get("canned") if isinstance(data, dict) else None
        if isinstance(canned, str):
            data = {**data, "canned": canned_path(ctx.data_dir, canned)}
        try:  # on a thread: compiling rule patterns never holds up other calls
            scenario = await asyncio.to_thread(Scenario.from_dict, data)
        except ScenarioError as exc:
            raise InvalidError(f"invalid scenario: {exc}") from None

        try:
            if isinstance(scenario.canned, str):  # read it on a thread: setting it then finds it read
                await asyncio.to_thread(read_canned, scenario.canned)
            sim.scenario = scenario
        except OSError:  # not a regular file of at most 64 MiB: the same answer as any refused path
            raise InvalidError(_CANNED_REFUSED) from None
        except ValueError as exc:  # a file in the data folder that is not a results file
            raise InvalidError(f"invalid scenario: {exc}") from None
        return sim.scenario.to_dict()

    async def reset(request: Request) -> Any:
        sim.reset()
        return {"status": "ok", "now": rfc3339(sim.clock.now())}

    async def journal(request: Request) -> Any:
        return journal_response(sim.journal, ctx.providers[0].dialect)

    async def clear_journal(request: Request) -> Any:
        sim.journal.clear()
        return {"calls": []}

    async def openapi(request: Request) -> Any:
        provider = request.query_params.get("provider") or "anthropic"
        if provider not in OPENAPI_DOCUMENTS:
            choices = ", ".join(OPENAPI_DOCUMENTS)
            raise InvalidError(f"provider: expected one of {choices}, got {provider[:40]!r}")
        return json_response(ctx, openapi_description(provider))

    base = "/_batchsim"
    return [
        Route(f"{base}/health", guarded(ctx, health, open_route=True), methods=["GET"]),
        Route(f"{base}/openapi.json", guarded(ctx, openapi, open_route=True), methods=["GET"]),
        Route(f"{base}/clock", guarded(ctx, clock), methods=["GET"]),
        Route(f"{base}/clock/advance", guarded(ctx, advance), methods=["POST"]),
        Route(f"{base}/scenario", guarded(ctx, get_scenario), methods=["GET"]),
        Route(f"{base}/scenario", guarded(ctx, put_scenario), methods=["PUT"]),
        Route(f"{base}/reset", guarded(ctx, reset), methods=["POST"]),
        Route(f"{base}/journal", guarded(ctx, journal), methods=["GET"]),
        Route(f"{base}/journal", guarded(ctx, clear_journal), methods=["DELETE"]),
    ]
