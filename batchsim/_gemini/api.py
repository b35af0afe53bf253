"""Gemini batch mode (the Gemini Developer API) in wire form: bytes in, encoded JSON out.

Batches: ``models/{model}:batchGenerateContent`` and ``:asyncBatchEmbedContent`` create one from
inline requests or an uploaded file; get, list (``pageSize``, ``pageToken``), ``:cancel`` and
delete (of a batch in any state: Google's operations are deleted, not stopped, by a delete).

Files: Google's resumable upload protocol. ``start`` (``X-Goog-Upload-Protocol: resumable``,
``X-Goog-Upload-Command: start``, the file's size and type in ``X-Goog-Upload-Header-*``) answers an
``x-goog-upload-url`` that authorizes itself (the SDK sends no key to it): a session kept in the
provider's file store (so every worker of a server sees it), to which ``upload`` commands send
bytes at the expected ``X-Goog-Upload-Offset`` and ``upload, finalize`` (or ``finalize``) ends
with ``{"file": {...}}`` and ``x-goog-upload-status: final``. Files can be got, listed, deleted; a
file-input batch's responses file is a ``GENERATED`` file, downloaded with ``alt=media``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import random
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, BinaryIO

import orjson

from .._engine.batch import DAY, Policy
from .._engine.clock import MICROS
from .._engine.collector import collector
from .._engine.errors import DomainError, ForbiddenError, InvalidError, NotFoundError, WrongStateError
from .._engine.ports import Entry, FileRecord, Files
from .._engine.scenario import Scenario
from .._engine.service import BatchService, results_key
from .requests import GENERATE, Checked, parse_file, read_create
from .traits import NAME, GeminiSettings
from .wire import (
    FILE_EXPIRY,
    FILE_IDS,
    file_json,
    has_output,
    operation,
    response_chunks,
    responses_file_id,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_INLINE_BYTES",
    "Created",
    "GeminiApi",
    "Upload",
    "batch_missing",
    "file_missing",
    "policy",
]

MAX_INLINE_BYTES = 20 * 1024 * 1024
"""The largest create body: inline requests total under 20 MB."""
MAX_FILE_BYTES = 2 * 1024**3
"""The largest file the Files API takes (2 GB)."""
MAX_START_BYTES = 1024 * 1024
FILE_MIN_REQUESTS = 1000
"""File-input batches of this many requests get their responses file written ahead."""
WINDOW = 2 * DAY
_UPLOADS = "\x00gemini-uploads"
"""The workspace of upload sessions (no API key can name it: a header holds no NUL)."""
_FILE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
_BATCHES_PAGE, _BATCHES_MAX = 50, 1000
_FILES_PAGE, _FILES_MAX = 10, 100
_NOT_JSON = "Invalid JSON payload received. Unexpected token."


def policy(scenario: Scenario) -> Policy:
    """Gemini's batches: a 48-hour window from the create; pending for the ``[gemini]`` section's
    ``pending`` seconds; a cancel as the scenario's ``timing.cancel_delay`` says."""
    settings: GeminiSettings = scenario.section(NAME)
    return Policy(window=WINDOW, validating=round(settings.pending * MICROS))


class Created:
    """A create's answer and the work left for after it is sent."""

    __slots__ = ("answer", "finish", "large")

    def __init__(self, answer: bytes, finish: Callable[[], None] | None, large: bool) -> None:
        self.answer = answer
        self.finish = finish
        self.large = large


class _Held:
    """A parsed create body, kept (with the collector paused: it must never walk those objects)
    until the answer is sent; released at the latest when this object is freed."""

    __slots__ = ("_paused", "data")

    def __init__(self) -> None:
        collector.pause()
        self._paused = True
        self.data: Any = None

    def release(self) -> None:
        self.data = None  # the parsed body goes first
        if self._paused:
            self._paused = False
            collector.resume()

    __del__ = release


class Upload:
    """What an upload call answers: status ``active`` (more to come) or ``final`` (the file)."""

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.headers = headers


def file_missing(file_id: str) -> ForbiddenError:
    """What the API answers for a file that is not the key's (or no longer exists)."""
    return ForbiddenError(f"You do not have permission to access the File {file_id} or it may not exist.")


def batch_missing(batch_id: str) -> NotFoundError:
    return NotFoundError("batch", batch_id, "Requested entity was not found.")


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidError("Invalid page token.") from None


def _page_size(raw: str | None, default: int, most: int) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 12):
        raise InvalidError(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw[:40]}\"")
    size = int(raw)
    if size < 0:
        raise InvalidError("page_size must not be negative.")
    return min(size, most) if size else default


def _lenient_json(body: bytes) -> Any:
    """A small JSON body as Google's parser reads it (its REST guide sends single-quoted strings)."""
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return orjson.loads(body.replace(b"'", b'"'))
        except orjson.JSONDecodeError:
            raise InvalidError(_NOT_JSON) from None


class GeminiApi:
    """The batches and files of Gemini's API in one emulator."""

    def __init__(self, service: BatchService, files: Files) -> None:
        self.service = service
        self.files = files
        self._responses: dict[tuple[str, str], str] = {}  # (workspace, responses file id) -> batch id

    @property
    def settings(self) -> GeminiSettings:
        settings: GeminiSettings = self.service.scenario.section(NAME)
        return settings

    def reset(self) -> None:
        self.service.reset()
        self.files.clear()
        self._responses.clear()

    # -- batches ----------------------------------------------------------------------------------

    def create(self, workspace: str, model: str, body: bytes, kind: str = GENERATE) -> Created:
        """Create a batch from a create body (``kind``: generate or embed)."""
        if not model or "/" in model:
            raise InvalidError(f"* model: invalid model name {model!r}\n")
        if not body.strip():
            raise InvalidError("* batch: a batch is required\n")
        held = _Held()
        try:
            try:
                held.data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise InvalidError(_NOT_JSON) from None
            parsed = read_create(held.data, kind)
        except BaseException:
            held.release()
            raise
        attrs: dict[str, Any] = {"model": f"models/{model}", "kind": kind}
        if parsed.display_name is not None:
            attrs["displayName"] = parsed.display_name
        keys, params = parsed.keys, parsed.params
        check = Checked(parsed.requests, kind, params=params)
        failed = False
        try:
            if parsed.file_name is not None:
                attrs["inputFile"] = parsed.file_name
                file_id = parsed.file_name[6:]
                record = self._upload(workspace, file_id)
                if record is None:
                    if self.settings.missing_input_file == "reject":
                        raise file_missing(file_id)
                    failed = True
                    attrs["failure"] = f"The input file {parsed.file_name} does not exist or is not yours."
                else:
                    found = parse_file(self.files.read(workspace, file_id), kind)
                    if found.failure is not None:
                        failed, attrs["failure"] = True, found.failure
                    else:
                        keys, params, check = found.keys, found.params, Checked(invalid=found.invalid)
            batch = self.service.create(workspace, keys, params, check, attrs=attrs, failed=failed)
        except BaseException:
            held.release()
            raise
        answer = orjson.dumps(operation(batch, None, self.service.clock.now()))
        results = self.service.results
        ahead = results is not None and parsed.file_name is not None and batch.size >= FILE_MIN_REQUESTS

        def finish() -> None:
            self.service.finish(batch)  # the requests' check, when the engine left it for now
            held.release()
            if ahead and results is not None:
                results.write_ahead(results_key(batch, None), partial(response_chunks, batch, None))

        return Created(answer, finish, batch.size >= FILE_MIN_REQUESTS)

    def get(self, workspace: str, batch_id: str) -> bytes:
        entry = self._entry(workspace, batch_id)
        return self._json(entry)

    def _entry(self, workspace: str, batch_id: str) -> Entry:
        entry = self.service.store.get(workspace, batch_id)
        if entry is None:
            raise batch_missing(batch_id)
        return entry

    def _json(self, entry: Entry) -> bytes:
        """The operation, encoded; kept for as long as it reads the same (what it says changes
        only when the batch starts, a request finishes, a cancel comes or the batch ends)."""
        batch, cancel = entry.batch, entry.cancel_initiated_at
        now = self.service.clock.now()
        memo = batch.memo
        ended = now >= batch.ended_at(cancel)
        if ended:  # fixed from now on
            state: tuple[Any, ...] = (cancel,)
        else:
            first = batch.first_start()
            started = first is not None and now > first
            state = (cancel, batch.phase(now, cancel), batch.progress(now, cancel) if started else None)
        last = memo.get("gemini-json")
        if last is not None and last[0] == state:
            found: bytes = last[1]
            return found
        found = orjson.dumps(operation(batch, cancel, now))
        memo["gemini-json"] = (state, found)
        return found

    def list_batches(self, workspace: str, page_size: str | None, page_token: str | None) -> bytes:
        limit = _page_size(page_size, _BATCHES_PAGE, _BATCHES_MAX)
        after = _untoken(page_token) if page_token else None
        if after is not None and not self.service.store.knows(workspace, after):
            raise InvalidError("Invalid page token.")
        page = self.service.page(workspace, limit, after, None)
        if not page.entries:
            return b"{}"
        body = b'{"operations":[%b]' % b",".join([self._json(e) for e in page.entries])
        if page.has_more:
            body += b',"nextPageToken":%b' % orjson.dumps(_token(page.entries[-1].batch.id))
        return body + b"}"

    def cancel(self, workspace: str, batch_id: str) -> bytes:
        entry = self._entry(workspace, batch_id)
        now = self.service.clock.now()
        if now >= entry.batch.ended_at(entry.cancel_initiated_at):
            raise WrongStateError("batch", batch_id, "ended", "cancelled", _ended(batch_id))
        try:
            self.service.cancel(workspace, batch_id)
        except WrongStateError:  # it ended meanwhile
            raise WrongStateError("batch", batch_id, "ended", "cancelled", _ended(batch_id)) from None
        except NotFoundError:
            raise batch_missing(batch_id) from None
        return b"{}"

    def delete(self, workspace: str, batch_id: str) -> bytes:
        """Delete a batch, whatever its state (its results go with it)."""
        entry = self.service.store.update(workspace, batch_id, lambda e: e._replace(deleted=True))
        if entry is None:
            raise batch_missing(batch_id)
        results = self.service.results
        if results is not None:
            results.drop(results_key(entry.batch, None))
            results.drop(results_key(entry.batch, entry.cancel_initiated_at))
        return b"{}"

    # -- files ------------------------------------------------------------------------------------

    def _upload(self, workspace: str, file_id: str) -> FileRecord | None:
        record = self.files.get(workspace, file_id)
        if record is None or record.expires_at is None or self.service.clock.now() >= record.expires_at:
            return None
        return record

    def _generated(self, workspace: str, file_id: str) -> Entry | None:
        """The file-input batch whose responses file ``file_id`` is, if it has one now (ended with
        results, the file neither deleted nor expired)."""
        batch_id = self._responses.get((workspace, file_id))
        if batch_id is None:
            for known in self.service.store.page(workspace, 1 << 40, None, None).entries:
                if known.batch.attrs.get("inputFile") is not None:
                    self._responses[(workspace, responses_file_id(known.batch.id))] = known.batch.id
            batch_id = self._responses.get((workspace, file_id))
        if batch_id is None or self.files.gone(workspace, file_id):
            return None
        entry = self.service.store.get(workspace, batch_id)
        if entry is None or not self._has_file(entry):
            return None
        return entry

    def _has_file(self, entry: Entry) -> bool:
        batch, cancel = entry.batch, entry.cancel_initiated_at
        now = self.service.clock.now()
        ended = batch.ended_at(cancel)
        if batch.attrs.get("inputFile") is None or now < ended or now >= ended + FILE_EXPIRY:
            return False
        return has_output(batch, cancel)

    def _generated_json(self, entry: Entry, base_url: str, version: str) -> dict[str, Any]:
        batch, cancel = entry.batch, entry.cancel_initiated_at
        key = ("gemini-responses-size", cancel)
        size: int | None = batch.memo.get(key)
        if size is None:
            size = batch.memo[key] = sum(map(len, response_chunks(batch, cancel)))
        return file_json(
            responses_file_id(batch.id),
            size=size,
            created_at=batch.ended_at(cancel),
            mime_type="application/jsonl",
            display_name=f"batch-{batch.id}",
            base_url=base_url,
            version=version,
            generated=True,
        )

    def _record_json(self, record: FileRecord, base_url: str, version: str) -> dict[str, Any]:
        digest = record.attrs.get("sha256")
        return file_json(
            record.id,
            size=record.size,
            created_at=record.created_at,
            mime_type=record.mime_type,
            display_name=record.attrs.get("displayName"),
            base_url=base_url,
            version=version,
            digest=bytes.fromhex(digest) if isinstance(digest, str) else None,
        )

    def file(self, workspace: str, file_id: str, base_url: str, version: str) -> bytes:
        record = self._upload(workspace, file_id)
        if record is not None:
            return orjson.dumps(self._record_json(record, base_url, version))
        entry = self._generated(workspace, file_id)
        if entry is None:
            raise file_missing(file_id)
        return orjson.dumps(self._generated_json(entry, base_url, version))

    def list_files(
        self, workspace: str, page_size: str | None, page_token: str | None, base_url: str, version: str
    ) -> bytes:
        limit = _page_size(page_size, _FILES_PAGE, _FILES_MAX)
        now = self.service.clock.now()
        found: list[tuple[int, str, dict[str, Any]]] = []
        for record in self.files.all(workspace):
            if record.expires_at is not None and now < record.expires_at:
                found.append((record.created_at, record.id, self._record_json(record, base_url, version)))
        for entry in self.service.store.page(workspace, 1 << 40, None, None).entries:
            if self._has_file(entry):
                file_id = responses_file_id(entry.batch.id)
                self._responses[(workspace, file_id)] = entry.batch.id
                if not self.files.gone(workspace, file_id):
                    obj = self._generated_json(entry, base_url, version)
                    found.append((entry.batch.ended_at(entry.cancel_initiated_at), file_id, obj))
        found.sort(key=lambda f: (f[0], f[1]), reverse=True)
        if page_token:
            after = _untoken(page_token)
            at = next((n for n, f in enumerate(found) if f[1] == after), None)
            if at is None:
                raise InvalidError("Invalid page token.")
            found = found[at + 1 :]
        page = found[:limit]
        answer: dict[str, Any] = {}
        if page:
            answer["files"] = [f[2] for f in page]
        if len(found) > limit:
            answer["nextPageToken"] = _token(page[-1][1])
        return orjson.dumps(answer)

    def delete_file(self, workspace: str, file_id: str) -> bytes:
        if self._upload(workspace, file_id) is None and self._generated(workspace, file_id) is None:
            raise file_missing(file_id)
        self.files.delete(workspace, file_id)
        return b"{}"

    def download(self, workspace: str, file_id: str) -> AsyncIterator[bytes]:
        """A generated file's bytes (a batch's responses), from a results file written ahead for a
        large batch. Uploaded files cannot be downloaded."""
        entry = self._generated(workspace, file_id)
        if entry is None:
            if self._upload(workspace, file_id) is not None:
                raise InvalidError(f"Only generated files can be downloaded: files/{file_id} was uploaded.")
            raise file_missing(file_id)
        batch, cancel = entry.batch, entry.cancel_initiated_at
        lines = partial(response_chunks, batch, cancel)
        results = self.service.results
        if results is None or batch.size < FILE_MIN_REQUESTS:
            return _each(lines())
        return results.stream(results_key(batch, cancel), lines)

    # -- resumable uploads ------------------------------------------------------------------------

    def start_upload(self, workspace: str, headers: dict[str, str], body: bytes, base_url: str, version: str) -> Upload:
        """``X-Goog-Upload-Command: start``: a session, and the URL that takes its bytes."""
        protocol = headers.get("x-goog-upload-protocol", "").lower()
        if protocol != "resumable":
            raise InvalidError(
                "Only the resumable upload protocol is served (X-Goog-Upload-Protocol: resumable); "
                f"got {protocol or 'none'!r}."
            )
        command = headers.get("x-goog-upload-command", "").lower().strip()
        if command != "start":
            raise InvalidError(f"A resumable upload starts with X-Goog-Upload-Command: start; got {command!r}.")
        declared_raw = headers.get("x-goog-upload-header-content-length")
        declared: int | None = None
        if declared_raw is not None:
            if not (declared_raw.isascii() and declared_raw.isdigit() and len(declared_raw) < 16):
                raise InvalidError(f"Invalid X-Goog-Upload-Header-Content-Length: {declared_raw[:40]!r}")
            declared = int(declared_raw)
            if declared > MAX_FILE_BYTES:
                raise InvalidError(f"File size {declared} exceeds the maximum of {MAX_FILE_BYTES} bytes (2 GB).")
        meta = _start_metadata(_lenient_json(body))
        display = meta.get("displayName", meta.get("display_name"))
        mime = headers.get("x-goog-upload-header-content-type") or meta.get("mimeType") or meta.get("mime_type")
        name = meta.get("name")
        file_id: str | None = None
        if isinstance(name, str) and name:
            file_id = name[6:] if name.startswith("files/") else name
            if _FILE_NAME.fullmatch(file_id) is None:
                raise InvalidError(
                    f"Invalid file name {name!r}: up to 40 lowercase letters, digits or dashes, not starting "
                    "or ending with a dash."
                )
            if self.files.get(workspace, file_id) is not None or self.files.gone(workspace, file_id):
                raise _exists(file_id)
        upload_id = secrets.token_hex(16)
        session = {
            "workspace": workspace,
            "declared": declared,
            "displayName": display if isinstance(display, str) else None,
            "mimeType": mime if isinstance(mime, str) else None,
            "fileId": file_id,
            "version": version,
        }
        now = self.service.clock.now()
        record = FileRecord(upload_id, _UPLOADS, "session", 0, now, now + 7 * DAY, None, session)
        self.files.add(record, _empty())
        url = f"{base_url}upload/{version}/files/sessions/{upload_id}?upload_protocol=resumable"
        return Upload(
            b"",
            [
                (b"x-goog-upload-url", url.encode()),
                (b"x-goog-upload-status", b"active"),
                (b"x-goog-upload-chunk-granularity", b"8388608"),
                (b"x-goog-upload-control-url", url.encode()),
            ],
        )

    def upload_chunk(self, upload_id: str, headers: dict[str, str], source: BinaryIO, base_url: str) -> Upload:
        """An ``upload``, ``upload, finalize``, ``finalize``, ``query`` or ``cancel`` command to a
        session. A refusal ends the session and says so (``x-goog-upload-status: final``)."""
        try:
            return self._chunk(upload_id, headers, source, base_url)
        except DomainError as exc:
            exc.headers = {**(exc.headers or {}), "x-goog-upload-status": "final"}
            raise

    def _chunk(self, upload_id: str, headers: dict[str, str], source: BinaryIO, base_url: str) -> Upload:
        session = self.files.get(_UPLOADS, upload_id)
        if session is not None and session.expires_at is not None and self.service.clock.now() >= session.expires_at:
            self._end_session(upload_id, self._chunks(upload_id))  # a week old: Google's sessions last that long
            session = None
        if session is None:
            raise NotFoundError("upload", upload_id, "The upload session does not exist or has ended.")
        commands = {c.strip() for c in headers.get("x-goog-upload-command", "").lower().split(",") if c.strip()}
        chunks = self._chunks(upload_id)
        received = sum(record.size for record in chunks)
        if not commands or not commands <= {"upload", "finalize", "query", "cancel"}:
            self._end_session(upload_id, chunks)
            raise InvalidError(f"Unknown X-Goog-Upload-Command: {headers.get('x-goog-upload-command')!r}")
        if "cancel" in commands:
            self._end_session(upload_id, chunks)
            return Upload(b"", [(b"x-goog-upload-status", b"cancelled")])
        if "query" in commands:
            return Upload(
                b"", [(b"x-goog-upload-status", b"active"), (b"x-goog-upload-size-received", b"%d" % received)]
            )
        size = source.seek(0, 2)
        source.seek(0)
        if "upload" in commands:
            offset = headers.get("x-goog-upload-offset", "0")
            if offset != str(received):
                self._end_session(upload_id, chunks)
                raise InvalidError(f"X-Goog-Upload-Offset is {offset!r}, but {received} bytes were received so far.")
        elif size:
            self._end_session(upload_id, chunks)
            raise InvalidError("A finalize command carries no bytes; send them with upload.")
        declared = session.attrs.get("declared")
        total = received + (size if "upload" in commands else 0)
        if isinstance(declared, int) and total > declared:
            self._end_session(upload_id, chunks)
            raise InvalidError(f"The upload holds {total} bytes, more than the {declared} declared at its start.")
        if total > MAX_FILE_BYTES:
            self._end_session(upload_id, chunks)
            raise InvalidError(f"File size {total} exceeds the maximum of {MAX_FILE_BYTES} bytes (2 GB).")
        if "finalize" not in commands:
            if size:
                now = self.service.clock.now()
                part = FileRecord(f"{upload_id}.{received}", _UPLOADS, "chunk", size, now, None, None, {})
                self.files.add(part, source)
            return Upload(b"", [(b"x-goog-upload-status", b"active")])
        if isinstance(declared, int) and total != declared:
            self._end_session(upload_id, chunks)
            raise InvalidError(f"The upload holds {total} bytes, not the {declared} declared at its start.")
        record = self._finalize(session, chunks, source if "upload" in commands else None, total)
        self._end_session(upload_id, chunks)
        version = str(session.attrs.get("version") or "v1beta")
        answer = orjson.dumps({"file": self._record_json(record, base_url, version)})
        return Upload(answer, [(b"x-goog-upload-status", b"final")])

    def _chunks(self, upload_id: str) -> list[FileRecord]:
        """The chunks a session received so far, in order."""
        found: list[FileRecord] = []
        offset = 0
        while True:
            part = self.files.get(_UPLOADS, f"{upload_id}.{offset}")
            if part is None or not part.size:
                return found
            found.append(part)
            offset += part.size

    def _end_session(self, upload_id: str, chunks: list[FileRecord]) -> None:
        for part in chunks:
            self.files.delete(_UPLOADS, part.id)
        self.files.delete(_UPLOADS, upload_id)

    def _finalize(self, session: FileRecord, chunks: list[FileRecord], last: BinaryIO | None, total: int) -> FileRecord:
        """The uploaded file, kept in its key's workspace (its bytes: the chunks, then ``last``)."""
        attrs = session.attrs
        workspace = str(attrs["workspace"])
        digest = hashlib.sha256()
        with tempfile.SpooledTemporaryFile(max_size=1 << 20, prefix="batchsim-upload-") as whole:
            for part in chunks:
                for piece in self.files.chunks(_UPLOADS, part.id):
                    digest.update(piece)
                    whole.write(piece)
            if last is not None:
                while piece := last.read(1 << 20):
                    digest.update(piece)
                    whole.write(piece)
            whole.seek(0)
            file_id = attrs.get("fileId")
            if isinstance(file_id, str):
                if self.files.get(workspace, file_id) is not None or self.files.gone(workspace, file_id):
                    raise _exists(file_id)
            else:
                number = self.files.next_number()
                seed = f"{self.service.scenario.seed}:{self.service.epoch}:gemini-file:{number}"
                file_id = FILE_IDS.make(random.Random(seed))
                while self.files.get(workspace, file_id) is not None or self.files.gone(workspace, file_id):
                    file_id = FILE_IDS.make(random.Random(file_id))
            now = self.service.clock.now()
            record_attrs: dict[str, Any] = {"sha256": digest.hexdigest()}
            if attrs.get("displayName"):
                record_attrs["displayName"] = attrs["displayName"]
            record = FileRecord(
                file_id, workspace, str(attrs.get("displayName") or file_id), total, now, now + FILE_EXPIRY,
                str(attrs.get("mimeType") or "application/octet-stream"), record_attrs,
            )  # fmt: skip
            self.files.add(record, whole)  # type: ignore[arg-type]
        return record


def _start_metadata(data: Any) -> dict[str, Any]:
    """The ``file`` of an upload's start body, its names checked as Google's JSON parser does."""
    if not isinstance(data, dict):
        raise InvalidError("Invalid JSON payload received. Expected an object.")
    meta = data.get("file")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidError("Invalid value at 'file' (type.googleapis.com/google.ai.generativelanguage.v1beta.File)")
    for camel, snake in (("name", "name"), ("displayName", "display_name"), ("mimeType", "mime_type")):
        for key in {camel, snake}:
            if meta.get(key) is not None and not isinstance(meta[key], str):
                raise InvalidError(f"Invalid value at 'file.{snake}' (TYPE_STRING)")
    return meta


def _exists(file_id: str) -> DomainError:
    return InvalidError(f"File files/{file_id} already exists.", code="ALREADY_EXISTS")


def _ended(batch_id: str) -> str:
    return f"Batch batches/{batch_id} has ended: only a pending or running batch can be cancelled."


def _empty() -> BinaryIO:
    return io.BytesIO()


async def _each(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)
