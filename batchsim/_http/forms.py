"""``multipart/form-data`` bodies (file uploads), parsed with ``python-multipart`` (the parser
Starlette uses) as they arrive: :class:`FormReader` takes the body chunk by chunk (the kernel
feeds it straight from the connection for an operation that takes a form, so the body itself is
never spooled), text fields are bounded, and each file part goes to a temporary file of its own
(in memory while it is small), never whole into memory. A store may take a part's file as it is
(:attr:`Upload.path`: it moves the file instead of copying its bytes). Framework-free: providers
use it for their Files APIs.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from .._engine.errors import InvalidError

__all__ = ["Form", "FormReader", "Upload", "parse_form"]

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64
_CHUNK = 64 * 1024
"""The reads a form is parsed in: small, so that an upload of any size holds little in memory."""
_SPOOL = 256 * 1024


@dataclass
class Upload:
    """A file part: its field name, file name, content type, size and bytes (``file``, at its
    start). ``path`` names the temporary file holding them when the part was too large to stay
    in memory: a store may move that file (it is deleted when the form is closed otherwise)."""

    name: str
    filename: str
    content_type: str | None
    file: BinaryIO
    size: int = 0
    path: str | None = None


@dataclass
class Form:
    """A parsed form: text fields by name (the first of each name) and file parts by name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def close(self) -> None:
        for upload in self.files.values():
            _discard(upload.file, upload.path)


def _discard(file: Any, path: str | None) -> None:
    file.close()
    if path is not None:
        with contextlib.suppress(FileNotFoundError):  # a store took it
            os.unlink(path)


class _Part:
    __slots__ = ("content_type", "data", "file", "filename", "name", "path", "size")

    def __init__(self) -> None:
        self.name: str | None = None
        self.filename: str | None = None
        self.content_type: str | None = None
        self.data = bytearray()
        self.file: Any = None
        self.path: str | None = None
        self.size = 0

    def write_file(self, chunk: bytes | memoryview) -> None:
        """A file part's bytes: in memory up to a threshold, then in a named temporary file."""
        if self.path is None and self.size > _SPOOL:
            fd, self.path = tempfile.mkstemp(prefix="batchsim-upload-")
            spooled = open(fd, "w+b")  # noqa: SIM115 (closed with the form)
            spooled.write(self.file.getbuffer())
            self.file.close()
            self.file = spooled
        self.file.write(chunk)

    def discard(self) -> None:
        if self.file is not None:
            _discard(self.file, self.path)
            self.file = None


class FormReader:
    """Parses a ``multipart/form-data`` body written to it in chunks (:meth:`write`), then
    :meth:`finish` gives the :class:`Form`; :class:`~batchsim._engine.errors.InvalidError` for
    anything that is not one (the reader then holds nothing)."""

    def __init__(self, content_type: str | None) -> None:
        kind, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise InvalidError(
                "The request must be a multipart/form-data upload with a boundary (Content-Type: "
                "multipart/form-data; boundary=...)."
            )
        self.form = Form()
        self._part = _Part()
        self._header: list[bytes] = [b"", b""]
        self._parts = 0
        callbacks: Any = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def write(self, chunk: bytes) -> None:
        self._guarded(self._parser.write, chunk)

    def finish(self) -> Form:
        self._guarded(self._parser.finalize)
        return self.form

    def abort(self) -> None:
        """Let go of everything read so far."""
        self.form.close()
        self._part.discard()

    def _guarded(self, step: Any, *args: Any) -> None:
        try:
            step(*args)
        except InvalidError:
            self.abort()
            raise
        except Exception:  # the parser's own errors: a malformed body
            self.abort()
            raise InvalidError("The multipart/form-data body could not be parsed.") from None

    # -- the parser's callbacks -----------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidError(f"The upload has more than {MAX_PARTS} parts.")
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]
        if len(self._header[1]) > MAX_FIELD_BYTES:
            raise InvalidError("A part's header is too long.")

    def _on_header_end(self) -> None:
        name, value = self._header[0].decode("latin-1").lower(), self._header[1]
        self._header[0], self._header[1] = b"", b""
        part = self._part
        if name == "content-disposition":
            _, disposition = parse_options_header(value)
            raw_name, raw_file = disposition.get(b"name"), disposition.get(b"filename")
            part.name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            part.filename = raw_file.decode("utf-8", "replace") if raw_file is not None else None
        elif name == "content-type":
            part.content_type = value.decode("latin-1").strip()

    def _on_headers_finished(self) -> None:
        # A file part has a file name, or at least a content type of its own (a client that sends
        # a file without a name, as the SDKs do for an empty one).
        if self._part.filename is not None or self._part.content_type is not None:
            self._part.file = io.BytesIO()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        part.size += end - start
        if part.file is not None:
            with memoryview(data) as view:  # written as it is, not copied first
                part.write_file(view[start:end])
        else:
            part.data += data[start:end]
            if len(part.data) > MAX_FIELD_BYTES:
                raise InvalidError(f"The field '{part.name}' is longer than {MAX_FIELD_BYTES} bytes.")

    def _on_part_end(self) -> None:
        part, form = self._part, self.form
        if part.file is None:
            if part.name is not None:
                form.fields.setdefault(part.name, part.data.decode("utf-8", "replace"))
            return
        if part.name is None or part.name in form.files:
            part.discard()
            return
        part.file.seek(0)
        form.files[part.name] = Upload(
            part.name, part.filename or "", part.content_type, part.file, part.size, part.path
        )
        part.file = None  # the form's now


def parse_form(source: BinaryIO, content_type: str | None) -> Form:
    """The form in ``source`` (a ``multipart/form-data`` body with the given content type)."""
    reader = FormReader(content_type)
    for chunk in _chunks(source):
        reader.write(chunk)
    return reader.finish()


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk
