"""What the engine knows of Anthropic's API (registered when this module is imported): its fault
endpoints and the format of its canned results lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._engine import traits

__all__ = ["ENDPOINTS", "NAME", "canned_key"]

NAME = "anthropic"
ENDPOINTS = ("create", "retrieve", "list", "cancel", "delete", "results")
_OUTCOMES = ("succeeded", "errored", "expired", "canceled")


def canned_key(line: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(custom_id, outcome)`` of an Anthropic results line (``{"custom_id", "result": {"type"}}``),
    or ``None`` for any other line."""
    result = line.get("result")
    cid = line.get("custom_id")
    if isinstance(cid, str) and isinstance(result, Mapping) and result.get("type") in _OUTCOMES:
        return cid, str(result["type"])
    return None


traits.register(
    traits.Traits(
        NAME,
        ENDPOINTS,
        streams=("results",),
        canned=canned_key,
        canned_format='{"custom_id": ..., "result": {"type": ...}}',
    )
)
