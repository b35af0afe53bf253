"""Reading and checking the input: JSONL lines of ``{"custom_id", "params"}`` or dicts.

Everything here runs before anything is sent. Each request is checked the way the API checks a
create body (``custom_id`` 1-64 characters of ``[A-Za-z0-9_-]``, unique; exactly the keys
``custom_id`` and ``params``; ``params`` an object with ``model``, ``max_tokens`` >= 1 and
``messages``), and its encoded size is measured so that batches can be cut under both API
limits (100,000 requests, 256 MB of body).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BODY_OVERHEAD",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "Entry",
    "RequestSource",
    "check_request",
    "file_digest",
    "read_entries",
    "request_size",
    "spool",
]

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
BODY_OVERHEAD = len(b'{"requests":[]}')
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

RequestSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]
"""A JSONL file path, or any iterable of ``{"custom_id": ..., "params": {...}}`` mappings."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One input line: where it is in the file and what it is, or the problem with it.
    ``custom_id`` is set whenever the line has a string one, even with a problem (so that a
    duplicate is found whatever else is wrong)."""

    line: int
    offset: int
    length: int
    custom_id: str = ""
    size: int = 0
    problem: str | None = None


def request_size(request: Any) -> int:
    """Bytes the request takes in a create body, plus its separating comma.

    Measured with :func:`json.dumps` defaults (ASCII escapes, ``", "`` separators): an upper bound
    of what any SDK version sends, so a batch cut with it never exceeds the real limit.
    """
    return len(json.dumps(request).encode()) + 1


def check_request(request: Any) -> str | None:
    """Every problem with one request, joined with ``"; "``, or ``None``."""
    if not isinstance(request, Mapping):
        return "expected a JSON object with custom_id and params"
    problems = [f"missing {key!r}" for key in ("custom_id", "params") if key not in request]
    extra = sorted(k for k in request if k not in ("custom_id", "params"))
    if extra:
        problems.append(f"unexpected key(s) {', '.join(map(repr, extra))}: a request has only custom_id and params")
    cid = request.get("custom_id")
    if "custom_id" in request and (not isinstance(cid, str) or _CUSTOM_ID.fullmatch(cid) is None):
        problems.append(f"custom_id {cid!r} must be 1-64 characters of letters, digits, '_' or '-'")
    where = f"custom_id {cid!r}: " if isinstance(cid, str) else ""
    params = request.get("params")
    if "params" in request and not isinstance(params, Mapping):
        problems.append(f"{where}params must be an object")
    elif isinstance(params, Mapping):
        problems.extend(
            f"{where}params.{key} is required" for key in ("model", "max_tokens", "messages") if key not in params
        )
        max_tokens = params.get("max_tokens", 1)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            problems.append(f"{where}params.max_tokens must be an integer >= 1")
        messages = params.get("messages", [None])
        if not isinstance(messages, list) or not messages:
            problems.append(f"{where}params.messages must be a non-empty list")
    return "; ".join(problems) or None


def read_entries(path: Path) -> Iterator[Entry]:
    """Every non-blank line of a JSONL file as an :class:`Entry` (checked, not kept in memory)."""
    offset = 0
    limit = MAX_BATCH_BYTES - BODY_OVERHEAD
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            text = raw.strip()
            if not text:
                continue
            try:
                request = json.loads(text)
            except ValueError as exc:
                yield Entry(number, start, len(raw), problem=f"not valid JSON ({exc})")
                continue
            problem = check_request(request)
            if problem is not None:
                cid = request.get("custom_id") if isinstance(request, dict) else None
                yield Entry(number, start, len(raw), cid if isinstance(cid, str) else "", problem=problem)
                continue
            size = max(request_size(request), len(text) + 1)  # the line itself is what is sent
            if size > limit:
                problem = f"custom_id {request['custom_id']!r}: {size} bytes, over the 256 MB batch limit"
                yield Entry(number, start, len(raw), request["custom_id"], problem=problem)
                continue
            yield Entry(number, start, len(raw), request["custom_id"], size)


def spool(requests: Iterable[Mapping[str, Any]], path: Path) -> str:
    """Write an iterable of requests to a JSONL file and return its SHA-256.

    An item that cannot be encoded is written as a line that fails the checks, so the error
    names its position like any other bad line.
    """
    digest = hashlib.sha256()
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        for item in requests:
            try:
                line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            except (TypeError, ValueError) as exc:
                line = json.dumps({"unencodable item": str(exc)}).encode() + b"\n"
            digest.update(line)
            f.write(line)
    os.replace(tmp, path)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
