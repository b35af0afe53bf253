"""Gemini's routes, each under ``/v1`` and ``/v1beta`` (google-genai 3.x speaks ``v1``, 1.x and
Google's REST guide ``v1beta``):

* ``POST /{v}/models/{model}:batchGenerateContent`` and ``:asyncBatchEmbedContent`` (create);
* ``GET /{v}/batches`` (list), ``GET|DELETE /{v}/batches/{id}``, ``POST /{v}/batches/{id}:cancel``;
* ``POST /upload/{v}/files`` (a resumable upload's ``start``) and the upload URL it answers,
  ``POST /upload/{v}/files/sessions/{upload_id}``, which needs no key (the SDK sends none);
* ``GET /{v}/files`` (list), ``GET|DELETE /{v}/files/{id}``, and downloads at
  ``GET /{v}/files/{id}:download`` (what the SDK calls) and ``GET /download/{v}/files/{id}:download``
  (what the REST guide calls).

The kernel authenticates (``x-goog-api-key`` or ``?key=``), injects faults (``gemini.batches.*``,
``gemini.files.*``), journals and writes refusals in Google's envelope.
"""

from __future__ import annotations

import asyncio

from .._http.spec import Incoming, Operation, Outgoing
from .api import MAX_FILE_BYTES, MAX_INLINE_BYTES, MAX_START_BYTES, GeminiApi
from .requests import EMBED, GENERATE

__all__ = ["VERSIONS", "operations"]

VERSIONS = ("v1", "v1beta")
_JSONL = b"application/jsonl"


def _headers(call: Incoming) -> dict[str, str]:
    """The call's headers by lower-case name (the first of each)."""
    found: dict[str, str] = {}
    for name, value in call.headers:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1").strip())
    return found


def _operations(api: GeminiApi, v: str) -> tuple[Operation, ...]:
    def create(kind: str) -> Operation:
        async def handler(call: Incoming) -> Outgoing:
            model = call.path_params["model"]
            if b'"fileName"' in call.body[:4096] or b'"file_name"' in call.body[:4096]:
                # A file's lines are read and checked now: in a worker thread.
                created = await asyncio.to_thread(api.create, call.key, model, call.body, kind)
            else:
                created = api.create(call.key, model, call.body, kind)
            return Outgoing(created.answer, after=created.finish, after_large=True)

        action = "batchGenerateContent" if kind == GENERATE else "asyncBatchEmbedContent"
        return Operation(
            "POST", f"/{v}/models/{{model}}:{action}", "gemini.batches.create", handler, body=MAX_INLINE_BYTES
        )

    async def get(call: Incoming) -> Outgoing:
        return Outgoing(api.get(call.key, call.path_params["batch_id"]))

    async def listing(call: Incoming) -> Outgoing:
        return Outgoing(
            api.list_batches(call.key, call.arg("pageSize") or call.arg("page_size"), call.arg("pageToken"))
        )

    async def cancel(call: Incoming) -> Outgoing:
        return Outgoing(api.cancel(call.key, call.path_params["batch_id"]))

    async def delete(call: Incoming) -> Outgoing:
        return Outgoing(api.delete(call.key, call.path_params["batch_id"]))

    async def start(call: Incoming) -> Outgoing:
        upload = api.start_upload(call.key, _headers(call), call.body, call.base_url, v)
        return Outgoing(upload.body, headers=upload.headers)

    async def chunk(call: Incoming) -> Outgoing:
        assert call.file is not None
        source, headers, base = call.file, _headers(call), call.base_url
        upload = await asyncio.to_thread(api.upload_chunk, call.path_params["upload_id"], headers, source, base)
        return Outgoing(upload.body, headers=upload.headers)

    async def file(call: Incoming) -> Outgoing:
        return Outgoing(api.file(call.key, call.path_params["file_id"], call.base_url, v))

    async def files(call: Incoming) -> Outgoing:
        page = api.list_files(
            call.key,
            call.arg("pageSize") or call.arg("page_size"),
            call.arg("pageToken") or call.arg("page_token"),
            call.base_url,
            v,
        )
        return Outgoing(page)

    async def delete_file(call: Incoming) -> Outgoing:
        return Outgoing(api.delete_file(call.key, call.path_params["file_id"]))

    async def download(call: Incoming) -> Outgoing:
        return Outgoing(api.download(call.key, call.path_params["file_id"]), content_type=_JSONL)

    return (
        create(GENERATE),
        create(EMBED),
        Operation("GET", f"/{v}/batches", "gemini.batches.list", listing),
        Operation("POST", f"/{v}/batches/{{batch_id}}:cancel", "gemini.batches.cancel", cancel),
        Operation("GET", f"/{v}/batches/{{batch_id}}", "gemini.batches.get", get),
        Operation("DELETE", f"/{v}/batches/{{batch_id}}", "gemini.batches.delete", delete),
        Operation("POST", f"/upload/{v}/files", "gemini.files.upload", start, body=MAX_START_BYTES),
        Operation(
            "POST",
            f"/upload/{v}/files/sessions/{{upload_id}}",
            "gemini.files.upload",
            chunk,
            body=MAX_FILE_BYTES + 1,
            spool=True,
            auth=False,
        ),
        Operation("GET", f"/{v}/files/{{file_id}}:download", "gemini.files.download", download),
        Operation("GET", f"/download/{v}/files/{{file_id}}:download", "gemini.files.download", download),
        Operation("GET", f"/{v}/files", "gemini.files.list", files),
        Operation("GET", f"/{v}/files/{{file_id}}", "gemini.files.get", file),
        Operation("DELETE", f"/{v}/files/{{file_id}}", "gemini.files.delete", delete_file),
    )


def operations(api: GeminiApi) -> tuple[Operation, ...]:
    """Every route of the provider, under each API version; a batch's get first (routes are
    matched in order, and polling is what a batch client does most)."""
    every = [op for v in VERSIONS for op in _operations(api, v)]
    gets = [op for op in every if op.endpoint == "gemini.batches.get"]
    return (*gets, *(op for op in every if op.endpoint != "gemini.batches.get"))
