"""Gemini batch mode in wire form: a batch as a long-running operation, its results (inline
responses, or the lines of its responses file) and the ``File`` objects.

Pure functions of an engine :class:`~batchsim._engine.batch.Batch` (whose ``attrs`` hold the
create's ``model``, ``displayName``, ``kind`` (``generate`` or ``embed``), ``inputFile`` and, for a
batch that failed, ``failure``) and the cancel time the store keeps. Timestamps are RFC 3339.

States follow the engine's phases: ``BATCH_STATE_PENDING`` while the batch validates (the
``[gemini]`` section's ``pending`` seconds), ``BATCH_STATE_RUNNING`` until it ends (a cancel lets
the requests in flight finish), then ``BATCH_STATE_SUCCEEDED``, ``BATCH_STATE_EXPIRED`` (still
running 48 hours after its create: no results), ``BATCH_STATE_CANCELLED`` or
``BATCH_STATE_FAILED``. A batch some of whose requests errored still succeeds. Results come in
the order of the input requests, each a ``GenerateContentResponse`` (or, for embeddings, an
``EmbedContentResponse``) or an ``error`` (a ``google.rpc.Status``: ``code`` and ``message``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from .._engine.batch import CANCELED, DAY, ERRORED, SUCCEEDED, Batch, Canned, Ending, Phase
from .._engine.canned import read_canned as read_lines
from .._engine.ids import IdFormat
from .._engine.scenario import Scenario
from .._engine.times import rfc3339
from .answers import embedding, generate_content
from .errors import GRPC_CODES
from .requests import EMBED
from .traits import NAME, GeminiSettings, canned_key

__all__ = [
    "BATCH_IDS",
    "FILE_EXPIRY",
    "FILE_IDS",
    "LOWER",
    "STATES",
    "error_words",
    "file_json",
    "has_output",
    "inline_responses",
    "operation",
    "read_canned",
    "response_chunks",
    "responses_file_id",
    "result_of",
    "state_name",
]

LOWER = "0123456789abcdefghijklmnopqrstuvwxyz"
BATCH_IDS = IdFormat("", 36, LOWER)
FILE_IDS = IdFormat("", 12, LOWER)
FILE_EXPIRY = 2 * DAY
"""Files (uploaded or generated) are kept 48 hours."""
STATES = (
    "BATCH_STATE_PENDING",
    "BATCH_STATE_RUNNING",
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
)
_ENDED = {
    Ending.COMPLETED: "BATCH_STATE_SUCCEEDED",
    Ending.EXPIRED: "BATCH_STATE_EXPIRED",
    Ending.CANCELED: "BATCH_STATE_CANCELLED",
    Ending.FAILED: "BATCH_STATE_FAILED",
}
_TYPES = "type.googleapis.com/google.ai.generativelanguage.v1main."
_CHUNK_LINES = 256
# The neutral error types (a scenario's vocabulary) as a request's error: status name, HTTP code
# and Google's usual wording.
_ERRORS: dict[str, tuple[str, int, str]] = {
    "invalid_request_error": ("INVALID_ARGUMENT", 400, "Request contains an invalid argument."),
    "authentication_error": ("UNAUTHENTICATED", 401, "Request had invalid authentication credentials."),
    "billing_error": ("FAILED_PRECONDITION", 400, "Billing is not enabled for this project."),
    "permission_error": ("PERMISSION_DENIED", 403, "The caller does not have permission"),
    "not_found_error": ("NOT_FOUND", 404, "Requested entity was not found."),
    "request_too_large": (
        "INVALID_ARGUMENT",
        400,
        "The input token count exceeds the maximum number of tokens allowed.",
    ),
    "rate_limit_error": ("RESOURCE_EXHAUSTED", 429, "Resource has been exhausted (e.g. check quota)."),
    "api_error": (
        "INTERNAL",
        500,
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    "timeout_error": ("DEADLINE_EXCEEDED", 504, "Deadline expired before operation could complete."),
    "overloaded_error": ("UNAVAILABLE", 503, "The model is overloaded. Please try again later."),
}
_CANCELED_ERROR = ("CANCELLED", 499, "The request was not run: the batch was cancelled.")
_EXPIRED_ERROR = ("DEADLINE_EXCEEDED", 504, "The request did not finish before the batch ended.")


def settings_of(batch: Batch) -> GeminiSettings:
    """The ``[gemini]`` section of the scenario the batch was created under."""
    settings: GeminiSettings = batch.scenario.section(NAME)
    return settings


def state_name(batch: Batch, now: int, cancel_at: int | None) -> str:
    """The batch's ``BATCH_STATE_*`` at ``now``."""
    phase = batch.phase(now, cancel_at)
    if phase == Phase.ENDED:
        return _ENDED[batch.ending(cancel_at)]
    return "BATCH_STATE_PENDING" if phase == Phase.VALIDATING else "BATCH_STATE_RUNNING"


def has_output(batch: Batch, cancel_at: int | None) -> bool:
    """Whether the ended batch has results (a succeeded one, or a cancelled one when the scenario
    keeps what finished)."""
    if batch.failed or batch.size == 0:
        return False
    ending = batch.ending(cancel_at)
    if ending == Ending.COMPLETED:
        return True
    return ending == Ending.CANCELED and settings_of(batch).cancelled_results


def responses_file_id(batch_id: str) -> str:
    """The id of a file-input batch's responses file (derived from the batch's id)."""
    return FILE_IDS.derive(f"{batch_id}/responses")


def _status(code: str, http: int, message: str, settings: GeminiSettings) -> dict[str, Any]:
    return {"code": GRPC_CODES[code] if settings.error_codes == "grpc" else http, "message": message}


def _result(batch: Batch, i: int, outcome: int, settings: GeminiSettings) -> dict[str, Any]:
    """Request ``i``'s result: ``{"response": ...}`` or ``{"error": ...}``."""
    key = batch.custom_ids[i]
    if outcome != SUCCEEDED and outcome != ERRORED:
        code, http, text = _CANCELED_ERROR if outcome == CANCELED else _EXPIRED_ERROR
        return {"error": _status(code, http, text, settings)}
    canned = batch.canned.get(key)
    if canned is not None:
        line = orjson.loads(canned.payload)
        return {"error": line["error"]} if "error" in line else {"response": line["response"]}
    if outcome == ERRORED:
        kind, given = batch.errors[i]
        code, http, default = _ERRORS.get(kind, _ERRORS["api_error"])
        return {"error": _status(code, http, given or default, settings)}
    raw = batch.params[i]
    item = orjson.loads(raw)
    request = item.get("request") or {}
    model = str(batch.attrs.get("model", ""))
    if batch.attrs.get("kind") == EMBED:
        return {"response": embedding(model, request)}
    hint = batch.hints.get(i) if batch.hints else None
    return {"response": generate_content(model, key, request, len(raw), f"{batch.seed}/{i}", hint)}


def error_words(kind: str, text: str | None) -> tuple[str, str]:
    """A neutral error type (and its message, if any) as Google's status name and wording."""
    code, _, default = _ERRORS.get(kind, _ERRORS["api_error"])
    return code, text or default


def result_of(batch: Batch, i: int, outcome: int) -> dict[str, Any]:
    """Request ``i``'s result (``{"response": ...}`` or ``{"error": ...}``) for an outcome code."""
    return _result(batch, i, outcome, settings_of(batch))


def inline_responses(batch: Batch, cancel_at: int | None) -> list[dict[str, Any]]:
    """The ``inlinedResponses`` of an ended inline batch, in the order of its requests, each with
    its request's ``metadata``."""
    settings = settings_of(batch)
    outcomes = batch.final(cancel_at).outcomes
    found = []
    for i in range(batch.size):
        result = _result(batch, i, outcomes[i], settings)
        metadata = orjson.loads(batch.params[i]).get("metadata")
        if metadata is not None:
            result["metadata"] = metadata
        found.append(result)
    return found


def response_chunks(batch: Batch, cancel_at: int | None) -> Iterator[bytes]:
    """The responses file of an ended file-input batch: one ``{"key", "response"}`` or ``{"key",
    "error"}`` line per request, in input order, in chunks of whole lines. A pure function of the
    batch and the cancel time (module-level, so it can run in another process)."""
    settings = settings_of(batch)
    outcomes = batch.final(cancel_at).outcomes
    keys = batch.custom_ids
    chunk: list[bytes] = []
    for i in range(batch.size):
        chunk.append(orjson.dumps({"key": keys[i], **_result(batch, i, outcomes[i], settings)}) + b"\n")
        if len(chunk) >= _CHUNK_LINES:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


def _stats(batch: Batch, now: int, cancel_at: int | None, ended: bool) -> dict[str, str]:
    """``batchStats``: int64 counts as strings, zero counts left out (proto3 JSON)."""
    n = batch.size
    if batch.failed or n == 0:
        return {}
    if ended:
        counts = batch.final(cancel_at).counts
        done, bad, pending = counts["succeeded"], n - counts["succeeded"], 0
    elif (first := batch.first_start()) is not None and now > first:
        done, bad = batch.progress(now, cancel_at)
        pending = n - done - bad
    else:  # nothing started yet (a new batch): no need to work out which requests finished
        done, bad, pending = 0, 0, n
    stats = {
        "requestCount": n,
        "successfulRequestCount": done,
        "failedRequestCount": bad,
        "pendingRequestCount": pending,
    }
    return {name: str(value) for name, value in stats.items() if value}


def _updated(batch: Batch, now: int, cancel_at: int | None, ended_at: int) -> int:
    """When the batch last changed state (its create, the start of its run, a cancel, its end)."""
    moments = [batch.created_at, batch.created_at + batch.policy.validating, ended_at]
    if cancel_at is not None:
        moments.append(cancel_at)
    return max(m for m in moments if m <= now)


def operation(batch: Batch, cancel_at: int | None, now: int) -> dict[str, Any]:
    """The batch as the API shows it at ``now``: a long-running operation."""
    attrs = batch.attrs
    ended_at = batch.ended_at(cancel_at)
    ended = now >= ended_at
    name = f"batches/{batch.id}"
    embed = attrs.get("kind") == EMBED
    kind = "EmbedContentBatch" if embed else "GenerateContentBatch"
    metadata: dict[str, Any] = {"@type": _TYPES + kind, "model": attrs.get("model")}
    if attrs.get("displayName") is not None:
        metadata["displayName"] = attrs["displayName"]
    if attrs.get("inputFile") is not None:
        metadata["inputConfig"] = {"fileName": attrs["inputFile"]}
    output: dict[str, Any] | None = None
    if ended and has_output(batch, cancel_at):
        if attrs.get("inputFile") is not None:
            output = {"responsesFile": f"files/{responses_file_id(batch.id)}"}
        else:
            output = {"inlinedResponses": {"inlinedResponses": inline_responses(batch, cancel_at)}}
        metadata["output"] = output
    metadata["createTime"] = rfc3339(batch.created_at)
    if ended:
        metadata["endTime"] = rfc3339(ended_at)
    metadata["updateTime"] = rfc3339(_updated(batch, now, cancel_at, ended_at))
    stats = _stats(batch, now, cancel_at, ended)
    if stats:
        metadata["batchStats"] = stats
    metadata["state"] = state_name(batch, now, cancel_at)
    metadata["name"] = name
    found: dict[str, Any] = {"name": name, "metadata": metadata}
    if not ended:
        return found
    found["done"] = True
    if output is not None:
        found["response"] = {"@type": f"{_TYPES}{kind}Output", **output}
    else:
        found["error"] = _operation_error(batch, cancel_at)
    return found


def _operation_error(batch: Batch, cancel_at: int | None) -> dict[str, Any]:
    ending = batch.ending(cancel_at)
    if ending == Ending.FAILED:
        text = str(batch.attrs.get("failure") or "The batch failed.")
        return {"code": GRPC_CODES["INVALID_ARGUMENT"], "message": text}
    if ending == Ending.CANCELED:
        return {"code": GRPC_CODES["CANCELLED"], "message": "The batch was cancelled."}
    return {
        "code": GRPC_CODES["DEADLINE_EXCEEDED"],
        "message": "The batch was pending or running for more than 48 hours: it expired, without results.",
    }


def _sha256(digest: bytes) -> str:
    """Google's ``sha256Hash``: the hex digest, base64-encoded."""
    return base64.b64encode(digest.hex().encode()).decode()


def file_json(
    file_id: str,
    *,
    size: int,
    created_at: int,
    mime_type: str | None,
    display_name: str | None,
    base_url: str,
    version: str,
    digest: bytes | None = None,
    generated: bool = False,
) -> dict[str, Any]:
    """A ``File`` resource."""
    found: dict[str, Any] = {"name": f"files/{file_id}"}
    if display_name:
        found["displayName"] = display_name
    found.update(
        {
            "mimeType": mime_type or "application/octet-stream",
            "sizeBytes": str(size),
            "createTime": rfc3339(created_at),
            "updateTime": rfc3339(created_at),
            "expirationTime": rfc3339(created_at + FILE_EXPIRY),
            "sha256Hash": _sha256(digest if digest is not None else hashlib.sha256(b"").digest()),
            "uri": f"{base_url}{version}/files/{file_id}",
        }
    )
    if generated:
        found["downloadUri"] = f"{base_url}download/{version}/files/{file_id}:download?alt=media"
        del found["sha256Hash"]
    found["state"] = "ACTIVE"
    found["source"] = "GENERATED" if generated else "UPLOADED"
    return found


def read_canned(scenario: Scenario) -> dict[str, Canned]:
    """The canned lines of Gemini's format a scenario names (its file read, or its lines)."""
    source = scenario.canned
    if not source:
        return {}
    lines = source if isinstance(source, tuple) else read_lines(source)
    canned: dict[str, Canned] = {}
    for line in lines:
        found = canned_key(line)
        if found is not None:
            canned[found[0]] = Canned(found[1], orjson.dumps(line))
    return canned
