"""What a provider hands the HTTP kernel: its operations (method, path, handler), its dialect
(credentials, request ids, error envelopes) and its console (what the dashboard shows of its
batches). Plain Python, no web framework: provider packages import this module and nothing else
of ``_http``; the kernel (:mod:`batchsim._http.app`) turns it into routes.

A handler takes an :class:`Incoming` (the call, read and authenticated) and returns an
:class:`Outgoing` (status, bytes or a stream of bytes, headers, and work to run once the answer
is sent); it raises a :class:`~batchsim._engine.errors.DomainError` (or :class:`HttpError`) for a
refusal, which the dialect writes in the provider's envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qsl

from .._engine.errors import DomainError
from .._engine.ports import Entry
from .forms import Form

__all__ = [
    "Console",
    "Dialect",
    "Handler",
    "HttpError",
    "Incoming",
    "Operation",
    "Outgoing",
    "Provider",
]

RawHeaders = Sequence[tuple[bytes, bytes]]


class HttpError(DomainError):
    """A refusal with an explicit HTTP status (an injected fault, an unknown route, a method a
    route does not take): the dialect picks the error type for the status."""

    kind = "http"

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.status = status


class Incoming:
    """One API call as a handler sees it: already authenticated (``key`` names the workspace) and
    with its body read (``body``; an upload's ``file``, spooled, when the operation asks for one;
    a parsed multipart ``form`` for an operation that takes one)."""

    __slots__ = (
        "_base_url",
        "_query",
        "body",
        "file",
        "form",
        "headers",
        "key",
        "method",
        "path",
        "path_params",
        "query_string",
    )

    def __init__(
        self,
        method: str,
        path: str,
        headers: RawHeaders,
        query_string: bytes,
        path_params: Mapping[str, str],
        key: str,
        body: bytes = b"",
        file: BinaryIO | None = None,
        base_url: Callable[[], str] | str = "/",
        form: Form | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.query_string = query_string
        self.path_params = path_params
        self.key = key
        self.body = body
        self.file = file
        self.form = form
        self._base_url = base_url
        self._query: list[tuple[str, str]] | None = None

    @property
    def base_url(self) -> str:
        """The emulator's root as the client reached it (``http://host:port/``)."""
        base = self._base_url
        if not isinstance(base, str):
            base = self._base_url = base()
        return base

    def header(self, name: bytes) -> str | None:
        """The first ``name`` header (lower case), stripped, or ``None``."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1").strip()
        return None

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query's ``(name, value)`` pairs, in order (blank values kept)."""
        query = self._query
        if query is None:
            raw = self.query_string.decode("latin-1")
            query = self._query = parse_qsl(raw, keep_blank_values=True) if raw else []
        return query

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or ``None``."""
        for key, value in self.query:
            if key == name:
                return value
        return None


class Outgoing:
    """An answer: ``body`` is the encoded bytes or an async iterator of chunks; ``after`` runs once
    the answer is sent (in a worker thread when ``after_large``, else on the event loop)."""

    __slots__ = ("after", "after_large", "body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes | AsyncIterator[bytes],
        status: int = 200,
        content_type: bytes = b"application/json",
        headers: list[tuple[bytes, bytes]] | None = None,
        after: Callable[[], None] | None = None,
        after_large: bool = False,
    ) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self.after = after
        self.after_large = after_large


Handler = Callable[[Incoming], Awaitable[Outgoing]]


@dataclass(frozen=True)
class Operation:
    """One route of a provider: ``endpoint`` names it for faults and the journal; ``body`` is the
    largest body it reads (0: none), kept in a spooled file instead of bytes when ``spool``, or
    parsed as a ``multipart/form-data`` form as it arrives when ``form`` (its file parts in
    temporary files: the body itself is never kept);
    ``auth`` is whether it needs a credential."""

    method: str
    path: str
    endpoint: str
    handler: Handler
    body: int = 0
    spool: bool = False
    form: bool = False
    auth: bool = True


class Dialect(Protocol):
    """How a provider speaks HTTP beyond its operations."""

    name: str
    request_id_header: bytes | None
    """The header naming each answer's request id (``None``: the provider sends none)."""

    def request_id(self) -> bytes:
        """A new request id (ASCII)."""

    def key(self, headers: RawHeaders, query_string: bytes) -> str | None:
        """The credential of a call (its workspace), or ``None``."""

    def credential_error(self, given: bool) -> DomainError:
        """The refusal of a call without a credential (``given`` false) or with one not accepted."""

    def claims(self, headers: RawHeaders) -> bool:
        """Whether a call on a path several providers serve is this provider's."""

    def error(self, request_id: bytes | None, exc: DomainError) -> Outgoing:
        """A refusal in the provider's envelope (status, type and wording are its own)."""


class Console(Protocol):
    """What the dashboard and the control plane show of a provider's batches, and what they may
    do to one (cancel, delete: as the provider's API does, with its refusals)."""

    name: str
    statuses: tuple[str, ...]
    """Every status a batch of this provider can show, in lifecycle order."""
    deletable: bool
    """Whether the provider's API deletes a batch (OpenAI's has no delete)."""

    def entries(self) -> Iterable[Entry]:
        """Every live batch of every workspace."""

    def find(self, batch_id: str) -> Entry | None:
        """The live batch with this id, whatever its workspace."""

    def status(self, entry: Entry, now: int) -> str:
        """The batch's status as its API names it at ``now``."""

    def show(self, entry: Entry, now: int, base_url: str) -> Any:
        """The batch object as its API shows it at ``now`` (JSON values)."""

    def links(self, entry: Entry, now: int) -> dict[str, Any]:
        """What else belongs to the batch (OpenAI's output and error files...)."""

    def params(self, entry: Entry, index: int) -> Any:
        """One request as it was submitted (JSON values)."""

    def error(self, entry: Entry, index: int) -> tuple[str, str] | None:
        """The error type and message of an errored request."""

    def result(self, entry: Entry, index: int) -> Any:
        """One request's result as the API reports it, once the batch has ended (JSON values)."""

    def results(self, entry: Entry) -> AsyncIterator[bytes]:
        """Every result of an ended batch, as JSONL."""

    def cancel(self, entry: Entry) -> None:
        """Cancel the batch as the API's cancel does (through its ``BatchService.cancel``),
        refused with a :class:`~batchsim._engine.errors.WrongStateError` once it has ended."""

    def delete(self, entry: Entry) -> None:
        """Delete the batch as the API's delete does (``BatchService.delete``): refused while it
        has not ended; an :class:`~batchsim._engine.errors.InvalidError` when not ``deletable``."""

    def files(self, entry: Entry, now: int) -> dict[str, str]:
        """The files the batch has at ``now`` that :meth:`file` downloads, each name (OpenAI's
        ``output`` and ``error``) with the file's id; none before it ends."""

    def file(self, entry: Entry, name: str) -> AsyncIterator[bytes]:
        """The bytes of the batch's file ``name`` (one of :meth:`files`; a
        :class:`~batchsim._engine.errors.NotFoundError` otherwise). Checks happen before the
        first chunk is asked for."""


@dataclass(frozen=True)
class Provider:
    """A provider as one emulator serves it."""

    name: str
    dialect: Dialect
    operations: tuple[Operation, ...]
    console: Console
