"""What the dashboard shows of OpenAI's batches (see :class:`~batchsim._http.spec.Console`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from .._engine.errors import InvalidError, NotFoundError
from .._engine.ports import Entry
from .api import OpenAIApi
from .wire import FILE_EXPIRY, batch_dict, made_files, output_chunks, request_line, status_name

__all__ = ["Console"]


class Console:
    name = "openai"
    statuses: tuple[str, ...] = (
        "validating",
        "in_progress",
        "finalizing",
        "cancelling",
        "completed",
        "failed",
        "expired",
        "cancelled",
    )
    deletable = False

    def __init__(self, api: OpenAIApi) -> None:
        self.api = api

    def entries(self) -> Iterator[Entry]:
        store = self.api.service.store
        for workspace in store.workspaces():
            yield from store.page(workspace, 1 << 40, None, None).entries

    def find(self, batch_id: str) -> Entry | None:
        store = self.api.service.store
        for workspace in store.workspaces():
            entry: Entry | None = store.get(workspace, batch_id)
            if entry is not None:
                return entry
        return None

    def status(self, entry: Entry, now: int) -> str:
        return status_name(entry.batch, now, entry.cancel_initiated_at)

    def show(self, entry: Entry, now: int, base_url: str) -> Any:
        return batch_dict(entry.batch, entry.cancel_initiated_at, now, self.api.settings.count_expired_as_failed)

    def links(self, entry: Entry, now: int) -> dict[str, Any]:
        output, error = made_files(entry.batch, entry.cancel_initiated_at, now)
        attrs = entry.batch.attrs
        return {
            "input_file_id": attrs.get("input_file_id"),
            "output_file_id": output,
            "error_file_id": error,
            "endpoint": attrs.get("endpoint"),
            "errors": attrs.get("errors"),
        }

    def params(self, entry: Entry, index: int) -> Any:
        return orjson.loads(entry.batch.params[index])

    def error(self, entry: Entry, index: int) -> tuple[str, str] | None:
        line = orjson.loads(request_line(entry.batch, index, 1))
        response = line.get("response") or {}
        error = (response.get("body") or {}).get("error") or line.get("error") or {}
        kind = error.get("type") or error.get("code")
        return (str(kind), str(error.get("message", ""))) if kind else None

    def result(self, entry: Entry, index: int) -> Any:
        final = entry.batch.final(entry.cancel_initiated_at)
        return orjson.loads(request_line(entry.batch, index, final.outcomes[index]))

    async def results(self, entry: Entry) -> AsyncIterator[bytes]:
        """The output file's lines, then the error file's."""
        for errors in (False, True):
            for chunk in output_chunks(entry.batch, entry.cancel_initiated_at, errors):
                yield chunk

    def cancel(self, entry: Entry) -> None:
        self.api.cancel(entry.batch.workspace, entry.batch.id)

    def delete(self, entry: Entry) -> None:
        raise InvalidError(f"OpenAI's Batch API cannot delete a batch ({entry.batch.id}): cancel it, or reset.")

    def files(self, entry: Entry, now: int) -> dict[str, str]:
        """The output and error files the batch has made, unless deleted or expired."""
        batch, cancel = entry.batch, entry.cancel_initiated_at
        output, error = made_files(batch, cancel, now)
        expiry = batch.attrs.get("output_expires_after") or FILE_EXPIRY // 1_000_000
        if now >= (batch.ended_at(cancel) // 1_000_000 + int(expiry)) * 1_000_000:  # as the files API says
            return {}
        found: dict[str, str] = {}
        for name, file_id in (("output", output), ("error", error)):
            if file_id is not None and not self.api.files.gone(batch.workspace, file_id):
                found[name] = file_id
        return found

    def file(self, entry: Entry, name: str) -> AsyncIterator[bytes]:
        file_id = self.files(entry, self.api.service.clock.now()).get(name)
        if file_id is None:
            raise NotFoundError("file", name, f"Batch {entry.batch.id} has no {name} file.")
        return self.api.content(entry.batch.workspace, file_id)
