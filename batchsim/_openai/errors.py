"""How OpenAI's API speaks HTTP beyond its routes: ``Authorization: Bearer KEY``, an
``x-request-id`` on every answer, and the error envelope ``{"error": {"message", "type",
"param", "code"}}`` (all four members always present)."""

from __future__ import annotations

import random

import orjson

from .._engine.errors import DomainError, NotFoundError, UnauthenticatedError, WrongStateError
from .._engine.ids import RequestIds
from .._http.spec import HttpError, Outgoing, RawHeaders

__all__ = ["OpenAIDialect", "error_body", "status_error"]

_STATUS_BY_KIND = {
    "invalid": 400,
    "not_found": 404,
    "wrong_state": 409,
    "too_large": 413,
    "overloaded": 503,
    "timeout": 408,
    "unauthenticated": 401,
    "forbidden": 403,
}
# ``type`` and ``code`` of the envelope by status, as OpenAI's answers show them.
_BY_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    405: ("invalid_request_error", None),
    408: ("invalid_request_error", None),
    409: ("invalid_request_error", None),
    413: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
    504: ("server_error", None),
}


def status_error(status: int) -> tuple[str, str | None]:
    """The envelope's ``(type, code)`` for an HTTP status."""
    return _BY_STATUS.get(status, ("server_error", None) if status >= 500 else ("invalid_request_error", None))


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def wording(exc: DomainError) -> str:
    """The message OpenAI's API gives for a refusal the engine raised."""
    if isinstance(exc, WrongStateError) and exc.action == "canceled":
        return f"Cannot cancel a batch with status '{exc.state}'."
    if isinstance(exc, NotFoundError) and exc.what == "batch" and exc.message.startswith("No batch with id"):
        return f"No batch found with id '{exc.ident}'."
    return exc.message


class OpenAIDialect:
    """OpenAI's credentials (a bearer token), request ids (``req_`` + 32 hex digits, seeded) and
    error envelope. On a path Anthropic serves too (``/v1/files``), a call is OpenAI's unless it
    carries ``anthropic-version``."""

    name = "openai"
    request_id_header: bytes | None = b"x-request-id"

    def __init__(self, seed: int = 0) -> None:
        self.request_id = RequestIds(random.Random(f"openai-request-ids:{seed}"), b"req_", hex=True).next

    def key(self, headers: RawHeaders, query_string: bytes) -> str | None:
        """The bearer token of the first ``authorization`` header."""
        for name, value in headers:
            if name == b"authorization":
                token = value[7:].strip() if value[:7].lower() == b"bearer " else b""
                return token.decode("latin-1") if token else None
        return None

    def credential_error(self, given: bool) -> DomainError:
        if given:
            return UnauthenticatedError(
                "Incorrect API key provided. You can find your API key in your account settings."
            )
        return UnauthenticatedError(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using "
            "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )

    def claims(self, headers: RawHeaders) -> bool:
        has_bearer = False
        for name, value in headers:
            if name == b"anthropic-version":
                return False
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                has_bearer = True
        return has_bearer

    def error(self, request_id: bytes | None, exc: DomainError) -> Outgoing:
        status = exc.status if isinstance(exc, HttpError) else _STATUS_BY_KIND.get(exc.kind, 400)
        kind, code = status_error(status)
        if exc.kind == "unauthenticated" and "didn't provide" in exc.message:
            code = None
        body = orjson.dumps(error_body(wording(exc), kind, exc.param, exc.code or code))
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in (exc.headers or {}).items()]
        return Outgoing(body, status, headers=headers)
