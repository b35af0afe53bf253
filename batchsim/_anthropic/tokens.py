"""The input-token estimate: one function of a request's prompt, shared by the responder
(``usage.input_tokens`` of a succeeded message) and ``POST /v1/messages/count_tokens``, so that
counting a request's tokens first and running it in a batch agree.

The prompt is the request's ``params`` without the members that say how to answer rather than
what is asked (``max_tokens``, sampling settings, ``metadata``...), plus the bytes of every file
it references by ``file_id``; its compact JSON encoding's size makes the estimate (about four
bytes a token). The size is taken from the encoding the batch already holds: a member
``"k":v`` and its comma are subtracted, which is exact for orjson's compact output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from .responder import estimate_tokens
from .validation import COUNT_KEYS, REQUEST_KEYS

__all__ = ["NOT_PROMPT", "file_references", "input_tokens", "prompt_size"]

NOT_PROMPT = (REQUEST_KEYS - COUNT_KEYS) | {"speed", "user_profile_id", "billing_policy"}
"""Members that do not count as prompt: every member a batch request may have that a counting
request may not (``max_tokens``, ``temperature``, ``metadata``...), and the settings both take."""
_NOT_PROMPT = tuple(sorted(NOT_PROMPT))
FILE_ID = b'"file_id"'
"""What encoded params that may reference an uploaded file hold."""


def prompt_size(params: Mapping[str, Any], encoded_size: int) -> int:
    """The size of ``params``'s compact JSON encoding (``encoded_size`` bytes) without the
    members that are not prompt."""
    size = encoded_size
    for key in _NOT_PROMPT:
        if key in params:
            size -= len(key) + len(orjson.dumps(params[key])) + 4  # "key": and a comma
    return size


def input_tokens(params: Mapping[str, Any], encoded_size: int, file_bytes: int = 0) -> int:
    """The estimated input tokens of a request whose params encode to ``encoded_size`` bytes and
    whose referenced files hold ``file_bytes``."""
    return estimate_tokens(prompt_size(params, encoded_size) + file_bytes)


def mentions_files(raw: bytes) -> bool:
    """Whether encoded params may reference a file (a cheap byte search)."""
    return FILE_ID in raw


def file_references(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(path, file_id)`` of every content block whose source is an uploaded file
    (``{"type": "file", "file_id": ...}``), in the messages and inside their tool results."""
    messages = params.get("messages")
    for j, message in enumerate(messages if isinstance(messages, list) else ()):
        content = message.get("content") if isinstance(message, dict) else None
        yield from _blocks(content, f"messages.{j}.content")


def _blocks(content: Any, where: str) -> Iterator[tuple[str, str]]:
    for k, block in enumerate(content if isinstance(content, list) else ()):
        if not isinstance(block, dict):
            continue
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "file" and isinstance(source.get("file_id"), str):
            yield f"{where}.{k}.source.file_id", source["file_id"]
        if block.get("type") == "tool_result":
            yield from _blocks(block.get("content"), f"{where}.{k}.content")
