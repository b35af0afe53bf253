"""What a browser may make a served emulator do: the ``Host`` a request names, and where a change
to the control plane comes from.

A web page can send requests to a server on the visitor's machine. Two attacks follow, and
:func:`guarded` (the outermost layer of the app ``batchsim serve`` runs) stops both:

* **DNS rebinding**: a page whose host name the attacker points at ``127.0.0.1`` reads the
  server's answers as its own (the journal, any key's results). Such a request names the
  attacker's host in ``Host``: a server bound to a loopback address answers only requests whose
  ``Host`` is a loopback name or address (``localhost``, ``*.localhost``, ``127.x.x.x``,
  ``[::1]``), plus the names given with ``--allowed-host``; others get 421. A server bound to
  another address accepts any ``Host`` unless names are given (then those, loopback names and
  IP addresses, which no rebinding can forge). ``--allowed-host '*'`` accepts any.
* **Cross-site request forgery**: a page on another origin (another local port is enough) can
  send a ``POST`` without reading its answer: ``reset``, ``clock/advance``. A state change on the
  control plane (``/_batchsim/…`` with a method other than GET, HEAD or OPTIONS) is refused with
  403 when its ``Origin`` is not the server's own, when ``Sec-Fetch-Site`` says it is not
  same-origin, or when its content type is one a page may send without asking
  (``text/plain``, form encodings). Command-line tools and SDKs send none of these: they keep
  working as they are.

Refusals use the API's error envelope. A request within bounds costs a look at its ``Host``
header (a set lookup once a value was judged) and, for a control-plane change, at four headers;
nothing is allocated for it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from .._engine.ids import IdFormat

__all__ = ["allowed_hosts", "guarded", "host_allowed", "is_loopback"]

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTROL = "/_batchsim/"
_SIMPLE_TYPES = frozenset({b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data"})
_SAME_ORIGIN = frozenset({b"same-origin", b"none"})
_CACHE = 256  # Host values remembered as allowed


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is a loopback one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, names: Sequence[str] | None) -> frozenset[str] | None:
    """The host names a server bound to ``bind`` answers besides loopback names and addresses
    (:func:`host_allowed`); ``None``: any ``Host``."""
    given = [n.strip().lower().rstrip(".") for n in names or () if n.strip()]
    if "*" in given:
        return None
    if not given and not is_loopback(bind):
        return None
    return frozenset(given)


def host_allowed(value: bytes, names: frozenset[str], *, any_address: bool) -> bool:
    """Whether a ``Host`` header value names this server: a loopback name or address, one of
    ``names``, or (``any_address``) any IP address."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):  # [v6]:port
        host = text[1 : text.find("]")] if "]" in text else ""
    else:
        host, colon, port = text.rpartition(":")
        if not colon or not port.isdigit():
            host = text
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or host in names:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any_address


_ids = random.Random()
_REQUEST_ID = IdFormat("req_", 22, lead="01")  # the shape of the API's request ids


async def _refuse(send: Send, status: int, error_type: str, message: str) -> None:
    request_id = _REQUEST_ID.make(_ids)
    body = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"request-id", request_id.encode()),
        _NOSNIFF,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _cross_origin(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why a control-plane change looks sent by another site's page, or ``None``. A content type a
    page can send without asking is refused from a browser only (its ``User-Agent`` starts with
    ``Mozilla/``, as every browser's does): ``curl -d`` and scripts send such types too, and no
    page sends them without an ``Origin`` a modern browser adds."""
    host = origin = site = kind = agent = None
    for name, value in headers:
        if name == b"host":
            host = value
        elif name == b"origin":
            origin = value
        elif name == b"sec-fetch-site":
            site = value
        elif name == b"content-type":
            kind = value
        elif name == b"user-agent":
            agent = value
    if site is not None and site.strip().lower() not in _SAME_ORIGIN:
        return f"Sec-Fetch-Site: {site.decode('latin-1')}"
    if origin is not None:
        own = origin.strip().lower().partition(b"://")[2]
        if host is None or own != host.strip().lower():
            return f"Origin {origin.decode('latin-1')}"
    browser = agent is not None and agent[:8].lower() == b"mozilla/"
    if browser and kind is not None and kind.partition(b";")[0].strip().lower() in _SIMPLE_TYPES:
        return f"content type {kind.partition(b';')[0].strip().decode('latin-1')}"
    return None


def guarded(app: ASGIApp, hosts: frozenset[str] | None, *, any_address: bool = False) -> ASGIApp:
    """``app`` behind the checks of this module. ``hosts``: :func:`allowed_hosts` (``None``: any
    ``Host``); ``any_address``: IP addresses are accepted as ``Host`` (a server not bound to
    loopback)."""
    known: set[bytes] = set()

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = scope["headers"]
        if hosts is not None:
            for name, value in headers:
                if name == b"host":
                    if value not in known:
                        if not host_allowed(value, hosts, any_address=any_address):
                            await _refuse(
                                send,
                                421,
                                "invalid_request_error",
                                "This server does not answer for the host "
                                f"{value.decode('latin-1')!r} (batchsim serve --allowed-host NAME)",
                            )
                            return
                        if len(known) < _CACHE:
                            known.add(value)
                    break
        if scope["method"] not in _SAFE_METHODS and scope["path"].startswith(_CONTROL):
            why = _cross_origin(headers)
            if why is not None:
                await _refuse(
                    send,
                    403,
                    "permission_error",
                    f"A change to the control plane from another site's page is refused ({why})",
                )
                return
        await app(scope, receive, send)

    return guard
