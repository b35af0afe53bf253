"""OpenAI's Files and Batch API in wire form: bytes in, encoded JSON out.

Files: uploads (``multipart/form-data``; ``purpose``, ``file`` and ``expires_after[anchor]`` /
``expires_after[seconds]`` in bracket form, as the SDK sends them), retrieve, list, content and
delete. A batch's output and error files are files too: they appear (``purpose:
"batch_output"``) when the batch ends, made from the batch itself (ids derived from its id), and
can be listed, downloaded and deleted like any other.

Batches: a create is checked at once for what the API refuses at once (400: the endpoint, the
completion window, metadata, ``output_expires_after``, unknown members); the input file's lines
are checked as the batch validates (a batch with any problem ends ``failed``, see
:mod:`.lines`). Cancel of a batch that ended otherwise than cancelled is a 409; of a cancelled
one, the batch as it is.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, BinaryIO

import orjson

from .._engine.batch import DAY, Ending, Phase, Policy, Verdict
from .._engine.clock import MICROS
from .._engine.collector import collector, release_memory
from .._engine.errors import InvalidError, NotFoundError, TooLargeError, WrongStateError
from .._engine.ids import HEX, IdFormat
from .._engine.ports import Entry, FileRecord, Files
from .._engine.scenario import Scenario
from .._engine.service import BatchService, results_key
from .._http.forms import Form
from .answers import ENDPOINTS
from .lines import first_model, parse_input
from .traits import NAME, OpenAISettings
from .wire import (
    FILE_EXPIRY,
    FILE_IDS,
    batch_dict,
    file_json,
    made_files,
    output_chunks,
    output_expires_at,
    output_file,
    output_id,
    status_name,
)

__all__ = ["BATCH_IDS", "MAX_FILE_BYTES", "MAX_UPLOAD_BYTES", "Created", "OpenAIApi", "policy"]

BATCH_IDS = IdFormat("batch_", 32, HEX)
MAX_FILE_BYTES = 512 * 1024 * 1024
"""The largest file OpenAI's Files API takes."""
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
"""The largest batch input file."""
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + 1024 * 1024
"""The largest upload body (the file and the form around it)."""
MAX_CREATE_BYTES = 1024 * 1024
FILE_MIN_REQUESTS = 1000
_LARGE_FILE = 1 << 20
"""An input file this large is checked, after the create's answer, on a worker thread."""
_RELEASE_AFTER = 8 * 1024 * 1024
"""An input file this large gives the memory checking it took back to the system."""
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_SHOWN = {"evals": "user_data"}
"""A file object's ``purpose`` takes fewer values than an upload's: ``evals`` is not among them
(OpenAI's schema and SDK types), so such a file shows ``user_data`` (listing by
``purpose=evals`` still finds it)."""
_CREATE_KEYS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
_MIN_EXPIRY, _MAX_EXPIRY = 3600, 2_592_000
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 100
_FILES_LIMIT = 10_000
_NOT_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble "
    "figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)


def policy(scenario: Scenario) -> Policy:
    """OpenAI's batches: a 24-hour window; validating, finalizing and cancelling as the scenario's
    ``[openai]`` section says."""
    settings: OpenAISettings = scenario.section(NAME)
    return Policy(
        window=DAY,
        validating=round(settings.validating * MICROS),
        finalizing=round(settings.finalizing * MICROS),
        canceling=round(settings.cancelling * MICROS),
    )


class Created:
    """A create's answer and the work left for after it is sent."""

    __slots__ = ("answer", "finish", "large")

    def __init__(self, answer: bytes, finish: Callable[[], None] | None, large: bool) -> None:
        self.answer = answer
        self.finish = finish
        self.large = large


def _missing(name: str) -> InvalidError:
    return InvalidError(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return "a string"


def _wrong_type(name: str, expected: str, value: Any) -> InvalidError:
    return InvalidError(
        f"Invalid type for '{name}': expected {expected}, but got {_type_name(value)} instead.",
        param=name,
        code="invalid_type",
    )


def _expiry(where: str, anchor: Any, seconds: Any, *, form: bool = False) -> int:
    """The seconds of an ``expires_after`` (``anchor`` must be ``created_at``); a form's fields
    arrive as text (``expires_after[seconds]=3600``), a JSON body's as an integer."""
    if anchor is None:
        raise _missing(f"{where}.anchor")
    if seconds is None:
        raise _missing(f"{where}.seconds")
    if anchor != "created_at":
        raise InvalidError(
            f"Invalid value: {anchor!r}. Supported values are: 'created_at'.",
            param=f"{where}.anchor",
            code="invalid_value",
        )
    if form and isinstance(seconds, str) and seconds.isascii() and seconds.isdigit() and len(seconds) < 12:
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise _wrong_type(f"{where}.seconds", "an integer", seconds)
    if not _MIN_EXPIRY <= seconds <= _MAX_EXPIRY:
        raise InvalidError(
            f"Invalid '{where}.seconds': integer {seconds} is out of range; it must be between {_MIN_EXPIRY} and "
            f"{_MAX_EXPIRY}.",
            param=f"{where}.seconds",
            code="integer_out_of_range",
        )
    return seconds


def _unknown(name: str) -> InvalidError:
    return InvalidError(f"Unrecognized request argument supplied: {name}")


class OpenAIApi:
    """The Files and Batch API of one emulator."""

    def __init__(self, service: BatchService, files: Files) -> None:
        self.service = service
        self.files = files
        self._outputs: dict[tuple[str, str], str] = {}  # (workspace, output file id) -> batch id
        self._settings: tuple[Scenario | None, OpenAISettings] = (None, OpenAISettings())

    @property
    def settings(self) -> OpenAISettings:
        """The active scenario's ``[openai]`` section (looked up again only when the scenario
        changed: a retrieve reads it)."""
        scenario = self.service.scenario
        kept = self._settings
        if kept[0] is not scenario:
            kept = self._settings = (scenario, scenario.section(NAME))
        return kept[1]

    def reset(self) -> None:
        self.service.reset()
        self.files.clear()
        self._outputs.clear()

    # -- files ------------------------------------------------------------------------------------

    def upload(self, workspace: str, form: Form) -> bytes:
        """Keep an uploaded file (a ``multipart/form-data`` body, parsed) and answer its object.
        The caller closes the form."""
        purpose = form.fields.get("purpose")
        upload = form.files.get("file")
        if upload is None:
            raise _missing("file")
        if purpose is None:
            raise _missing("purpose")
        if purpose not in PURPOSES:
            allowed = ", ".join(f"'{p}'" for p in PURPOSES)
            raise InvalidError(
                f"Invalid value for 'purpose': {purpose!r}. Supported values are: {allowed}.",
                param="purpose",
                code="invalid_value",
            )
        if upload.size > MAX_FILE_BYTES:
            raise TooLargeError(f"File is too large: the maximum file size is {MAX_FILE_BYTES} bytes.")
        now = self.service.clock.now()
        anchor, seconds = form.fields.get("expires_after[anchor]"), form.fields.get("expires_after[seconds]")
        expires_at: int | None = None
        if anchor is not None or seconds is not None:
            expires_at = now + _expiry("expires_after", anchor, seconds, form=True) * MICROS
        if purpose == "batch":
            _check_batch_file(upload.filename, upload.size, upload.file)
            if expires_at is None:
                expires_at = now + FILE_EXPIRY
        number = self.files.next_number()
        seed = f"{self.service.scenario.seed}:{self.service.epoch}:file:{number}"
        file_id = FILE_IDS.make(random.Random(seed))
        record = FileRecord(
            file_id, workspace, upload.filename or "file", upload.size, now, expires_at, upload.content_type,
            {"purpose": purpose},
        )  # fmt: skip
        self.files.add(record, upload.file, upload.path)
        return orjson.dumps(_record_json(record))

    def _upload(self, workspace: str, file_id: str) -> FileRecord | None:
        record = self.files.get(workspace, file_id)
        if record is None:
            return None
        if record.expires_at is not None and self.service.clock.now() >= record.expires_at:
            return None
        return record

    def _output(self, workspace: str, file_id: str) -> tuple[Entry, bool] | None:
        """The batch whose output (``False``) or error (``True``) file ``file_id`` is, if it has
        been made and is neither deleted nor expired."""
        batch_id = self._outputs.get((workspace, file_id))
        if batch_id is None:
            for known in self.service.store.page(workspace, 1 << 40, None, None).entries:
                for errors in (False, True):
                    self._outputs[(workspace, output_id(known.batch.id, errors))] = known.batch.id
            batch_id = self._outputs.get((workspace, file_id))
        if batch_id is None or self.files.gone(workspace, file_id):
            return None
        entry = self.service.store.get(workspace, batch_id)
        if entry is None:
            return None
        errors = file_id == output_id(batch_id, True)
        if file_id not in self._made(entry):
            return None
        if self.service.clock.now() >= output_expires_at(entry.batch, entry.cancel_initiated_at) * MICROS:
            return None
        return entry, errors

    def _made(self, entry: Entry) -> list[str]:
        """The output and error files a batch has now (none before it ended)."""
        made = made_files(entry.batch, entry.cancel_initiated_at, self.service.clock.now())
        return [file_id for file_id in made if file_id is not None]

    def _output_json(self, entry: Entry, errors: bool) -> dict[str, Any]:
        """An output or error file's object; its size read from its results file when one was
        written whole (counting it otherwise means generating every line)."""
        batch, cancel = entry.batch, entry.cancel_initiated_at
        results = self.service.results
        known = None
        if results is not None and batch.size >= FILE_MIN_REQUESTS:
            known = results.size((*results_key(batch, cancel), errors))
        return output_file(batch, cancel, errors, known)

    def _not_found(self, file_id: str) -> NotFoundError:
        return NotFoundError("file", file_id, f"No such File object: {file_id}")

    def file(self, workspace: str, file_id: str) -> bytes:
        record = self._upload(workspace, file_id)
        if record is not None:
            return orjson.dumps(_record_json(record))
        output = self._output(workspace, file_id)
        if output is None:
            raise self._not_found(file_id)
        entry, errors = output
        return orjson.dumps(self._output_json(entry, errors))

    def list_files(self, workspace: str, purpose: str | None, limit: int, order: str, after: str | None) -> bytes:
        if not 1 <= limit <= _FILES_LIMIT:
            raise InvalidError(
                f"Invalid 'limit': integer {limit} is out of range; it must be between 1 and {_FILES_LIMIT}.",
                param="limit",
                code="integer_out_of_range",
            )
        if order not in ("asc", "desc"):
            raise InvalidError(
                f"Invalid value: {order!r}. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        # Newest first, files made at one instant in the order they were made (the store keeps
        # uploads newest first; the sort is stable).
        found: list[tuple[str, dict[str, Any]]] = []  # (purpose as uploaded, file object)
        now = self.service.clock.now()
        for record in self.files.all(workspace):
            if record.expires_at is None or now < record.expires_at:
                found.append((str(record.attrs.get("purpose")), _record_json(record)))
        for entry in self.service.store.page(workspace, 1 << 40, None, None).entries:
            for file_id in self._made(entry):
                errors = file_id == output_id(entry.batch.id, True)
                self._outputs[(workspace, file_id)] = entry.batch.id
                expires = output_expires_at(entry.batch, entry.cancel_initiated_at) * MICROS
                if now < expires and not self.files.gone(workspace, file_id):
                    found.append(("batch_output", self._output_json(entry, errors)))
        if purpose is not None:
            found = [item for item in found if item[0] == purpose]
        found.sort(key=lambda item: item[1]["created_at"], reverse=True)
        if order == "asc":
            found.reverse()
        files = [obj for _, obj in found]
        if after is not None:
            at = next((n for n, f in enumerate(files) if f["id"] == after), None)
            files = files[at + 1 :] if at is not None else []
        page = files[:limit]
        return orjson.dumps(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(files) > limit,
            }
        )

    def content(self, workspace: str, file_id: str) -> AsyncIterator[bytes]:
        """A file's bytes: an upload's as kept, an output or error file's generated from its batch
        (from a results file written ahead for a large batch)."""
        if self._upload(workspace, file_id) is not None:
            return _each(self.files.chunks(workspace, file_id))
        output = self._output(workspace, file_id)
        if output is None:
            raise self._not_found(file_id)
        entry, errors = output
        batch, cancel = entry.batch, entry.cancel_initiated_at
        lines = partial(output_chunks, batch, cancel, errors)
        results = self.service.results
        if results is None or batch.size < FILE_MIN_REQUESTS:
            return _each(lines())
        return results.stream((*results_key(batch, cancel), errors), lines)

    def delete_file(self, workspace: str, file_id: str) -> bytes:
        if self._upload(workspace, file_id) is None and self._output(workspace, file_id) is None:
            raise self._not_found(file_id)
        self.files.delete(workspace, file_id)
        return orjson.dumps({"id": file_id, "object": "file", "deleted": True})

    # -- batches ----------------------------------------------------------------------------------

    def create(self, workspace: str, body: bytes) -> Created:
        """Create a batch from a create body; its input file is read and checked now (the batch
        fails, when it has validated, if the file has problems)."""
        data = _object(body)
        for key in data:
            if key not in _CREATE_KEYS:
                raise _unknown(key)
        for name in ("input_file_id", "endpoint", "completion_window"):
            if name not in data or data[name] is None:
                raise _missing(name)
            if not isinstance(data[name], str):
                raise _wrong_type(name, "a string", data[name])
        endpoint, window, input_id = data["endpoint"], data["completion_window"], data["input_file_id"]
        if endpoint not in ENDPOINTS:
            allowed = ", ".join(f"'{e}'" for e in ENDPOINTS[:-1]) + f", and '{ENDPOINTS[-1]}'"
            raise InvalidError(
                f"Invalid value: {endpoint!r}. Supported values are: {allowed}.", param="endpoint", code="invalid_value"
            )
        if window != "24h":
            raise InvalidError(
                f"Invalid value: {window!r}. Supported values are: '24h'.",
                param="completion_window",
                code="invalid_value",
            )
        metadata = _metadata(data.get("metadata"))
        expiry = data.get("output_expires_after")
        seconds: int | None = None
        if expiry is not None:
            if not isinstance(expiry, dict):
                raise _wrong_type("output_expires_after", "an object", expiry)
            for key in expiry:
                if key not in ("anchor", "seconds"):
                    raise _unknown(f"output_expires_after.{key}")
            seconds = _expiry("output_expires_after", expiry.get("anchor"), expiry.get("seconds"))
        attrs: dict[str, Any] = {
            "endpoint": endpoint,
            "input_file_id": input_id,
            "metadata": metadata,
            "output_expires_after": seconds,
        }
        settings = self.settings
        record = self._upload(workspace, input_id)
        errors: list[dict[str, Any]] = []
        ids: Any = ()
        params: Any = ()
        content = b""
        verdict: Callable[[], Verdict] | None = None
        purpose = record.attrs.get("purpose") if record is not None else None
        if record is None and self._output(workspace, input_id) is not None:
            purpose = "batch_output"  # another batch's output or error file
        if record is None and purpose is None:
            message = f"Cannot find file {input_id}, or project does not have access to it."
            if settings.missing_input_file == "reject":
                raise InvalidError(message, param="file_id")
            errors.append({"code": "invalid_request", "message": message, "param": "file_id", "line": None})
        elif record is None or purpose != "batch":
            errors.append(
                {
                    "code": "invalid_request",
                    "message": f"The input file {input_id} has purpose '{purpose}': a batch needs a file uploaded "
                    "with purpose 'batch'.",
                    "param": "input_file_id",
                    "line": None,
                }
            )
        else:
            content = self.files.read(workspace, input_id)
            verdict = partial(_verdict, content, endpoint, settings.models)
            attrs["model"] = first_model(content)  # what the create shows; the verdict has the last word
        if errors:
            attrs["errors"] = errors
        if verdict is not None and self.service.store.durable:  # a durable store takes a batch whole
            found = verdict()
            attrs.update(found.attrs)
            failed, ids, params, verdict = found.failed, found.custom_ids, found.params, None
        else:
            failed = bool(errors)
        batch = self.service.create(workspace, ids, params, None, attrs=attrs, failed=failed, verdict=verdict)
        for errors_file in (False, True):
            self._outputs[(workspace, output_id(batch.id, errors_file))] = batch.id
        now = self.service.clock.now()
        answer = orjson.dumps(batch_dict(batch, None, now, settings.count_expired_as_failed))
        results = self.service.results
        large = len(content) >= _LARGE_FILE if verdict is not None else len(batch.custom_ids) >= FILE_MIN_REQUESTS

        promised = results.promise() if results is not None else None

        def finish() -> None:
            # The input file's lines are checked now, after the answer (as the API validates a
            # batch after accepting it); a large batch's output file is then written ahead.
            try:
                BatchService.finish(batch)
                batch.decide()
                if results is not None and batch.size >= FILE_MIN_REQUESTS:
                    results.write_ahead((*results_key(batch, None), False), partial(output_chunks, batch, None, False))
            finally:
                if promised is not None:
                    promised()

        return Created(answer, finish, large)

    def retrieve(self, workspace: str, batch_id: str) -> bytes:
        entry = self.service.get(workspace, batch_id)
        return self._json(entry)

    def _json(self, entry: Entry) -> bytes:
        """The batch's object now, encoded; kept with the span of time it holds for (until the
        batch's next phase or the next request's finish; for good once it ended), so a retrieve
        of a batch that has not changed costs a look-up."""
        batch, cancel = entry.batch, entry.cancel_initiated_at
        now = self.service.clock.now()
        count_expired = self.settings.count_expired_as_failed
        last = batch.memo.get("openai-json")
        if last is not None and last[0] <= now < last[1] and last[2] == cancel and last[3] is count_expired:
            found: bytes = last[4]
            return found
        found = orjson.dumps(batch_dict(batch, cancel, now, count_expired))
        batch.memo["openai-json"] = (now, batch.next_change(now, cancel), cancel, count_expired, found)
        return found

    def list(self, workspace: str, limit: int, after: str | None) -> bytes:
        if not 1 <= limit <= _MAX_LIMIT:
            raise InvalidError(
                f"Invalid 'limit': integer {limit} is out of range; it must be between 1 and {_MAX_LIMIT}.",
                param="limit",
                code="integer_out_of_range",
            )
        if after is not None and not self.service.store.knows(workspace, after):
            entries, more = [], False
        else:
            page = self.service.page(workspace, limit, after, None)
            entries, more = page.entries, page.has_more
        data = b",".join([self._json(e) for e in entries])
        first = orjson.dumps(entries[0].batch.id) if entries else b"null"
        last = orjson.dumps(entries[-1].batch.id) if entries else b"null"
        return b'{"object":"list","data":[%b],"first_id":%b,"last_id":%b,"has_more":%b}' % (
            data,
            first,
            last,
            b"true" if more else b"false",
        )

    def cancel(self, workspace: str, batch_id: str) -> bytes:
        entry = self.service.get(workspace, batch_id)
        now = self.service.clock.now()
        batch, cancel = entry.batch, entry.cancel_initiated_at
        if batch.phase(now, cancel) == Phase.ENDED:
            if batch.ending(cancel) == Ending.CANCELED:
                return self._json(entry)  # canceling a cancelled batch is allowed
            raise WrongStateError("batch", batch_id, status_name(batch, now, cancel), "canceled")
        try:
            entry = self.service.cancel(workspace, batch_id)
            if self.service.results is not None:  # the output file written ahead for the uncanceled end
                self.service.results.drop((*results_key(batch, None), False))
        except WrongStateError:  # it ended meanwhile
            entry = self.service.get(workspace, batch_id)
            raise WrongStateError(
                "batch", batch_id, status_name(entry.batch, now, entry.cancel_initiated_at), "canceled"
            ) from None
        return self._json(entry)


def _verdict(data: bytes, endpoint: str, models: tuple[str, ...] | None) -> Verdict:
    """The input file's check (see :mod:`.lines`) as the engine takes it."""
    collector.pause()
    try:
        found = parse_input(data, endpoint, models)
    finally:
        collector.resume()
    if len(data) >= _RELEASE_AFTER:
        release_memory()
    attrs: dict[str, Any] = {"model": found.model}
    if found.errors:
        attrs["errors"] = found.errors
    return Verdict(bool(found.errors), found.custom_ids, found.params, attrs)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise InvalidError(_NOT_JSON)
    return data


def _metadata(value: Any) -> dict[str, str] | None:
    """Checked metadata: at most 16 pairs, keys up to 64 characters, string values up to 512."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong_type("metadata", "an object", value)
    if len(value) > 16:
        raise InvalidError(
            f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an "
            f"object with {len(value)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > 64:
            raise InvalidError(
                f"Invalid 'metadata': string too long. Expected a key with maximum length 64, but got a key with "
                f"length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(item, str):
            raise _wrong_type(f"metadata.{key}", "a string", item)
        if len(item) > 512:
            raise InvalidError(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, but got a "
                f"string with length {len(item)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )
    return dict(value)


def _check_batch_file(filename: str, size: int, source: BinaryIO) -> None:
    """A batch input upload must be a ``.jsonl`` file of at most 200 MB whose first line that is
    not blank is a JSON object (a file of blank lines only is taken: its batch fails validation
    with ``empty_file``)."""
    bad = InvalidError("Invalid file format for Batch API. Must be .jsonl")
    if size > MAX_BATCH_FILE_BYTES:
        raise InvalidError(
            f"File is too large: a batch input file holds at most {MAX_BATCH_FILE_BYTES} bytes.", param="file"
        )
    if not filename.endswith(".jsonl"):
        raise bad
    head = source.read(1 << 20)
    source.seek(0)
    rest = head.lstrip()
    first, newline, _ = rest.partition(b"\n")
    if not first.strip() or not (newline or len(head) == size):
        return  # nothing but blank lines, or a first line longer than what was read
    try:
        if not isinstance(orjson.loads(first), dict):
            raise bad
    except orjson.JSONDecodeError:
        raise bad from None


def _record_json(record: FileRecord) -> dict[str, Any]:
    purpose = str(record.attrs.get("purpose"))
    return file_json(
        record.id, record.size, record.created_at, record.filename, _SHOWN.get(purpose, purpose), record.expires_at
    )


async def _each(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)
