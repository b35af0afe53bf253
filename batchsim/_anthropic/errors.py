"""How Anthropic's API speaks HTTP beyond its routes: credentials, request ids and the error
envelope ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with a ``request-id``
header, each status with its error type (402 ``billing_error``, 529 ``overloaded_error``...)."""

from __future__ import annotations

import random

import orjson

from .._engine.errors import DomainError, UnauthenticatedError, WrongStateError
from .._engine.ids import RequestIds
from .._http.spec import HttpError, Outgoing, RawHeaders

__all__ = ["ERROR_TYPE_BY_STATUS", "AnthropicDialect", "error_type_for"]

ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STATUS_BY_KIND = {
    "invalid": 400,
    "not_found": 404,
    "wrong_state": 400,  # 400 rather than 409: SDKs retry 409, and these can never succeed
    "too_large": 413,
    "overloaded": 529,
    "timeout": 408,
    "unauthenticated": 401,
    "forbidden": 403,
}
_STATUS_NAMES = {"validating": "in_progress", "running": "in_progress", "finalizing": "in_progress"}


def error_type_for(status: int) -> str:
    """The API's error type for an HTTP status (``api_error`` for unlisted 5xx)."""
    if status in ERROR_TYPE_BY_STATUS:
        return ERROR_TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def wording(exc: DomainError) -> str:
    """The message Anthropic's API gives for a refusal the engine raised."""
    if isinstance(exc, WrongStateError) and exc.what == "message batch":
        if exc.action == "canceled":
            return f"Message batch {exc.ident} has already ended and cannot be canceled."
        if exc.action == "deleted":
            status = _STATUS_NAMES.get(exc.state, exc.state)
            return f"Message batch {exc.ident} is {status} and cannot be deleted until it has ended; cancel it first."
    return exc.message


class AnthropicDialect:
    """Anthropic's credentials (``x-api-key``, else a bearer token), request ids (``req_01`` + 22
    characters, seeded) and error envelope. A call on a path another provider serves too
    (``/v1/files``) is Anthropic's when it carries ``anthropic-version``, which every Anthropic
    client sends and the real API requires."""

    name = "anthropic"
    request_id_header: bytes | None = b"request-id"

    def __init__(self, seed: int = 0) -> None:
        self.request_id = RequestIds(random.Random(f"request-ids:{seed}")).next

    def key(self, headers: RawHeaders, query_string: bytes) -> str | None:
        """The ``x-api-key`` header, else a bearer token (the first of each header)."""
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

    def credential_error(self, given: bool) -> DomainError:
        """The refusal of a call without a key (``given`` false) or with one not accepted."""
        return UnauthenticatedError("invalid x-api-key" if given else "x-api-key header is required")

    def claims(self, headers: RawHeaders) -> bool:
        return any(name == b"anthropic-version" for name, _ in headers)

    def error(self, request_id: bytes | None, exc: DomainError) -> Outgoing:
        status = exc.status if isinstance(exc, HttpError) else _STATUS_BY_KIND.get(exc.kind, 400)
        kind = "request_too_large" if exc.kind == "too_large" else error_type_for(status)
        rid = (request_id or self.request_id()).decode()
        body = orjson.dumps({"type": "error", "error": {"type": kind, "message": wording(exc)}, "request_id": rid})
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in (exc.headers or {}).items()]
        return Outgoing(body, status, headers=headers)
