"""uvicorn's two HTTP/1.1 protocols (httptools and h11), extended so the app can close a connection
before sending any byte of an answer, and bounded in what a connection may make the server hold.

ASGI has no way to close a connection unanswered: an app that raises or returns without
answering gets a ``500`` from uvicorn, and an app that starts an answer has already sent its
status line, which fetch-based clients take as a response. These subclasses give each request
the :data:`~batchsim._http.connection.CLOSE_CONNECTION` extension (in ``scope["extensions"]``): an
async callable that closes the connection's transport and waits until uvicorn has seen the
connection go, so the request ends with nothing sent. The ``drop`` and ``lost`` faults use it.

Each answer's head (status line and headers) leaves with the first piece of its body in one
write, as most servers send a small answer: uvicorn writes them apart, two system calls and two
TCP segments for an answer of a few hundred bytes (:class:`_HeadWithBody`).

They also enforce :data:`batchsim._serve.connections.LIMITS` (see that module): the size of a
request head (414, 431), the time it may take to arrive (408), the time a send may wait for the
client to read, and the number of open connections (529). What they add to a request that is
within bounds is a few comparisons; the timeouts are checked by one timer per server.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import h11
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from .._http.connection import CLOSE_CONNECTION
from .connections import LIMITS, Limits, header_bytes, refusal, sweeper

__all__ = ["PROTOCOLS", "ClosingH11Protocol", "ClosingHttpToolsProtocol"]

Receive = Callable[[], Awaitable[Any]]


def _closing(app: ASGIApp, transport: asyncio.Transport) -> ASGIApp:
    """``app`` with the close extension of this connection in every HTTP scope."""

    async def close(receive: Receive) -> None:
        transport.close()  # nothing of this request's answer is buffered: nothing is sent
        while (await receive())["type"] != "http.disconnect":  # uvicorn notes the connection gone
            pass

    extensions = {CLOSE_CONNECTION: close}

    async def app_with_close(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {**scope["extensions"], **extensions} if scope.get("extensions") else extensions
        await app(scope, receive, send)

    return app_with_close


class _HeadWithBody:
    """A connection's transport as one request's cycle sees it: the cycle's first write (the
    answer's head) is held until its second (the body, or its first chunk), and both go out as
    one; a head whose body is not written in the same step of the event loop (a streamed answer
    still waiting for its first chunk, ``100 Continue``) goes out on the loop's next turn. The
    rest is the transport's."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = b""  # b"": nothing written yet; None: the head has gone

    def write(self, data: bytes) -> None:
        head = self._head
        if head is None:
            self._transport.write(data)
        elif not head:
            self._head = data
            self._loop.call_soon(self._flush)
        else:
            self._head = None
            self._transport.writelines((head, data))

    def _flush(self) -> None:
        head = self._head
        self._head = None
        if head and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# -- refusals ----------------------------------------------------------------------------------------


def _url_too_long(limits: Limits) -> bytes:
    return refusal(414, f"The request URL exceeds {limits.url_max} bytes", "invalid_request_error")


def _headers_too_large(limits: Limits) -> bytes:
    return refusal(431, f"The request headers exceed {limits.headers_max} bytes", "invalid_request_error")


def _head_too_slow(limits: Limits) -> bytes:
    return refusal(408, f"The request headers did not arrive within {limits.header_timeout:g} s", "timeout_error")


_OVERLOADED = (
    "The server has too many open connections; retry shortly",
    "overloaded_error",
    (b"retry-after", b"1"),
)


def _send_and_close(transport: asyncio.Transport, answer: bytes) -> None:
    if not transport.is_closing():
        transport.write(answer)
        transport.close()


def _admitted(protocol: ClosingHttpToolsProtocol | ClosingH11Protocol) -> bool:
    """Start the server's sweeper; refuse the connection (529, closed) past the connection bound."""
    sweeper(protocol.server_state, protocol.loop)
    if len(protocol.connections) <= LIMITS.connections_max:
        return True
    message, error_type, retry = _OVERLOADED
    _send_and_close(protocol.transport, refusal(529, message, error_type, retry))
    return False


class _RefusedHeadError(Exception):
    """Raised in a parser callback to stop parsing a head that is refused."""


class _Bounded(asyncio.Protocol):
    """What both HTTP protocols below add the same way: each request's answer written in one
    piece (:class:`_HeadWithBody`), and the timeouts the sweeper enforces (a send the client
    stopped reading, a head that stopped arriving). Listed first among the bases, so its
    ``super()`` calls reach uvicorn's protocol."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _head_since: float | None = None
    """When the head being read began (or the connection opened, before its first request)."""
    _paused_since: float | None = None
    """When the transport last asked us to stop writing (the client is not reading)."""

    def _head_open(self) -> bool:
        """Whether a head has begun arriving and not ended (a request to answer 408)."""
        raise NotImplementedError

    def _one_write(self, previous: Any) -> None:
        """Give a cycle made since ``previous`` was the current one (a request began; none for
        an upgrade) the transport that writes its answer's head with its body."""
        cycle = self.cycle
        if cycle is not previous and cycle is not None:
            cycle.transport = _HeadWithBody(self.transport, self.loop)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._paused_since = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._paused_since = None

    def overdue(self, now: float, limits: Limits) -> None:
        """Called by the sweeper: time out a stalled send (cut) or a stalled head (408)."""
        if self._paused_since is not None and now - self._paused_since >= limits.send_timeout:
            self.transport.abort()
        elif self._head_since is not None and now - self._head_since >= limits.header_timeout:
            if self._head_open():
                _send_and_close(self.transport, _head_too_slow(limits))
            else:
                self.transport.close()  # never sent a byte: nobody to answer


# -- httptools -----------------------------------------------------------------------------------------

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn[standard] ships httptools where it builds
    httptools = None  # type: ignore[assignment]
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]


class ClosingHttpToolsProtocol(_Bounded, HttpToolsProtocol):
    """uvicorn's httptools protocol with the close extension and the connection bounds."""

    _head_bytes = 0
    """Bytes read so far while the head was incomplete."""
    _read = 0
    """The size of the read being parsed."""
    _refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _closing(self.app, transport)
        self._head_since = self.loop.time()
        _admitted(self)

    def _head_open(self) -> bool:
        """Whether a head has begun (uvicorn made its scope) and not ended (no cycle has it)."""
        scope = self.scope
        return scope is not None and (self.cycle is None or self.cycle.scope is not scope)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, plus the head's bound and a refusal raised by a callback.
        self._unset_keepalive_if_required()
        self._read = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                _send_and_close(self.transport, self._refusal)
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        scope = self.scope  # a head begun (uvicorn made its scope) and not ended (no cycle has it)
        if scope is not None and (self.cycle is None or self.cycle.scope is not scope):
            if self._head_since is None:
                self._head_since = self.loop.time()
            self._head_bytes += len(data)  # refused once it outgrows both bounds
            limits = LIMITS
            if self._head_bytes > limits.headers_max + limits.url_max:
                too_long = len(self.url) > limits.url_max
                _send_and_close(self.transport, _url_too_long(limits) if too_long else _headers_too_large(limits))

    def on_headers_complete(self) -> None:
        limits = LIMITS
        if len(self.url) > limits.url_max:
            self._refusal = _url_too_long(limits)
            raise _RefusedHeadError
        # The head came in reads of this many bytes at most: only then can its headers be too large.
        if self._head_bytes + self._read > limits.headers_max and header_bytes(self.headers) > limits.headers_max:
            self._refusal = _headers_too_large(limits)
            raise _RefusedHeadError
        self._head_since = None
        self._head_bytes = 0
        cycle = self.cycle
        super().on_headers_complete()
        self._one_write(cycle)


# -- h11 ---------------------------------------------------------------------------------------------------


class _BoundedConnection(h11.Connection):
    """h11's connection, refusing heads past the bounds as they are parsed."""

    def __init__(self, protocol: ClosingH11Protocol) -> None:
        limits = LIMITS
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.headers_max + limits.url_max)
        self._protocol = weakref.ref(protocol)

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint != 431:
                raise
            return self._refuse(None)  # incomplete, and past h11's bound
        if type(event) is h11.Request:
            protocol = self._protocol()
            received = 0
            if protocol is not None:
                protocol._head_since = None
                received, protocol._received = protocol._received, 0
            limits = LIMITS
            if len(event.target) > limits.url_max or (
                received > limits.headers_max and header_bytes(event.headers.raw_items()) > limits.headers_max
            ):
                return self._refuse(event)
        return event

    def _refuse(self, event: h11.Request | None) -> Any:
        protocol = self._protocol()
        if protocol is not None:
            limits = LIMITS
            if event is None:  # how far the request line got tells which bound it passed
                head = self.trailing_data[0]
                line = head.find(b"\r\n")
                too_long = line < 0 or line > limits.url_max
            else:
                too_long = len(event.target) > limits.url_max
            _send_and_close(protocol.transport, _url_too_long(limits) if too_long else _headers_too_large(limits))
        return h11.PAUSED  # uvicorn stops reading; the connection is closing


class ClosingH11Protocol(_Bounded, H11Protocol):
    """uvicorn's h11 protocol with the close extension and the connection bounds."""

    _received = 0
    """Bytes received since the last request head ended: only past the bound can one be too large."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _BoundedConnection(self)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _closing(self.app, transport)
        self._head_since = self.loop.time()
        _admitted(self)

    def data_received(self, data: bytes) -> None:
        if self._head_since is None and self.conn.their_state is h11.IDLE:
            self._head_since = self.loop.time()
        self._received += len(data)
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        self._one_write(cycle)

    def _head_open(self) -> bool:
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])


if httptools is None:  # pragma: no cover
    ClosingHttpToolsProtocol = ClosingH11Protocol  # type: ignore[misc]


PROTOCOLS = {
    "httptools": f"{__name__}:ClosingHttpToolsProtocol",
    "h11": f"{__name__}:ClosingH11Protocol",
}
"""uvicorn's ``http`` option for each implementation (import strings: worker processes load them)."""
