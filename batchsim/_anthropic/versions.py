"""What each ``anthropic-version`` refuses in a request's ``params``: one table of rules.

A request is judged by the version header of the create call that carried it. Each rule names
the version that introduced it and applies to that version and every later one; a version the
table does not know (or no header) is judged like :data:`BASE_VERSION`. To add a version, add
its rules to :data:`VERSION_RULES` with the version they start at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

__all__ = ["BASE_VERSION", "VERSION_RULES", "rules_for", "version_problem"]

BASE_VERSION = "2023-06-01"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

ParamsRule = Callable[[dict[str, Any]], "str | None"]
"""``params -> problem`` (a pydantic-style message naming the path) or ``None``."""


def _blocks(params: dict[str, Any], role: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, block)`` for each content block of the messages of ``role``."""
    messages = params.get("messages")
    for j, message in enumerate(messages if isinstance(messages, list) else ()):
        if isinstance(message, dict) and message.get("role") == role and isinstance(message.get("content"), list):
            for k, block in enumerate(message["content"]):
                if isinstance(block, dict):
                    yield f"messages.{j}.content.{k}", block


def no_sampling_parameters(params: dict[str, Any]) -> str | None:
    """``temperature``, ``top_p`` and ``top_k`` are gone, at any value (defaults included)."""
    for key in ("temperature", "top_p", "top_k"):
        if key in params:
            return f"{key}: Extra inputs are not permitted"
    return None


def no_assistant_documents(params: dict[str, Any]) -> str | None:
    """An assistant message cannot hold a ``document`` block."""
    for path, block in _blocks(params, "assistant"):
        if block.get("type") == "document":
            return f"{path}: document blocks are not permitted in assistant messages"
    return None


def no_user_citations(params: dict[str, Any]) -> str | None:
    """A user text block cannot carry non-empty ``citations``."""
    for path, block in _blocks(params, "user"):
        if block.get("type") == "text" and block.get("citations"):
            return f"{path}.citations: Extra inputs are not permitted"
    return None


VERSION_RULES: tuple[tuple[str, ParamsRule], ...] = (
    ("2026-10-21", no_sampling_parameters),
    ("2026-10-21", no_assistant_documents),
    ("2026-10-21", no_user_citations),
)
"""``(first version, rule)``: each rule applies from its version on."""


@lru_cache(maxsize=64)
def rules_for(version: str | None) -> tuple[ParamsRule, ...]:
    """The rules a request sent with ``anthropic-version: version`` is judged by."""
    if version is None or _DATE.fullmatch(version) is None:
        version = BASE_VERSION
    return tuple(rule for since, rule in VERSION_RULES if since <= version)


def version_problem(params: dict[str, Any], version: str | None) -> str | None:
    """The first problem ``version`` finds in ``params`` (already valid for the base version)."""
    for rule in rules_for(version):
        problem = rule(params)
        if problem is not None:
            return problem
    return None
