"""How the Gemini API speaks HTTP beyond its routes: the key in ``x-goog-api-key`` (or ``?key=``),
no request-id header, and Google's error envelope ``{"error": {"code", "message", "status",
"details"}}`` (``code`` the HTTP status, ``status`` the canonical name)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

import orjson

from .._engine.errors import DomainError, ForbiddenError, UnauthenticatedError
from .._http.spec import HttpError, Outgoing, RawHeaders

__all__ = ["GRPC_CODES", "STATUS_NAMES", "GeminiDialect", "error_body", "status_name"]

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
GRPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}
"""``google.rpc.Code``: what a ``google.rpc.Status`` (an operation's or a request's error) carries."""
_STATUS_BY_KIND = {
    "invalid": 400,
    "not_found": 404,
    "wrong_state": 400,
    "too_large": 400,
    "overloaded": 503,
    "timeout": 504,
    "unauthenticated": 401,
    "forbidden": 403,
}
_SERVICE = "generativelanguage.googleapis.com"
_LIMIT = re.compile(r"maximum size of (\d+) bytes")


def status_name(status: int) -> str:
    """The canonical status name Google's envelope gives an HTTP status."""
    found = STATUS_NAMES.get(status)
    if found is not None:
        return found
    return "UNKNOWN" if status >= 500 else "FAILED_PRECONDITION"


def error_body(status: int, message: str, name: str | None = None, details: list[Any] | None = None) -> bytes:
    """Google's error envelope."""
    return orjson.dumps(
        {"error": {"code": status, "message": message, "status": name or status_name(status), "details": details or []}}
    )


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": _SERVICE},
    }


class GeminiDialect:
    """The Gemini API's credentials, request ids (none) and error envelope. On a path another
    provider serves too (``/v1/files``, ``/v1/batches/{id}``), a call is Gemini's when it carries
    ``x-goog-api-key`` (as every google-genai client sends)."""

    name = "gemini"
    request_id_header: bytes | None = None

    def request_id(self) -> bytes:
        return b""

    def key(self, headers: RawHeaders, query_string: bytes) -> str | None:
        """The ``x-goog-api-key`` header, else the ``key`` query parameter."""
        for name, value in headers:
            if name == b"x-goog-api-key":
                text = value.decode("latin-1").strip()
                return text or None
        if query_string and b"key=" in query_string:
            for part in query_string.split(b"&"):
                if part.startswith(b"key="):
                    raw = part[4:].decode("latin-1")
                    value_ = unquote_plus(raw) if "%" in raw or "+" in raw else raw
                    return value_.strip() or None
        return None

    def credential_error(self, given: bool) -> DomainError:
        if given:
            return UnauthenticatedError("API key not valid. Please pass a valid API key.", code="API_KEY_INVALID")
        return ForbiddenError(
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
            "or other form of API consumer identity to call this API.",
            code="CREDENTIALS_MISSING",
        )

    def claims(self, headers: RawHeaders) -> bool:
        return any(name == b"x-goog-api-key" for name, _ in headers)

    def error(self, request_id: bytes | None, exc: DomainError) -> Outgoing:
        status = exc.status if isinstance(exc, HttpError) else _STATUS_BY_KIND.get(exc.kind, 400)
        name = status_name(status)
        message = exc.message
        details: list[Any] = []
        if exc.code == "ALREADY_EXISTS":
            status, name = 409, "ALREADY_EXISTS"
        elif exc.kind == "wrong_state":
            name = "FAILED_PRECONDITION"
        elif exc.kind == "too_large":
            found = _LIMIT.search(message)
            if found is not None:
                message = f"Request payload size exceeds the limit: {found.group(1)} bytes."
        elif exc.kind == "unauthenticated" and exc.code == "API_KEY_INVALID":
            status, name = 400, "INVALID_ARGUMENT"
            details = [_error_info("API_KEY_INVALID")]
        elif exc.kind == "forbidden" and exc.code == "CREDENTIALS_MISSING":
            details = [_error_info("CREDENTIALS_MISSING")]
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (exc.headers or {}).items()]
        retry = (exc.headers or {}).get("retry-after")
        if status == 429 and retry is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"})
        return Outgoing(error_body(status, message, name, details), status, headers=headers)
