"""Anthropic's routes: each reads the call (path, query, body), runs the operation and answers the
bytes it returns. The HTTP kernel (``batchsim._http``) authenticates, injects faults, journals and
writes refusals in the envelope of :class:`~batchsim._anthropic.errors.AnthropicDialect`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from .._engine.errors import InvalidError
from .._http.spec import Incoming, Operation, Outgoing
from .api import DEFAULT_LIMIT, MessageBatches
from .files import MAX_UPLOAD_BYTES, AnthropicFiles
from .messages import MAX_COUNT_BODY_BYTES, MessagesApi
from .validation import MAX_BODY_BYTES

__all__ = ["JSONL", "around_operations", "batch_operations", "files_operations"]

_OCTETS = b"application/octet-stream"

JSONL = b"application/x-jsonl"
PREFIX = "/v1/messages/batches"


def _limit(raw: str | None) -> int:
    """The ``limit`` query value: absent means the default; present, it must be an integer (an
    empty ``limit=`` is refused, as a typed query parameter is)."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise InvalidError(
            f"limit: Input should be a valid integer, unable to parse string as an integer: {raw!r}"
        ) from None


def batch_operations(api: MessageBatches) -> tuple[Operation, ...]:
    """The six Message Batches routes (retrieve first: the most frequent call)."""

    async def create(call: Incoming) -> Outgoing:
        # What the answer does not need (freeing a parsed body of up to a million objects,
        # checking params) runs once it is sent: for a large batch in a worker thread, so the
        # event loop keeps answering other calls meanwhile; for a small one right on the loop
        # (a thread hop would cost more than the work). The params are judged by the create
        # call's API version.
        created = api.create(call.key, call.body, call.base_url, version=call.header(b"anthropic-version"))
        return Outgoing(created.answer, after=created.finish, after_large=created.large)

    async def retrieve(call: Incoming) -> Outgoing:
        return Outgoing(api.retrieve(call.key, call.path_params["batch_id"], call.base_url))

    async def listing(call: Incoming) -> Outgoing:
        page = api.list(
            call.key,
            call.base_url,
            limit=_limit(call.arg("limit")),
            after_id=call.arg("after_id") or None,
            before_id=call.arg("before_id") or None,
        )
        return Outgoing(page)

    async def cancel(call: Incoming) -> Outgoing:
        return Outgoing(api.cancel(call.key, call.path_params["batch_id"], call.base_url))

    async def delete(call: Incoming) -> Outgoing:
        return Outgoing(api.delete(call.key, call.path_params["batch_id"]))

    async def results(call: Incoming) -> Outgoing:
        return Outgoing(api.results(call.key, call.path_params["batch_id"]), content_type=JSONL)

    return (
        Operation("GET", PREFIX + "/{batch_id}", "retrieve", retrieve),
        Operation("POST", PREFIX, "create", create, body=MAX_BODY_BYTES),
        Operation("GET", PREFIX, "list", listing),
        Operation("DELETE", PREFIX + "/{batch_id}", "delete", delete),
        Operation("POST", PREFIX + "/{batch_id}/cancel", "cancel", cancel),
        Operation("GET", PREFIX + "/{batch_id}/results", "results", results),
    )


def around_operations(api: MessagesApi) -> tuple[Operation, ...]:
    """Token counting and the models (``?beta=true`` and beta headers are accepted as they come)."""

    async def count_tokens(call: Incoming) -> Outgoing:
        return Outgoing(api.count_tokens(call.key, call.body, call.header(b"anthropic-version")))

    async def models(call: Incoming) -> Outgoing:
        page = api.list_models(_limit(call.arg("limit")), call.arg("after_id") or None, call.arg("before_id") or None)
        return Outgoing(page)

    async def model(call: Incoming) -> Outgoing:
        return Outgoing(api.retrieve_model(call.path_params["model_id"]))

    return (
        Operation("POST", "/v1/messages/count_tokens", "count_tokens", count_tokens, body=MAX_COUNT_BODY_BYTES),
        Operation("GET", "/v1/models", "models.list", models),
        Operation("GET", "/v1/models/{model_id}", "models.retrieve", model),
    )


def files_operations(api: AnthropicFiles) -> tuple[Operation, ...]:
    """The Files API, GA routes and the ``files-api-2025-04-14`` beta alike (a call on
    ``/v1/files`` is Anthropic's when it carries ``anthropic-version``, else OpenAI's)."""

    async def upload(call: Incoming) -> Outgoing:
        assert call.file is not None
        answer = await asyncio.to_thread(api.upload, call.key, call.file, call.header(b"content-type"))
        return Outgoing(answer)

    async def listing(call: Incoming) -> Outgoing:
        page = api.list_files(
            call.key, _limit(call.arg("limit")), call.arg("after_id") or None, call.arg("before_id") or None
        )
        return Outgoing(page)

    async def retrieve(call: Incoming) -> Outgoing:
        return Outgoing(api.retrieve(call.key, call.path_params["file_id"]))

    async def download(call: Incoming) -> Outgoing:
        chunks = api.download(call.key, call.path_params["file_id"])
        return Outgoing(_stream(chunks), content_type=_OCTETS)

    async def delete(call: Incoming) -> Outgoing:
        return Outgoing(api.delete(call.key, call.path_params["file_id"]))

    return (
        Operation("POST", "/v1/files", "anthropic.files.upload", upload, body=MAX_UPLOAD_BYTES, spool=True),
        Operation("GET", "/v1/files", "anthropic.files.list", listing),
        Operation("GET", "/v1/files/{file_id}", "anthropic.files.retrieve", retrieve),
        Operation("DELETE", "/v1/files/{file_id}", "anthropic.files.delete", delete),
        Operation("GET", "/v1/files/{file_id}/content", "anthropic.files.download", download),
    )


async def _stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
