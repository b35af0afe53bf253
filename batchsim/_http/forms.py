"""``multipart/form-data`` bodies (file uploads), parsed as they stream from a spooled body with
``python-multipart`` (the parser Starlette uses): file parts go to spooled temporary files, never
whole into memory; text fields are bounded. Framework-free: providers use it for their Files APIs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from .._engine.errors import InvalidError

__all__ = ["Form", "Upload", "parse_form"]

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64
_CHUNK = 64 * 1024
"""The reads a form is parsed in: small, so that an upload of any size holds little in memory."""
_SPOOL = 256 * 1024


@dataclass
class Upload:
    """A file part: its field name, file name, content type, size and bytes (a spooled file)."""

    name: str
    filename: str
    content_type: str | None
    file: BinaryIO
    size: int = 0


@dataclass
class Form:
    """A parsed form: text fields by name (the first of each name) and file parts by name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def close(self) -> None:
        for upload in self.files.values():
            upload.file.close()


class _Part:
    __slots__ = ("content_type", "data", "file", "filename", "name", "size")

    def __init__(self) -> None:
        self.name: str | None = None
        self.filename: str | None = None
        self.content_type: str | None = None
        self.data = bytearray()
        self.file: Any = None
        self.size = 0


def parse_form(source: BinaryIO, content_type: str | None) -> Form:
    """The form in ``source`` (a ``multipart/form-data`` body with the given content type);
    :class:`~batchsim._engine.errors.InvalidError` for anything that is not one."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidError(
            "The request must be a multipart/form-data upload with a boundary (Content-Type: multipart/form-data; "
            "boundary=...)."
        )
    form = Form()
    part = _Part()
    header: list[bytes] = [b"", b""]
    parts = 0

    def on_part_begin() -> None:
        nonlocal part, parts
        parts += 1
        if parts > MAX_PARTS:
            raise InvalidError(f"The upload has more than {MAX_PARTS} parts.")
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]
        if len(header[1]) > MAX_FIELD_BYTES:
            raise InvalidError("A part's header is too long.")

    def on_header_end() -> None:
        name, value = header[0].decode("latin-1").lower(), header[1]
        header[0], header[1] = b"", b""
        if name == "content-disposition":
            _, disposition = parse_options_header(value)
            raw_name, raw_file = disposition.get(b"name"), disposition.get(b"filename")
            part.name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            part.filename = raw_file.decode("utf-8", "replace") if raw_file is not None else None
        elif name == "content-type":
            part.content_type = value.decode("latin-1").strip()

    def on_headers_finished() -> None:
        # A file part has a file name, or at least a content type of its own (a client that sends
        # a file without a name, as the SDKs do for an empty one).
        if part.filename is not None or part.content_type is not None:
            part.file = tempfile.SpooledTemporaryFile(max_size=_SPOOL, prefix="batchsim-upload-")  # noqa: SIM115

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        part.size += len(chunk)
        if part.file is not None:
            part.file.write(chunk)
        else:
            part.data += chunk
            if len(part.data) > MAX_FIELD_BYTES:
                raise InvalidError(f"The field '{part.name}' is longer than {MAX_FIELD_BYTES} bytes.")

    def on_part_end() -> None:
        if part.name is None:
            if part.file is not None:
                part.file.close()
            return
        if part.file is not None:
            part.file.seek(0)
            if part.name in form.files:
                part.file.close()
            else:
                form.files[part.name] = Upload(part.name, part.filename or "", part.content_type, part.file, part.size)
        else:
            form.fields.setdefault(part.name, part.data.decode("utf-8", "replace"))

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        for chunk in _chunks(source):
            parser.write(chunk)
        parser.finalize()
    except InvalidError:
        form.close()
        if part.file is not None:
            part.file.close()
        raise
    except Exception:  # the parser's own errors: a malformed body
        form.close()
        if part.file is not None:
            part.file.close()
        raise InvalidError("The multipart/form-data body could not be parsed.") from None
    return form


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk
