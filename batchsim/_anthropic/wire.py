"""The Message Batches wire format of a batch: its ``MessageBatch`` JSON and its results lines.

Pure functions of an engine :class:`~batchsim._engine.batch.Batch` and the state the store keeps
(cancel time). Encoded answers are kept in the batch's ``memo`` (a batch never changes; its JSON
changes only with "now" crossing its end or archive time, and with its cancel time).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .._engine.batch import CANCELED, DAY, ERRORED, EXPIRED, SUCCEEDED, Batch, Final
from .._engine.times import rfc3339
from .caching import CacheUsage, mentions_cache_control, plan_cache
from .responder import Extras, Responder, complete_message, default_error_message, default_message_json, derived_id
from .tokens import file_references, mentions_files, prompt_size
from .validation import NOT_FOUND, problem_error

__all__ = ["ARCHIVE_AFTER", "batch_dict", "batch_json", "result_chunks", "status_name"]

ARCHIVE_AFTER = 29 * DAY
"""Results are kept for 29 days after a batch's creation."""

_NEVER = 1 << 62
_CHUNK_LINES = 256
_TRIM_SIZE = 1000
_FIRST_CHUNK_LINES = 16
_JSON_CACHE = 16


def batch_json(batch: Batch, cancel_at: int | None, now: int, base_url: str) -> bytes:
    """:func:`batch_dict` encoded, kept for each of the few answers a batch can give (before and
    after its end and its archiving, per cancel time and base URL).

    The last answer is also kept with the time window it holds for: a list page of ended
    batches costs a few comparisons per batch."""
    memo = batch.memo
    last = memo.get("json-last")
    if last is not None and last[0] <= now < last[1] and last[2] is base_url and last[3] is cancel_at:
        data: bytes = last[4]
        return data
    ended_at, archived_at = batch.ended_at(cancel_at), batch.created_at + ARCHIVE_AFTER
    if now < ended_at:
        window = (-_NEVER, ended_at)
    elif now < archived_at:
        window = (ended_at, archived_at)
    else:
        window = (archived_at, _NEVER)
    cache: dict[tuple[Any, ...], bytes] = memo.setdefault("json", {})
    key = (window[0], cancel_at, base_url)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _JSON_CACHE:
            cache.clear()
        found = cache[key] = orjson.dumps(batch_dict(batch, cancel_at, now, base_url))
    memo["json-last"] = (*window, base_url, cancel_at, found)
    return found


def status_name(batch: Batch, now: int, cancel_at: int | None) -> str:
    """``in_progress``, ``canceling`` or ``ended`` (the batch's validating, running and
    finalizing phases all show as ``in_progress``)."""
    return batch.status(now, cancel_at)


def batch_dict(batch: Batch, cancel_at: int | None, now: int, base_url: str) -> dict[str, Any]:
    """The ``MessageBatch`` object as the API shows it at ``now``."""
    ended_at = batch.ended_at(cancel_at)
    ended = now >= ended_at
    if ended:
        done = batch.counts(cancel_at)
        counts = {
            "processing": 0,
            "succeeded": done["succeeded"],
            "errored": done["errored"],
            "canceled": done["canceled"],
            "expired": done["expired"],
        }
    else:
        counts = {"processing": batch.size, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    archived = now >= batch.created_at + ARCHIVE_AFTER
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else ("canceling" if cancel_at is not None else "in_progress"),
        "request_counts": counts,
        "ended_at": rfc3339(ended_at) if ended else None,
        "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.created_at + batch.policy.window),
        "archived_at": rfc3339(batch.created_at + ARCHIVE_AFTER) if archived else None,
        "cancel_initiated_at": rfc3339(cancel_at) if cancel_at is not None else None,
        "results_url": f"{base_url}v1/messages/batches/{batch.id}/results" if ended else None,
    }


def result_chunks(batch: Batch, cancel_at: int | None, responder: Responder | None = None) -> Iterator[bytes]:
    """The results JSONL of an ended batch in chunks of ``\\n``-terminated lines, in the order the
    requests finished. Without a responder callable, a pure function of the batch and the cancel
    time (module-level, so it can run in another process)."""
    final = batch.final(cancel_at)
    chunk: list[bytes] = []
    lines = _FIRST_CHUNK_LINES  # a small first chunk: the first byte leaves sooner
    custom_ids, outcomes = batch.custom_ids, final.outcomes
    raw_id = getattr(custom_ids, "raw", None)
    cache = cache_plan(batch, cancel_at, final)
    for i in batch.results_order(final):
        # custom ids match [a-zA-Z0-9_-]{1,64} (checked at create): nothing to escape
        result = result_json(batch, i, outcomes[i], responder, cache.get(i))
        cid = raw_id(i) if raw_id is not None else custom_ids[i].encode()
        chunk.append(b'{"custom_id":"%b","result":%b}\n' % (cid, result))
        if len(chunk) >= lines:
            yield b"".join(chunk)
            chunk = []
            lines = _CHUNK_LINES
    if chunk:
        yield b"".join(chunk)
    if batch.size >= _TRIM_SIZE:
        batch.trim()  # written (or streamed) once: what is kept for it can go


def cache_plan(batch: Batch, cancel_at: int | None, final: Final) -> dict[int, CacheUsage]:
    """The prompt-cache usage of the succeeded requests that have breakpoints, in the order the
    batch processed them (see ``caching``); kept in the batch's ``memo`` per cancel time."""
    key = ("cache-plan", cancel_at)
    plan: dict[int, CacheUsage] | None = batch.memo.get(key)
    if plan is None:
        plan = {}
        if mentions_cache_control(batch.params):
            outcomes, canned = final.outcomes, batch.canned
            ran = (
                (i, orjson.loads(batch.params[i]))
                for i in batch.results_order(final)
                if outcomes[i] == SUCCEEDED and batch.custom_ids[i] not in canned
            )
            plan = plan_cache(ran, batch.scenario.cache_hit_rate, batch.seed)
        batch.memo[key] = plan
    return plan


def result_json(batch: Batch, i: int, outcome: int, responder: Responder | None, cache: CacheUsage | None) -> bytes:
    if outcome == EXPIRED:
        return b'{"type":"expired"}'
    if outcome == CANCELED:
        return b'{"type":"canceled"}'
    cid = batch.custom_ids[i]
    canned = batch.canned.get(cid)
    if canned is not None:
        return canned.payload
    key, draw = f"{batch.id}/{i}", f"{batch.seed}/{i}"  # ids follow the batch, content its seed
    if outcome == ERRORED:
        kind, text = batch.errors[i]
        if text is not None and text.startswith(NOT_FOUND):
            kind, text = problem_error(text)
        error = {
            "type": "error",
            "error": {"type": kind, "message": text if text is not None else default_error_message(kind)},
            "request_id": derived_id("req_", key),
        }
        return orjson.dumps({"type": "errored", "error": error})
    raw = batch.params[i]
    params = orjson.loads(raw)
    size = prompt_size(params, len(raw)) + (referenced_bytes(batch, params) if mentions_files(raw) else 0)
    stop_reason = batch.hints.get(i) if batch.hints else None
    extras = Extras(cache, stop_reason) if cache is not None or stop_reason is not None else None
    if responder is None:
        encoded = default_message_json(cid, params, size, key, extras, draw)
    else:
        encoded = orjson.dumps(complete_message(responder(cid, params), cid, params, size, key, extras, draw))
    return b'{"type":"succeeded","message":' + encoded + b"}"


def referenced_bytes(batch: Batch, params: dict[str, Any]) -> int:
    """The bytes of the uploaded files a request references (as the batch found them at its
    create: ``attrs["files"]`` maps each file id to its size, or to nothing if unknown)."""
    files = batch.attrs.get("files")
    if not files:
        return 0
    total = 0
    for _, file_id in file_references(params):
        found = files.get(file_id)
        if found:
            total += int(found[0])
    return total
