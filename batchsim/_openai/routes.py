"""OpenAI's routes: ``/v1/files`` (upload, list), ``/v1/files/{file_id}`` (retrieve, delete),
``/v1/files/{file_id}/content``, ``/v1/batches`` (create, list), ``/v1/batches/{batch_id}`` and
``/v1/batches/{batch_id}/cancel``. The kernel authenticates (a bearer token), injects faults
(``files.create``... ``batches.cancel``), journals and writes refusals in OpenAI's envelope."""

from __future__ import annotations

import asyncio

from .._engine.errors import InvalidError
from .._http.spec import Incoming, Operation, Outgoing
from .api import MAX_CREATE_BYTES, MAX_UPLOAD_BYTES, OpenAIApi

__all__ = ["operations"]

_OCTETS = b"application/octet-stream"


def _int(name: str, raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 12):
        raise InvalidError(
            f"Invalid '{name}': expected an integer, but got {raw[:40]!r} instead.", param=name, code="invalid_type"
        )
    return int(raw)


def operations(api: OpenAIApi) -> tuple[Operation, ...]:
    async def retrieve(call: Incoming) -> Outgoing:
        return Outgoing(api.retrieve(call.key, call.path_params["batch_id"]))

    async def create(call: Incoming) -> Outgoing:
        # The input file is read and checked now: in a worker thread, so that a 200 MB file never
        # holds up the other calls.
        created = await asyncio.to_thread(api.create, call.key, call.body)
        return Outgoing(created.answer, after=created.finish, after_large=created.large)

    async def listing(call: Incoming) -> Outgoing:
        return Outgoing(api.list(call.key, _int("limit", call.arg("limit"), 20), call.arg("after") or None))

    async def cancel(call: Incoming) -> Outgoing:
        return Outgoing(api.cancel(call.key, call.path_params["batch_id"]))

    async def upload(call: Incoming) -> Outgoing:
        assert call.form is not None  # parsed as it arrived; the kernel closes it
        answer = await asyncio.to_thread(api.upload, call.key, call.form)
        return Outgoing(answer)

    async def file(call: Incoming) -> Outgoing:
        return Outgoing(api.file(call.key, call.path_params["file_id"]))

    async def files(call: Incoming) -> Outgoing:
        page = api.list_files(
            call.key,
            call.arg("purpose") or None,
            _int("limit", call.arg("limit"), 10_000),
            call.arg("order") or "desc",
            call.arg("after") or None,
        )
        return Outgoing(page)

    async def content(call: Incoming) -> Outgoing:
        return Outgoing(api.content(call.key, call.path_params["file_id"]), content_type=_OCTETS)

    async def delete(call: Incoming) -> Outgoing:
        return Outgoing(api.delete_file(call.key, call.path_params["file_id"]))

    return (
        Operation("GET", "/v1/batches/{batch_id}", "batches.retrieve", retrieve),
        Operation("POST", "/v1/batches", "batches.create", create, body=MAX_CREATE_BYTES),
        Operation("GET", "/v1/batches", "batches.list", listing),
        Operation("POST", "/v1/batches/{batch_id}/cancel", "batches.cancel", cancel),
        Operation("POST", "/v1/files", "files.create", upload, body=MAX_UPLOAD_BYTES, form=True),
        Operation("GET", "/v1/files", "files.list", files),
        Operation("GET", "/v1/files/{file_id}", "files.retrieve", file),
        Operation("DELETE", "/v1/files/{file_id}", "files.delete", delete),
        Operation("GET", "/v1/files/{file_id}/content", "files.content", content),
    )
