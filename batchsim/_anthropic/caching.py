"""Prompt caching across the requests of a batch.

A ``cache_control`` breakpoint (on a tool, a system block, a message block, or the top-level
``cache_control``, which marks the last block of the prompt) makes the prompt up to and including
that block a cacheable prefix, identified by the model and the prefix's content (``cache_control``
markers left out). A prefix shorter than the model's minimum (:func:`min_cacheable_tokens`) is
never cached. Requests are taken in the order the batch processed them (its results order):

* the first request with a prefix writes it (``cache_creation_input_tokens``, split by ``ttl``
  into ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``: the part of
  the prompt up to each breakpoint counts under that breakpoint's ``ttl``);
* a later request sharing a written prefix reads the longest one (``cache_read_input_tokens``)
  and writes the rest up to its last breakpoint; batches cache on a best-effort basis, so each
  such request hits with the scenario's ``cache_hit_rate`` (seeded), and a miss writes again;
* ``input_tokens`` is the prompt minus what was read or written.

Hits are looked for at breakpoints only (the API also looks a few blocks back from each).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from .features import cache_controls

__all__ = ["CacheUsage", "mentions_cache_control", "min_cacheable_tokens", "plan_cache"]

_MIN_TOKENS: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
DEFAULT_MIN_TOKENS = 1024
_MARKER = b'"cache_control":'


class CacheUsage(NamedTuple):
    """Cache tokens of one request: read, written with a 5-minute and with a 1-hour ``ttl``."""

    read: int
    write_5m: int
    write_1h: int


class _Breakpoint(NamedTuple):
    tokens: int  # the prefix's length, in tokens
    key: bytes  # the prefix's identity (model + content)
    ttl: str


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix the model caches (1,024 tokens unless the model is listed)."""
    for prefix, tokens in _MIN_TOKENS:
        if model.startswith(prefix):
            return tokens
    return DEFAULT_MIN_TOKENS


def mentions_cache_control(params: Sequence[bytes]) -> bool:
    """Whether any request may carry a breakpoint (a quick look at the encoded params)."""
    return any(_MARKER in raw for raw in params)


def _estimate(size: int) -> int:
    return max(1, (size + 3) // 4)


def _pieces(params: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The prompt's blocks in order, as ``(block without cache_control, its cache_control)``."""
    out: list[tuple[Any, Any]] = []

    def add(block: Any) -> None:
        if isinstance(block, dict) and "cache_control" in block:
            out.append(({k: v for k, v in block.items() if k != "cache_control"}, block["cache_control"]))
        else:
            out.append((block, None))

    for tool in params.get("tools") or []:
        add(tool)
    system = params.get("system")
    for block in system if isinstance(system, list) else ([system] if system else []):
        add(block)
    for message in params.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else [content]:
            out.append((role, None))
            add(block)
    return out


def _breakpoints(params: dict[str, Any]) -> list[_Breakpoint]:
    if not any(control for _, control in cache_controls(params)):
        return []
    pieces = _pieces(params)
    top = params.get("cache_control")
    if isinstance(top, dict) and pieces:  # the top-level marker goes on the last block
        last, own = pieces[-1]
        pieces[-1] = (last, own or top)
    digest = hashlib.sha256(str(params.get("model", "")).encode())
    size = 0
    found: list[_Breakpoint] = []
    for block, control in pieces:
        encoded = orjson.dumps(block)
        size += len(encoded)
        digest.update(encoded)
        if isinstance(control, dict):
            ttl = control.get("ttl", "5m")
            found.append(_Breakpoint(_estimate(size), digest.copy().digest(), "1h" if ttl == "1h" else "5m"))
    return found


def plan_cache(requests: Iterable[tuple[int, dict[str, Any]]], hit_rate: float, seed: str) -> dict[int, CacheUsage]:
    """The cache usage of each request that has a breakpoint, in processing order (see the module
    docstring). ``requests`` are ``(index, params)`` in the order the batch processed them."""
    written: set[bytes] = set()
    usage: dict[int, CacheUsage] = {}
    for i, params in requests:
        minimum = min_cacheable_tokens(str(params.get("model", "")))
        points = [b for b in _breakpoints(params) if b.tokens >= minimum]
        if not points:
            continue
        read = 0
        if any(b.key in written for b in points) and random.Random(f"{seed}/{i}/cache").random() < hit_rate:
            read = max(b.tokens for b in points if b.key in written)
        writes = {"5m": 0, "1h": 0}
        done = read
        for b in points:
            if b.tokens > done:
                writes[b.ttl] += b.tokens - done
                done = b.tokens
        written.update(b.key for b in points)
        usage[i] = CacheUsage(read, writes["5m"], writes["1h"])
    return usage
