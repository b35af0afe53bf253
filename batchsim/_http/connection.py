"""Cutting connections on purpose: how ``drop``, ``lost`` and ``truncate`` faults reach the wire."""

from __future__ import annotations

__all__ = ["CLOSE_CONNECTION", "DroppedConnectionError"]

CLOSE_CONNECTION = "batchsim.close_connection"
"""The ``scope["extensions"]`` key of an async callable ``close(receive)`` that ends an HTTP
exchange with the connection closed and nothing sent (``batchsim serve``'s uvicorn protocols and
the in-process transports provide it): how ``drop`` and ``lost`` faults cut a connection."""


class DroppedConnectionError(Exception):
    """Raised by the HTTP layer to cut a connection (a ``drop`` or ``truncate`` fault)."""
