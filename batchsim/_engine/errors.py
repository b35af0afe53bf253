"""Domain errors: what the engine (or a provider's validation) refuses, and why, without HTTP.

Each error has a ``kind`` (invalid, not_found, wrong_state, too_large, overloaded, timeout,
unauthenticated, forbidden); a provider decides the status, the error type and the envelope an
error of each kind answers with (Anthropic answers a cancel of an ended batch with 400, OpenAI
with 409). ``param`` and ``code`` are optional details an envelope may show (OpenAI's does).
Errors the engine raises about one object also name it (``what``, ``ident``), so a provider can
word them its own way.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "DomainError",
    "ForbiddenError",
    "InvalidError",
    "NotFoundError",
    "OverloadedError",
    "TimedOutError",
    "TooLargeError",
    "UnauthenticatedError",
    "WrongStateError",
]


class DomainError(Exception):
    """Something the API refuses: ``message`` (the default wording), with optional ``param`` and
    ``code`` details and ``headers`` an answer should carry (``retry-after``)."""

    kind: ClassVar[str] = "invalid"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


class InvalidError(DomainError):
    """The request is malformed or asks for something impossible."""

    kind = "invalid"


class NotFoundError(DomainError):
    """No such object (or one of another workspace): ``what`` names its kind, ``ident`` its id."""

    kind = "not_found"

    def __init__(self, what: str, ident: str, message: str | None = None) -> None:
        super().__init__(message or f"No {what} with id {ident!r} was found.")
        self.what = what
        self.ident = ident


class WrongStateError(DomainError):
    """``action`` is not possible on object ``ident`` in its current ``state`` (the engine's
    phase name, see :class:`~batchsim._engine.batch.Phase`)."""

    kind = "wrong_state"

    def __init__(self, what: str, ident: str, state: str, action: str, message: str | None = None) -> None:
        super().__init__(message or f"The {what} {ident} is {state}: it cannot be {action}.")
        self.what = what
        self.ident = ident
        self.state = state
        self.action = action


class TooLargeError(DomainError):
    """The request (or an upload) is larger than the API takes."""

    kind = "too_large"


class OverloadedError(DomainError):
    """The server cannot take this now; retry shortly."""

    kind = "overloaded"


class TimedOutError(DomainError):
    """The client stopped sending its request."""

    kind = "timeout"


class UnauthenticatedError(DomainError):
    """No credential, or one that is not accepted."""

    kind = "unauthenticated"


class ForbiddenError(DomainError):
    """A credential that may not do this."""

    kind = "forbidden"
