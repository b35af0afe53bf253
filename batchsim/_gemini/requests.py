"""The requests of a Gemini batch: inline (``inputConfig.requests.requests``: each ``{"request",
"metadata"}``) or from an uploaded JSONL file (``inputConfig.fileName``: each line ``{"key",
"request"}``). Google's JSON parser takes the REST names (camelCase) and the protobuf ones
(snake_case, as Google's own REST guide writes them): both are read here.

A request's key (what canned results and scenario rules match) is its ``metadata.key`` (inline)
or its ``key`` (a file line); a request without one is known by its position (``"0"``,
``"1"``...). A request the model cannot run (a ``generateContent`` request without
``contents``, an embeddings request without ``content``) does not fail the create: it ends with
an ``INVALID_ARGUMENT`` error, as the API checks requests while the batch runs. A file with a line
that is not a JSON object holding a ``request`` object makes the whole batch fail.

Each request's ``params`` (what the engine keeps) are its item's own JSON: the inline item
re-encoded (one ``orjson.dumps`` for the whole batch), or the file's line itself (no copy).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from typing import Any

import orjson

from .._engine.errors import InvalidError
from .._engine.params import PackedIds, PackedParams
from .answers import pick

__all__ = ["EMBED", "GENERATE", "Checked", "Parsed", "parse_file", "parse_inline", "read_create"]

GENERATE = "generate"
EMBED = "embed"
_get_request = itemgetter("request")
_get_key = itemgetter("key")
_get_metadata = methodcaller("get", "metadata")
_get_contents = methodcaller("get", "contents")
_get_content = methodcaller("get", "content")
_NO_CONTENTS = "* GenerateContentRequest.contents: contents is not specified\n"
_NO_CONTENT = "* EmbedContentRequest.content: content is not specified\n"
_BATCH_FIELDS = frozenset(
    {"displayName", "display_name", "inputConfig", "input_config", "model", "name", "priority", "webhookConfig",
     "webhook_config", "output", "state", "batchStats", "batch_stats", "createTime", "create_time", "updateTime",
     "update_time", "endTime", "end_time"}
)  # fmt: skip


def _unknown(name: str, where: str) -> InvalidError:
    return InvalidError(f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.")


@dataclass
class Parsed:
    """What a create body names: the display name, and either inline requests or a file."""

    display_name: str | None
    file_name: str | None = None
    keys: Sequence[str] = ()
    params: Sequence[bytes] = ()
    invalid: dict[int, str] = field(default_factory=dict)
    held: Any = None
    """The parsed body, kept alive (with the collector paused) until the answer is sent."""


class Checked:
    """The requests' problems, found at the create (a :class:`~batchsim._engine.batch.ParamsCheck`)."""

    def __init__(self, invalid: dict[int, str]) -> None:
        self.invalid = invalid

    def check_params(self) -> dict[int, str]:
        return self.invalid

    def release(self) -> None:
        """Nothing is held."""


def read_create(data: Any, kind: str) -> Parsed:
    """The batch a parsed create body describes (``kind``: :data:`GENERATE` or :data:`EMBED`);
    :class:`InvalidError` for a body the API refuses at once."""
    if not isinstance(data, dict):
        raise InvalidError("Invalid JSON payload received. Expected an object.")
    for name in data:
        if name != "batch":
            raise _unknown(name, "")
    batch = data.get("batch")
    if not isinstance(batch, dict):
        raise InvalidError("* batch: a batch is required\n")
    for name in batch:
        if name not in _BATCH_FIELDS:
            raise _unknown(name, "batch")
    display = pick(batch, "displayName", "display_name")
    if display is not None and not isinstance(display, str):
        raise InvalidError("Invalid value at 'batch.display_name' (TYPE_STRING)")
    source = pick(batch, "inputConfig", "input_config")
    if not isinstance(source, dict):
        raise InvalidError("* batch.input_config: input_config is required\n")
    file_name = pick(source, "fileName", "file_name")
    requests = source.get("requests")
    if (file_name is None) == (requests is None):
        raise InvalidError("* batch.input_config: exactly one of file_name or requests must be set\n")
    if file_name is not None:
        if not isinstance(file_name, str) or not file_name.startswith("files/") or len(file_name) <= 6:
            raise InvalidError(f"* batch.input_config.file_name: invalid file name {file_name!r}\n")
        return Parsed(display, file_name=file_name)
    items = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(items, list):
        raise InvalidError("* batch.input_config.requests.requests: a list of requests is required\n")
    if not items:
        raise InvalidError("* batch.input_config.requests.requests: at least one request is required\n")
    keys, params, invalid = parse_inline(items, kind)
    return Parsed(display, keys=keys, params=params, invalid=invalid, held=data)


def parse_inline(items: list[Any], kind: str) -> tuple[Sequence[str], Sequence[bytes], dict[int, str]]:
    """Keys, params and per-request problems of inline requests (C-level passes when every item
    has the common shape, a loop naming the first bad item otherwise)."""
    found = _wholesale(items, kind)
    if found is not None:
        return found
    keys: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidError(f"Invalid value at 'batch.input_config.requests.requests[{i}]': expected an object")
        for name in item:
            if name not in ("request", "metadata"):
                raise _unknown(name, f"batch.input_config.requests.requests[{i}]")
        if not isinstance(item.get("request"), dict):
            raise InvalidError(f"* batch.input_config.requests.requests[{i}].request: request is required\n")
        metadata = item.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            where = f"batch.input_config.requests.requests[{i}].metadata"
            raise InvalidError(f"Invalid value at '{where}': expected an object")
        key = metadata.get("key") if metadata else None
        keys.append(key if isinstance(key, str) else str(i))
    requests = [item["request"] for item in items]
    return PackedIds.of(keys), PackedParams.encode(items), _problems(requests, kind)


def _wholesale(items: list[Any], kind: str) -> tuple[Sequence[str], Sequence[bytes], dict[int, str]] | None:
    try:
        if set(map(type, items)) != {dict}:
            return None
        requests = list(map(_get_request, items))
        metadata = list(map(_get_metadata, items))
        if set(map(type, requests)) != {dict} or set(map(type, metadata)) != {dict}:
            return None
        keys = list(map(_get_key, metadata))
        joined = "\n".join(keys)
    except (KeyError, TypeError):
        return None
    if set(map(len, items)) != {2} or joined.count("\n") != len(keys) - 1:
        return None
    try:
        params = PackedParams.encode(items)
    except orjson.JSONEncodeError:
        return None
    return PackedIds.split(joined), params, _problems(requests, kind)


def _problems(requests: list[dict[str, Any]], kind: str) -> dict[int, str]:
    """The requests the model cannot run, by index."""
    if kind == EMBED:
        return {i: _NO_CONTENT for i, c in enumerate(map(_get_content, requests)) if not isinstance(c, dict)}
    values = list(map(_get_contents, requests))
    if all(values) and set(map(type, values)) == {list}:
        return {}
    return {i: _NO_CONTENTS for i, c in enumerate(values) if not c or not isinstance(c, list | dict)}


@dataclass
class FileRequests:
    """The requests of an input file, or why the batch fails."""

    keys: Sequence[str] = ()
    params: Sequence[bytes] = ()
    invalid: dict[int, str] = field(default_factory=dict)
    failure: str | None = None


def parse_file(data: bytes, kind: str) -> FileRequests:
    """The requests of an input file (each line ``{"key": ..., "request": {...}}``)."""
    starts = array("q")
    keys: list[str] = []
    requests: list[Any] = []
    loads = orjson.loads
    position, number, size = 0, 0, len(data)
    while position < size:
        end = data.find(b"\n", position)
        if end < 0:
            end = size
        number += 1
        line = data[position:end]
        start, position = position, end + 1
        if not line.strip():
            continue
        try:
            item = loads(line)
        except orjson.JSONDecodeError:
            return FileRequests(failure=f"Line {number} of the input file is not valid JSON.")
        request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(request, dict):
            return FileRequests(failure=f"Line {number} of the input file has no request object.")
        key = item.get("key")
        keys.append(key if isinstance(key, str) else str(len(keys)))
        requests.append(request)
        starts.append(start)
    if not keys:
        return FileRequests(failure="The input file holds no request.")
    starts.append(size + 1)  # as if the file ended with a newline
    return FileRequests(PackedIds.of(keys), PackedParams(data, starts, 0, 1), _problems(requests, kind))
