"""Anthropic's Files API in wire form (``/v1/files``: upload, list, metadata, download, delete), and
what a batch's requests that reference an uploaded file (``{"type": "file", "file_id": ...}``)
find when they are processed.

Uploads are ``multipart/form-data`` (a ``file`` part and an optional ``expires_in_seconds``
field, 3,600 to 7,776,000), at most 500 MB; the bytes go to the provider's
:class:`~batchsim._engine.ports.Files` store (memory or the shared database). The API answers
``FileMetadata`` objects; a file uploaded by a client is not downloadable (only files that skills
or the code execution tool create are). An expired file is gone, as a deleted one is.

A batch request naming a file is checked when it is processed: a file the key cannot see
(unknown, deleted before the create, another workspace's) errs at once; a file deleted or
expired before the request's finish time errs when the batch ends (see :func:`late_problems`);
otherwise the request's ``usage.input_tokens`` counts the file's bytes.
"""

from __future__ import annotations

import mimetypes
import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

import orjson

from .._engine.batch import SUCCEEDED, Batch
from .._engine.clock import MICROS, Clock
from .._engine.errors import InvalidError, NotFoundError, TooLargeError
from .._engine.ids import IdFormat
from .._engine.params import PackedParams
from .._engine.ports import FileRecord, Files
from .._engine.times import rfc3339
from .._http.forms import parse_form
from .tokens import FILE_ID, file_references, mentions_files

__all__ = [
    "FILE_IDS",
    "MAX_FILE_BYTES",
    "MAX_UPLOAD_BYTES",
    "AnthropicFiles",
    "file_problem",
    "late_problems",
    "referenced_files",
]

FILE_IDS = IdFormat("file_", 20, lead="011C")
MAX_FILE_BYTES = 500 * 1024 * 1024
"""The largest file the Files API takes (500 MB)."""
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + 1024 * 1024
"""The largest upload body (the file and the form around it)."""
MIN_EXPIRY, MAX_EXPIRY = 3600, 7_776_000
MAX_FILENAME = 255
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000
_FORBIDDEN = re.compile(r'[<>:"|?*\\/\x00-\x1f]')
_OCTETS = "application/octet-stream"


def file_problem(file_id: str) -> str:
    """The error of a request naming a file it cannot use (the Files API guide's example)."""
    return f"File not found: {file_id}"


def _not_found(file_id: str) -> NotFoundError:
    return NotFoundError("file", file_id, file_problem(file_id))


def _seconds(raw: str) -> int:
    """The ``expires_in_seconds`` form field, checked as the API types it."""
    text = raw.strip()
    if not (text.lstrip("-").isascii() and text.lstrip("-").isdigit() and len(text) <= 18):
        raise InvalidError("expires_in_seconds: Input should be a valid integer, unable to parse string as an integer")
    value = int(text)
    if value < MIN_EXPIRY:
        raise InvalidError(f"expires_in_seconds: Input should be greater than or equal to {MIN_EXPIRY}")
    if value > MAX_EXPIRY:
        raise InvalidError(f"expires_in_seconds: Input should be less than or equal to {MAX_EXPIRY}")
    return value


def _filename(raw: str, mime_type: str) -> str:
    """The name kept: the part's final path component (``unnamed`` plus the type's extension when
    there is none); refused when longer than 255 characters or holding a forbidden character."""
    name = re.split(r"[/\\]", raw)[-1]
    if not name:
        return "unnamed" + (mimetypes.guess_extension(mime_type) or "")
    if len(name) > MAX_FILENAME:
        raise InvalidError(f"filename: Filename must be at most {MAX_FILENAME} characters, got {len(name)}")
    if _FORBIDDEN.search(name):
        raise InvalidError(
            'filename: Filename must not contain <, >, :, ", |, ?, *, \\, / or control characters (0-31)'
        )
    return name


def _mime_type(declared: str | None, filename: str) -> str:
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared != _OCTETS:
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or declared or _OCTETS


def metadata(record: FileRecord) -> dict[str, Any]:
    """The ``FileMetadata`` object of a stored file."""
    return {
        "id": record.id,
        "type": "file",
        "filename": record.filename,
        "mime_type": record.mime_type or _OCTETS,
        "size_bytes": record.size,
        "created_at": rfc3339(record.created_at),
        "downloadable": bool(record.attrs.get("downloadable", False)),
        "expires_at": rfc3339(record.expires_at) if record.expires_at is not None else None,
    }


class AnthropicFiles:
    """The Files API of one emulator, over its store of Anthropic files."""

    def __init__(self, files: Files, clock: Clock, seed: int = 0, epoch: Callable[[], str] = str) -> None:
        self.files = files
        self.clock = clock
        self.seed = seed
        self.epoch = epoch
        """What new ids mix in (the batch service's epoch: a reset moves it)."""

    def live(self, workspace: str, file_id: str, now: int | None = None) -> FileRecord | None:
        """The file, unless it is unknown to the workspace, deleted or expired."""
        record = self.files.get(workspace, file_id)
        if record is None:
            return None
        now = self.clock.now() if now is None else now
        if record.expires_at is not None and now >= record.expires_at:
            return None
        return record

    def upload(self, workspace: str, source: BinaryIO, content_type: str | None) -> bytes:
        form = parse_form(source, content_type)
        try:
            upload = form.files.get("file")
            if upload is None:
                raise InvalidError("file: Field required")
            if upload.size > MAX_FILE_BYTES:
                raise TooLargeError(f"File size exceeds the maximum of {MAX_FILE_BYTES} bytes (500 MB)")
            now = self.clock.now()
            expires_at = None
            raw_seconds = form.fields.get("expires_in_seconds")
            if raw_seconds is not None:
                expires_at = now + _seconds(raw_seconds) * MICROS
            mime_type = _mime_type(upload.content_type, upload.filename)
            filename = _filename(upload.filename, mime_type)
            number = self.files.next_number()
            file_id = FILE_IDS.make(random.Random(f"{self.seed}:{self.epoch()}:anthropic-file:{number}"))
            record = FileRecord(
                file_id, workspace, filename, upload.size, now, expires_at, mime_type, {"downloadable": False}
            )
            self.files.add(record, upload.file)
        finally:
            form.close()
        return orjson.dumps(metadata(record))

    def retrieve(self, workspace: str, file_id: str) -> bytes:
        record = self.live(workspace, file_id)
        if record is None:
            raise _not_found(file_id)
        return orjson.dumps(metadata(record))

    def list_files(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> bytes:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidError(f"limit: Input should be between 1 and {MAX_LIMIT}")
        now = self.clock.now()
        records = [r for r in self.files.all(workspace) if r.expires_at is None or now < r.expires_at]
        ids = [r.id for r in records]
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and cursor not in ids:
                raise InvalidError(f"{name}: no file with id {cursor!r}")
        if after_id is not None:
            at = ids.index(after_id)
            chosen, more = records[at + 1 : at + 1 + limit], at + 1 + limit < len(records)
        elif before_id is not None:
            at = ids.index(before_id)
            chosen, more = records[max(0, at - limit) : at], at - limit > 0
        else:
            chosen, more = records[:limit], limit < len(records)
        page = {
            "data": [metadata(r) for r in chosen],
            "first_id": chosen[0].id if chosen else None,
            "last_id": chosen[-1].id if chosen else None,
            "has_more": more,
        }
        return orjson.dumps(page)

    def download(self, workspace: str, file_id: str) -> Any:
        record = self.live(workspace, file_id)
        if record is None:
            raise _not_found(file_id)
        if not record.attrs.get("downloadable", False):
            raise InvalidError(
                f"File {file_id} is not downloadable: only files created by skills or the code execution tool can be "
                "downloaded."
            )
        return self.files.chunks(workspace, file_id)

    def delete(self, workspace: str, file_id: str) -> bytes:
        if self.live(workspace, file_id) is None:
            raise _not_found(file_id)
        self.files.delete(workspace, file_id, self.clock.now())
        return orjson.dumps({"id": file_id, "type": "file_deleted"})

    # -- files referenced by batch requests ---------------------------------------------------

    def known(self, workspace: str, file_ids: Sequence[str]) -> dict[str, list[int | None] | None]:
        """For each file id, ``[size, expires_at]`` of the live file, or ``None`` when the
        workspace cannot use it (kept in a batch's ``attrs["files"]``)."""
        now = self.clock.now()
        found: dict[str, list[int | None] | None] = {}
        for file_id in file_ids:
            record = self.live(workspace, file_id, now)
            found[file_id] = None if record is None else [record.size, record.expires_at]
        return found


def referenced_files(params: Sequence[bytes]) -> dict[int, list[str]]:
    """The file ids each request references, for the requests that reference any."""
    refs: dict[int, list[str]] = {}
    if isinstance(params, PackedParams) and not params.mentions(FILE_ID):
        return refs  # no request names a file: no need to look at each
    for i, raw in enumerate(params):
        if mentions_files(raw):
            try:
                found = [file_id for _, file_id in file_references(orjson.loads(raw))]
            except orjson.JSONDecodeError:  # pragma: no cover - params are encoded JSON
                continue
            if found:
                refs[i] = found
    return refs


def late_problems(batch: Batch, deleted_at: Mapping[str, int | None]) -> dict[int, str]:
    """The requests of an ended batch whose file was gone when they finished: deleted (at
    ``deleted_at[file_id]``) or expired at or before their finish time. Only requests planned to
    succeed (their other outcomes stand)."""
    files = batch.attrs.get("files") or {}
    planned, _, finish = batch.schedule()
    canned = batch.canned
    problems: dict[int, str] = {}
    for i, file_ids in referenced_files(batch.params).items():
        if planned[i] != SUCCEEDED or (canned and batch.custom_ids[i] in canned):
            continue
        done = batch.created_at + finish[i]
        for file_id in file_ids:
            known = files.get(file_id)
            if not known:
                continue
            gone = deleted_at.get(file_id)
            expires = known[1]
            if (gone is not None and gone <= done) or (expires is not None and expires <= done):
                problems[i] = file_problem(file_id)
                break
    return problems
