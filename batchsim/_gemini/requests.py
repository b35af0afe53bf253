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

import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter
from typing import Any, overload

import orjson

from .._engine.errors import InvalidError
from .._engine.params import PackedIds, PackedParams
from .answers import pick

__all__ = ["EMBED", "GENERATE", "Checked", "Parsed", "parse_file", "parse_inline", "read_create"]

GENERATE = "generate"
EMBED = "embed"
_get_request = itemgetter("request")
_get_key = itemgetter("key")
_get_metadata = itemgetter("metadata")
_get_contents = itemgetter("contents")
_NO_CONTENTS = "* GenerateContentRequest.contents: contents is not specified\n"
_NO_CONTENT = "* EmbedContentRequest.content: content is not specified\n"
_TOO_DEEP = "* The request is nested too deeply.\n"
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
    requests: list[Any] = field(default_factory=list)
    """The inline requests (parsed), for their check."""


class LazyParams(Sequence[bytes]):
    """Inline requests' params, encoded (one ``orjson.dumps`` for all, see
    :meth:`PackedParams.encode`) on first use: at the latest by the requests' check, which runs
    once the create has been answered. An item too deeply nested to encode is kept as ``{}``
    (:attr:`unencodable` names it; its request ends with an error)."""

    __slots__ = ("_count", "_items", "_lock", "_packed", "unencodable")

    def __init__(self, items: list[Any]) -> None:
        self._items: list[Any] | None = items
        self._count = len(items)
        self._packed: PackedParams | None = None
        self._lock = threading.Lock()
        self.unencodable: list[int] = []

    def pack(self) -> PackedParams:
        packed = self._packed
        if packed is None:
            with self._lock:
                packed = self._packed
                if packed is None:
                    items = self._items or []
                    try:
                        packed = PackedParams.encode(items)
                    except orjson.JSONEncodeError:
                        parts = []
                        for i, item in enumerate(items):
                            try:
                                parts.append(orjson.dumps(item))
                            except orjson.JSONEncodeError:
                                parts.append(b"{}")
                                self.unencodable.append(i)
                        packed = PackedParams.join(parts)
                    self._packed, self._items = packed, None
        return packed

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self.pack()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.pack())

    def joined(self) -> bytes:
        return self.pack().joined()

    def sizes(self) -> array[int]:
        return self.pack().sizes()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_same, (self.pack(),))


def _same(value: Any) -> Any:
    return value


class Checked:
    """The requests' problems (a :class:`~batchsim._engine.batch.ParamsCheck`): found when the
    engine asks, at the create or after its answer."""

    def __init__(
        self,
        requests: list[Any] | None = None,
        kind: str = GENERATE,
        invalid: dict[int, str] | None = None,
        params: Sequence[bytes] | None = None,
    ) -> None:
        self._requests = requests
        self._kind = kind
        self._invalid = invalid
        self._params = params

    def check_params(self) -> dict[int, str]:
        if self._invalid is None:
            self._invalid = _problems(self._requests or [], self._kind)
            self._requests = None
            if isinstance(self._params, LazyParams):
                self._params.pack()
                for i in self._params.unencodable:
                    self._invalid[i] = _TOO_DEEP
            self._params = None
        return self._invalid

    def release(self) -> None:
        self._requests = None


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
    keys, params, found = parse_inline(items)
    return Parsed(display, keys=keys, params=params, requests=found)


def parse_inline(items: list[Any]) -> tuple[Sequence[str], Sequence[bytes], list[dict[str, Any]]]:
    """Keys, params and requests of inline requests (C-level passes when every item has the
    common shape, a loop naming the first bad item otherwise)."""
    found = _wholesale(items)
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
    return PackedIds.of(keys), LazyParams(items), [item["request"] for item in items]


def _wholesale(items: list[Any]) -> tuple[Sequence[str], Sequence[bytes], list[dict[str, Any]]] | None:
    """Every item has the common shape: ``request`` and ``metadata`` with a string ``key`` (a
    getter raises on any other shape, so no pass checks types)."""
    try:
        if set(map(len, items)) != {2}:
            return None
        requests = list(map(_get_request, items))
        keys = list(map(_get_key, map(_get_metadata, items)))
        flat = "".join(keys)
    except (KeyError, TypeError, IndexError):
        return None
    params = LazyParams(items)
    if flat.isascii():  # one character a byte: the cuts are the keys' lengths
        packed = PackedIds(flat.encode(), array("q", accumulate(map(len, keys), initial=0)))
    else:
        packed = PackedIds.of(keys)
    return packed, params, requests


def _problems(requests: list[dict[str, Any]], kind: str) -> dict[int, str]:
    """The requests the model cannot run, by index."""
    if kind == EMBED:
        contents = (r.get("content") if isinstance(r, dict) else None for r in requests)
        return {i: _NO_CONTENT for i, c in enumerate(contents) if not isinstance(c, dict)}
    try:
        values = list(map(_get_contents, requests))
    except (KeyError, TypeError, IndexError):
        values = [r.get("contents") if isinstance(r, dict) else None for r in requests]
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
