"""A batch's input file, line by line: ``{"custom_id", "method": "POST", "url", "body"}``.

What the API checks while a batch is ``validating`` (every problem found makes the batch
``failed``, each in ``errors.data`` with its 1-based line): JSON that does not parse
(``invalid_json_line``), a missing ``custom_id``, ``method``, ``url`` or ``body``
(``missing_required_parameter``), a method other than ``POST``, a ``url`` other than the batch's
endpoint (``invalid_url``), a ``custom_id`` seen before (``duplicate_custom_id``), a body that
streams (``streaming_unsupported``), a body without ``model`` (and without ``messages`` for chat,
``input`` for embeddings and moderations, ``prompt`` for images: ``invalid_request``), a model
the scenario does not list (``model_not_found``), a second model (``model_mismatch``), no line at
all (``empty_file``) or more than 50,000 (``too_many_tasks``). Codes and messages observed from the
live API are used verbatim (see the README's OpenAI section for which are not).

The requests' params are the input file's own lines (no copy): each request's line is parsed
again only when its answer is generated.

A file whose every line is a plainly valid request (the common case) is checked by a tight loop
that parses each line once and keeps nothing but its ``custom_id`` (:func:`_plain`); anything
else (a blank line, any problem) is read again by the full check, which reports each problem
with its line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._engine.params import PackedIds, PackedParams
from .answers import display_name

__all__ = ["MAX_LINES", "MAX_REPORTED", "InputLines", "first_model", "parse_input"]

MAX_LINES = 50_000
MAX_REPORTED = 1000
"""At most this many problems are listed in a failed batch's ``errors``."""
_REQUIRED = ("custom_id", "method", "url", "body")
_BODY_REQUIRED = {
    "/v1/chat/completions": ("messages", "Messages parameter is required."),
    "/v1/embeddings": ("input", "Input parameter is required."),
    "/v1/moderations": ("input", "Input parameter is required."),
    "/v1/images/generations": ("prompt", "Prompt parameter is required."),
    "/v1/images/edits": ("prompt", "Prompt parameter is required."),
}
_NO_MODEL_NEEDED = frozenset({"/v1/moderations"})


@dataclass
class InputLines:
    """The requests of a valid input file, or the problems of an invalid one."""

    custom_ids: Sequence[str] = ()
    params: Sequence[bytes] = ()
    errors: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None

    def error(self, code: str, message: str, line: int | None = None, param: str | None = None) -> None:
        if len(self.errors) < MAX_REPORTED:
            self.errors.append({"code": code, "message": message, "param": param, "line": line})


def _plain(data: bytes, endpoint: str, models: tuple[str, ...] | None) -> InputLines | None:
    """The requests of a file whose lines are all plainly valid requests of one model with no
    blank line between them, or ``None`` (the full check then decides). Lines come one at a time
    from a file over the bytes (no copy of them is made), each parsed and dropped at once, so
    checking a file holds little more than the file."""
    needed = _BODY_REQUIRED.get(endpoint, (None, ""))[0]
    loads = orjson.loads
    ids: list[str] = []
    add = ids.append
    seen_models: set[Any] = set()
    add_model = seen_models.add
    try:
        for line in io.BytesIO(data):  # a blank line does not parse: the full check takes it
            item = loads(line)
            body = item["body"]
            if (
                item["method"] != "POST"
                or item["url"] != endpoint
                or type(body) is not dict
                or ("stream" in body and body["stream"] is True)
                or (needed is not None and needed not in body)
            ):
                return None
            add_model(body.get("model"))
            add(item["custom_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if len(ids) > MAX_LINES:
        return None
    if not ids or len(set(ids)) != len(ids) or set(map(type, ids)) != {str}:
        return None
    if endpoint in _NO_MODEL_NEEDED:
        seen_models.discard(None)
    if len(seen_models) > 1 or (seen_models and type(next(iter(seen_models))) is not str):
        return None
    model = next(iter(seen_models), None)
    if model is None and endpoint not in _NO_MODEL_NEEDED:
        return None
    if models is not None and model is not None and model not in models:
        return None
    # Item i is the line between the (i-1)th newline and the ith (the cuts are found on first use).
    return InputLines(PackedIds.of(ids), PackedParams(data, None, 1, 0, count=len(ids)), [], model)


def first_model(data: bytes) -> str | None:
    """The model the file's first request names (what a create shows before the file is
    checked), if its first line that is not blank says so."""
    for line in io.BytesIO(data):
        if line.strip():
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
            body = item.get("body") if isinstance(item, dict) else None
            model = body.get("model") if isinstance(body, dict) else None
            return model if isinstance(model, str) else None
    return None


def parse_input(data: bytes, endpoint: str, models: tuple[str, ...] | None = None) -> InputLines:
    """Check an input file against the batch's ``endpoint`` (see the module docstring)."""
    plain = _plain(data, endpoint, models)
    if plain is not None:
        return plain
    found = InputLines()
    bounds: list[tuple[int, int]] = []
    ids: list[str] = []
    seen: set[str] = set()
    loads = orjson.loads
    position, number, size = 0, 0, len(data)
    streaming = f"{display_name(endpoint)}: Streaming is not supported in the Batch API."
    needed = _BODY_REQUIRED.get(endpoint)
    while position < size:
        end = data.find(b"\n", position)
        if end < 0:
            end = size
        number += 1
        line = data[position:end]
        start, position = position, end + 1
        if not line.strip():
            continue  # a blank line holds no request
        try:
            item = loads(line)
        except orjson.JSONDecodeError:
            found.error("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        if not isinstance(item, dict):
            found.error("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        missing = next((key for key in _REQUIRED if key not in item), None)
        if missing is not None:
            found.error("missing_required_parameter", f"Missing required parameter: '{missing}'.", number, missing)
            continue
        cid, method, url, body = item["custom_id"], item["method"], item["url"], item["body"]
        if not isinstance(cid, str):
            found.error("invalid_type", "Invalid type for 'custom_id': expected a string.", number, "custom_id")
            continue
        if method != "POST":
            found.error("invalid_value", f"Invalid value: {method!r}. Supported values are: 'POST'.", number, "method")
            continue
        if url != endpoint:
            found.error(
                "invalid_url", "The URL provided for this request does not match the batch endpoint.", number, "url"
            )
            continue
        if cid in seen:
            found.error(
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. The custom_id parameter must be "
                "unique for each request in a batch.",
                number,
                "custom_id",
            )
            continue
        seen.add(cid)
        if not isinstance(body, dict):
            found.error("invalid_type", "Invalid type for 'body': expected an object.", number, "body")
            continue
        if body.get("stream") is True:
            found.error("streaming_unsupported", streaming, number, "body.stream")
            continue
        model = body.get("model")
        if model is None and endpoint not in _NO_MODEL_NEEDED:
            found.error("invalid_request", "Model parameter is required.", number, "body.model")
            continue
        if needed is not None and needed[0] not in body:
            found.error("invalid_request", needed[1], number, f"body.{needed[0]}")
            continue
        if model is not None:
            if not isinstance(model, str):
                found.error("invalid_type", "Invalid type for 'body.model': expected a string.", number, "body.model")
                continue
            if models is not None and model not in models:
                message = f"The provided model '{model}' is not supported by the Batch API."
                found.error("model_not_found", message, number, "body.model")
                continue
            if found.model is None:
                found.model = model
            elif model != found.model:
                message = (
                    f"All requests in a batch must use the same model: this line uses '{model}', an earlier one "
                    f"'{found.model}'."
                )
                found.error("model_mismatch", message, number, "body.model")
                continue
        ids.append(cid)
        bounds.append((start, end))
    if not ids and not found.errors:
        found.error("empty_file", "The input file is empty: it holds no request.")
    if len(ids) > MAX_LINES:
        found.error("too_many_tasks", f"The input file holds {len(ids)} requests; a batch takes at most {MAX_LINES}.")
    if found.errors:
        return found
    found.custom_ids = PackedIds.of(ids)
    found.params = PackedParams.join(data[start:end] for start, end in bounds)
    return found
