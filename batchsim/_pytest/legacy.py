"""The legacy SDK (0.x) speaks ``httpx``: forward its requests to the emulator's ASGI app in-process,
through an ``httpx.MockTransport`` or a respx router. Needs ``httpx`` (and ``respx`` for the router),
never ``httpx2``: a project pinned to the 0.x SDK has no ``httpx2``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .._emulator import IN_PROCESS_URL
from .._http.httpx_transport import httpx_handler, httpx_transport
from .._http.inprocess import ASGIApp

if TYPE_CHECKING:
    import respx

__all__ = ["httpx_handler", "httpx_transport", "legacy_client", "respx_router"]


def respx_router(app: ASGIApp, base_url: str) -> respx.MockRouter:
    """A respx router (not started) sending everything under ``base_url`` to ``app``."""
    import respx

    router = respx.MockRouter(base_url=base_url, assert_all_called=False, assert_all_mocked=True)
    router.route().mock(side_effect=httpx_handler(app))
    return router


def legacy_client(app: ASGIApp, api_key: str, **kwargs: Any) -> Any:
    """A 0.x ``anthropic.Anthropic`` on an ``httpx.Client`` forwarding to ``app``."""
    import anthropic

    if not anthropic.__version__.startswith("0."):
        raise RuntimeError(
            f"legacy_client() is for the httpx-based anthropic 0.x; anthropic {anthropic.__version__} is "
            "installed: use client() instead"
        )
    kwargs.setdefault("base_url", IN_PROCESS_URL)
    http_client = httpx.Client(transport=httpx_transport(app), base_url=kwargs["base_url"])
    legacy: Any = anthropic.Anthropic  # typed for the current SDK, which wants an httpx2 client
    return legacy(api_key=api_key, http_client=http_client, **kwargs)
