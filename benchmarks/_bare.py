"""The baseline server: a bare Starlette app under the same uvicorn settings as ``batchsim serve``.

``GET /json`` (and any other GET path) answers a pre-built JSON body, ``GET /json-request-id``
the same with a ``request-id`` header as the API's answers carry, ``GET /b/{name}`` the bytes of
the file ``name`` of ``--dir`` (each route of a comparison answers exactly what batchsim
answered), ``GET /stream`` streams pre-encoded bytes in 64 KiB pieces, ``POST /parse`` reads a
body and parses it with orjson.

The uvicorn options come on the command line (``--options``, JSON, from
:func:`benchmarks._common.bare_command`): those of ``batchsim serve`` with uvicorn's own HTTP
protocol (batchsim's subclass of it is batchsim's cost). This process imports Starlette and
uvicorn but not batchsim: its start-up is that of a bare app.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

_PIECE = 64 * 1024
_REQUEST_ID = "req_01" + "x" * 22  # the shape of the API's request ids


def build(json_body: bytes, stream_body: bytes, named: dict[str, bytes] | None = None) -> Starlette:
    bodies = named or {}

    async def json_route(request: Request) -> Response:
        return Response(json_body, media_type="application/json")

    async def named_route(request: Request) -> Response:
        return Response(bodies[request.path_params["name"]], media_type="application/json")

    async def json_request_id_route(request: Request) -> Response:
        return Response(json_body, media_type="application/json", headers={"request-id": _REQUEST_ID})

    async def pieces() -> AsyncIterator[bytes]:
        view = memoryview(stream_body)
        for start in range(0, len(view), _PIECE):
            yield bytes(view[start : start + _PIECE])

    async def stream_route(request: Request) -> Response:
        return StreamingResponse(pieces(), media_type="application/x-jsonl")

    async def parse_route(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(b'{"ok":true}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/stream", stream_route),
            Route("/json-request-id", json_request_id_route),
            Route("/parse", parse_route, methods=["POST"]),
            Route("/b/{name}", named_route),
            Route("/{path:path}", json_route),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--json", required=True, help="file holding the JSON body to answer")
    parser.add_argument("--dir", help="folder of JSON bodies, answered at /b/<file name>")
    parser.add_argument("--stream", help="file holding the bytes GET /stream answers")
    parser.add_argument("--options", required=True, help="uvicorn options, JSON (those of batchsim serve)")
    args = parser.parse_args()
    stream = Path(args.stream).read_bytes() if args.stream else b""
    named = {p.name: p.read_bytes() for p in Path(args.dir).iterdir()} if args.dir else None
    app = build(Path(args.json).read_bytes(), stream, named)
    uvicorn.run(app, host="127.0.0.1", port=args.port, **json.loads(args.options))


if __name__ == "__main__":
    main()
