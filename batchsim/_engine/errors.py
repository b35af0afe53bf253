"""Domain errors: each carries the HTTP status and the API's ``error.type``.

The HTTP layer turns them into the API's error envelope; nothing here knows about HTTP
frameworks.
"""

from __future__ import annotations

__all__ = ["ERROR_TYPE_BY_STATUS", "ApiError", "error_type_for"]

ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
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


def error_type_for(status: int) -> str:
    """The API's error type for an HTTP status (``api_error`` for unlisted 5xx)."""
    if status in ERROR_TYPE_BY_STATUS:
        return ERROR_TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


class ApiError(Exception):
    """An error the API answers with: ``status`` plus ``{"type": ..., "message": ...}``."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or error_type_for(status)

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, message)

    @classmethod
    def not_found(cls, message: str) -> ApiError:
        return cls(404, message)
