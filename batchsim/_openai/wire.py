"""The OpenAI Batch API's wire format of a batch: its ``Batch`` object, its output and error files'
lines, and the file objects of those files.

Pure functions of an engine :class:`~batchsim._engine.batch.Batch` (whose ``attrs`` hold the
create's ``endpoint``, ``input_file_id``, ``metadata``, ``output_expires_after``, the failed
batch's ``errors`` and the ids of its output and error files) and the cancel time the store
keeps. Timestamps are Unix seconds.

Statuses follow the engine's phases: ``validating``, ``in_progress``, ``finalizing``,
``cancelling``, then ``completed``, ``expired``, ``cancelled`` or ``failed`` by how the batch
ended. ``request_counts`` stay 0 while validating, then count the requests finished so far
(``completed`` succeeded, ``failed`` errored; expired and canceled requests count in ``failed``
only with the scenario's ``count_expired_as_failed``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .._engine.batch import CANCELED, DAY, ERRORED, EXPIRED, SUCCEEDED, Batch, Canned, Ending, Final, Phase
from .._engine.canned import read_canned as read_lines
from .._engine.ids import HEX, IdFormat
from .._engine.scenario import Scenario
from .._engine.times import unix_seconds
from .answers import answer, usage_of
from .traits import canned_key

__all__ = [
    "FILE_EXPIRY",
    "FILE_IDS",
    "batch_dict",
    "file_json",
    "made_files",
    "output_chunks",
    "output_expires_at",
    "output_file",
    "output_id",
    "read_canned",
    "request_line",
    "status_name",
]

FILE_IDS = IdFormat("file-", 24)
REQUEST_LINE_IDS = IdFormat("batch_req_", 24)
REQUEST_IDS = IdFormat("req_", 32, HEX)
FILE_EXPIRY = 30 * DAY
"""Batch files (inputs and outputs) expire 30 days after they are made, unless told otherwise."""
_ENDED = {
    Ending.COMPLETED: "completed",
    Ending.EXPIRED: "expired",
    Ending.CANCELED: "cancelled",
    Ending.FAILED: "failed",
}
_PHASES = {
    Phase.VALIDATING: "validating",
    Phase.RUNNING: "in_progress",
    Phase.FINALIZING: "finalizing",
    Phase.CANCELING: "cancelling",
}
_CHUNK_LINES = 256
# The neutral error types (a scenario's vocabulary) as a request's HTTP error in an error file.
_HTTP_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "invalid_request_error": (400, "invalid_request_error", None, "Invalid request."),
    "authentication_error": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "billing_error": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "permission_error": (403, "invalid_request_error", None, "You are not allowed to access this resource."),
    "not_found_error": (404, "invalid_request_error", "model_not_found", "The model does not exist."),
    "request_too_large": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length was exceeded. Please reduce the length of the messages.",
    ),
    "rate_limit_error": (429, "tokens", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    "api_error": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    "timeout_error": (504, "server_error", None, "The request timed out."),
    "overloaded_error": (503, "server_error", None, "The engine is currently overloaded, please try again later."),
}
_EXPIRED_LINE = {
    "code": "batch_expired",
    "message": "This request could not be executed before the completion window expired.",
}
_CANCELED_LINE = {
    "code": "batch_cancelled",
    "message": "This request was not executed because the batch was cancelled.",
}


def output_id(batch_id: str, errors: bool) -> str:
    """The id of a batch's output (or error) file (derived from the batch's id)."""
    return FILE_IDS.derive(f"{batch_id}/{'errors' if errors else 'output'}")


def made_files(batch: Batch, cancel_at: int | None, now: int) -> tuple[str | None, str | None]:
    """The ids of the output and error files a batch has at ``now``: none before it ended, none
    for a batch that failed or was cancelled while validating, the output file when a request
    succeeded, the error file when one did not."""
    if batch.phase(now, cancel_at) != Phase.ENDED or batch.failed or batch.size == 0:
        return None, None
    if cancel_at is not None and cancel_at <= batch.created_at + batch.policy.validating:
        return None, None
    succeeded = batch.counts(cancel_at)["succeeded"]
    return (
        output_id(batch.id, False) if succeeded else None,
        output_id(batch.id, True) if succeeded < batch.size else None,
    )


def status_name(batch: Batch, now: int, cancel_at: int | None) -> str:
    """The batch's status at ``now``."""
    phase = batch.phase(now, cancel_at)
    if phase == Phase.ENDED:
        return _ENDED[batch.ending(cancel_at)]
    return _PHASES[phase]


def _at(moment: int | None, now: int) -> int | None:
    return unix_seconds(moment) if moment is not None and moment <= now else None


_NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 0,
}


def _validating(batch: Batch, now: int) -> dict[str, Any]:
    """The ``Batch`` object of a batch still validating: nothing of its requests (nor whether it
    will fail) shows yet, so it is written without them (the batch's verdict may not be taken)."""
    attrs = batch.attrs
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": attrs["endpoint"],
        "model": attrs.get("model"),
        "errors": None,
        "input_file_id": attrs["input_file_id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": unix_seconds(batch.created_at),
        "in_progress_at": None,
        "expires_at": unix_seconds(batch.created_at + batch.policy.window),
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "usage": _NO_USAGE,
        "metadata": attrs.get("metadata"),
    }


def batch_dict(batch: Batch, cancel_at: int | None, now: int, count_expired: bool = False) -> dict[str, Any]:
    """The ``Batch`` object as the API shows it at ``now``."""
    created = batch.created_at
    phase = batch.phase(now, cancel_at)
    if phase == Phase.VALIDATING and cancel_at is None:
        return _validating(batch, now)
    ended_at = batch.ended_at(cancel_at)
    attrs = batch.attrs  # once the batch's verdict is taken (it adds its model and errors)
    ended = phase == Phase.ENDED
    ending = batch.ending(cancel_at)
    validated = created + batch.policy.validating
    in_progress = validated if not batch.failed and (cancel_at is None or cancel_at > validated) else None
    counts = {"total": 0, "completed": 0, "failed": 0}
    if phase != Phase.VALIDATING and not batch.failed and in_progress is not None:
        succeeded, errored = batch.progress(now, cancel_at)
        counts = {"total": batch.size, "completed": succeeded, "failed": errored}
        if ended and count_expired:
            done = batch.counts(cancel_at)
            counts["failed"] += done["expired"] + done["canceled"]
    output, error = made_files(batch, cancel_at, now)
    usage = _NO_USAGE
    if ended and not batch.failed and in_progress is not None:
        usage = _usage(batch, cancel_at, batch.final(cancel_at))
    errors = attrs.get("errors")
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": attrs["endpoint"],
        "model": attrs.get("model"),
        "errors": {"object": "list", "data": errors} if errors and ended else None,
        "input_file_id": attrs["input_file_id"],
        "completion_window": "24h",
        "status": status_name(batch, now, cancel_at),
        "output_file_id": output,
        "error_file_id": error,
        "created_at": unix_seconds(created),
        "in_progress_at": _at(in_progress, now),
        "expires_at": unix_seconds(created + batch.policy.window),
        "finalizing_at": _at(batch.finalizing_at(cancel_at), now),
        "completed_at": _at(ended_at, now) if ending == Ending.COMPLETED else None,
        "failed_at": _at(ended_at, now) if ending == Ending.FAILED else None,
        "expired_at": _at(ended_at, now) if ending == Ending.EXPIRED else None,
        "cancelling_at": _at(cancel_at, now),
        "cancelled_at": _at(ended_at, now) if ending == Ending.CANCELED else None,
        "request_counts": counts,
        "usage": usage,
        "metadata": attrs.get("metadata"),
    }


def _usage(batch: Batch, cancel_at: int | None, final: Final) -> dict[str, Any]:
    """The tokens of the batch's succeeded requests (computed once per final state)."""
    key = ("usage", cancel_at)
    found: dict[str, Any] | None = batch.memo.get(key)
    if found is None:
        inputs = outputs = 0
        for i in range(batch.size):
            if final.outcomes[i] == SUCCEEDED:
                body = _answer(batch, i)
                if body is not None:
                    done = usage_of(body)
                    inputs, outputs = inputs + done[0], outputs + done[1]
        found = {
            "input_tokens": inputs,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": outputs,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": inputs + outputs,
        }
        batch.memo[key] = found
    return found


def _answer(batch: Batch, i: int) -> dict[str, Any] | None:
    """The body a succeeded request answers (``None``: its canned line answers instead)."""
    cid = batch.custom_ids[i]
    if cid in batch.canned:
        canned = orjson.loads(batch.canned[cid].payload)
        response = canned.get("response") if isinstance(canned, dict) else None
        return response.get("body") if isinstance(response, dict) else None
    raw = batch.params[i]
    line = orjson.loads(raw)
    created = unix_seconds(batch.created_at + _finished(batch, i))
    hint = batch.hints.get(i) if batch.hints else None
    return answer(
        batch.attrs["endpoint"], cid, line["body"], len(raw), f"{batch.id}/{i}", f"{batch.seed}/{i}", created, hint
    )


def _finished(batch: Batch, i: int) -> int:
    """When request ``i`` finished (offset from creation), as planned."""
    return int(batch.planned_finish()[i])


def request_line(batch: Batch, i: int, outcome: int) -> bytes:
    """Request ``i``'s line in the output file (succeeded) or the error file (anything else)."""
    cid = batch.custom_ids[i]
    canned = batch.canned.get(cid)
    if canned is not None:
        return canned.payload
    key = f"{batch.id}/{i}"
    line_id = REQUEST_LINE_IDS.derive(key)
    if outcome in (EXPIRED, CANCELED):
        error = _EXPIRED_LINE if outcome == EXPIRED else _CANCELED_LINE
        return orjson.dumps({"id": line_id, "custom_id": cid, "response": None, "error": error})
    request_id = REQUEST_IDS.derive(key)[4:]
    if outcome == ERRORED:
        kind, text = batch.errors[i]
        status, error_type, code, default = _HTTP_ERRORS.get(kind, _HTTP_ERRORS["api_error"])
        body: dict[str, Any] = {"error": {"message": text or default, "type": error_type, "param": None, "code": code}}
    else:
        found = _answer(batch, i)
        status, body = 200, found if found is not None else {}
    response = {"status_code": status, "request_id": request_id, "body": body}
    return orjson.dumps({"id": line_id, "custom_id": cid, "response": response, "error": None})


def output_chunks(batch: Batch, cancel_at: int | None, errors: bool) -> Iterator[bytes]:
    """The output file's lines (``errors`` false: the succeeded requests) or the error file's (the
    rest), in chunks of whole lines, in the order the requests finished. A pure function of the
    batch and the cancel time (module-level, so it can run in another process)."""
    final = batch.final(cancel_at)
    outcomes = final.outcomes
    chunk: list[bytes] = []
    for i in batch.results_order(final):
        outcome = outcomes[i]
        if (outcome == SUCCEEDED) is errors:
            continue
        chunk.append(request_line(batch, i, outcome) + b"\n")
        if len(chunk) >= _CHUNK_LINES:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)
    if batch.size >= 1000:
        batch.trim()  # written (or streamed) once: what is kept for it can go


def output_expires_at(batch: Batch, cancel_at: int | None) -> int:
    """When the batch's output and error files expire (Unix seconds): ``output_expires_after``
    (or 30 days) after they were made, when the batch ended."""
    expiry = batch.attrs.get("output_expires_after") or FILE_EXPIRY // 1_000_000
    return unix_seconds(batch.ended_at(cancel_at)) + int(expiry)


def output_file(batch: Batch, cancel_at: int | None, errors: bool, known: int | None = None) -> dict[str, Any]:
    """The file object of the batch's output (or error) file: made when the batch ended. Its size
    is ``known`` (a results file written whole) or counted once from the lines; either way kept
    in the batch's memo."""
    ended = batch.ended_at(cancel_at)
    key = ("output-size", cancel_at, errors)
    size: int | None = batch.memo.get(key)
    if size is None:
        if known is None:
            known = sum(map(len, output_chunks(batch, cancel_at, errors)))
        size = batch.memo[key] = known
    kind = "error" if errors else "output"
    return {
        "id": output_id(batch.id, errors),
        "object": "file",
        "bytes": size,
        "created_at": unix_seconds(ended),
        "expires_at": output_expires_at(batch, cancel_at),
        "filename": f"{batch.id}_{kind}.jsonl",
        "purpose": "batch_output",
        "status": "processed",
        "status_details": None,
    }


def file_json(
    file_id: str, size: int, created_at: int, filename: str, purpose: str, expires_at: int | None
) -> dict[str, Any]:
    """An uploaded file's object."""
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": unix_seconds(created_at),
        "expires_at": unix_seconds(expires_at) if expires_at is not None else None,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
    }


def read_canned(scenario: Scenario) -> dict[str, Canned]:
    """The canned lines of OpenAI's format a scenario names (its file read, or its lines)."""
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
