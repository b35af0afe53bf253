"""What the dashboard shows of Gemini's batches (see :class:`~batchsim._http.spec.Console`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from .._engine.batch import ERRORED
from .._engine.errors import NotFoundError
from .._engine.ports import Entry
from .api import GeminiApi
from .wire import STATES, error_words, has_output, operation, response_chunks, responses_file_id, state_name
from .wire import result_of as _result_of

__all__ = ["Console"]


class Console:
    name = "gemini"
    statuses: tuple[str, ...] = STATES
    deletable = True

    def __init__(self, api: GeminiApi) -> None:
        self.api = api

    def entries(self) -> Iterator[Entry]:
        store = self.api.service.store
        for workspace in store.workspaces():
            yield from store.page(workspace, 1 << 40, None, None).entries

    def find(self, batch_id: str) -> Entry | None:
        batch_id = batch_id.removeprefix("batches/")
        store = self.api.service.store
        for workspace in store.workspaces():
            entry: Entry | None = store.get(workspace, batch_id)
            if entry is not None:
                return entry
        return None

    def status(self, entry: Entry, now: int) -> str:
        return state_name(entry.batch, now, entry.cancel_initiated_at)

    def show(self, entry: Entry, now: int, base_url: str) -> Any:
        return operation(entry.batch, entry.cancel_initiated_at, now)

    def links(self, entry: Entry, now: int) -> dict[str, Any]:
        batch, cancel = entry.batch, entry.cancel_initiated_at
        attrs = batch.attrs
        responses = None
        if attrs.get("inputFile") is not None and now >= batch.ended_at(cancel) and has_output(batch, cancel):
            responses = f"files/{responses_file_id(batch.id)}"
        return {
            "name": f"batches/{batch.id}",
            "model": attrs.get("model"),
            "display_name": attrs.get("displayName"),
            "input_file": attrs.get("inputFile"),
            "responses_file": responses,
            "failure": attrs.get("failure"),
        }

    def params(self, entry: Entry, index: int) -> Any:
        return orjson.loads(entry.batch.params[index])

    def error(self, entry: Entry, index: int) -> tuple[str, str] | None:
        found = entry.batch.errors.get(index)
        if found is not None:
            return error_words(*found)
        error = _result_of(entry.batch, index, ERRORED).get("error")  # a canned error line
        if not isinstance(error, dict):
            return None
        return str(error.get("status") or error.get("code")), str(error.get("message", ""))

    def result(self, entry: Entry, index: int) -> Any:
        final = entry.batch.final(entry.cancel_initiated_at)
        return {"key": entry.batch.custom_ids[index], **_result_of(entry.batch, index, final.outcomes[index])}

    async def results(self, entry: Entry) -> AsyncIterator[bytes]:
        """Every request's result line (``{"key", "response"|"error"}``), in input order."""
        for chunk in response_chunks(entry.batch, entry.cancel_initiated_at):
            yield chunk

    def cancel(self, entry: Entry) -> None:
        self.api.cancel(entry.batch.workspace, entry.batch.id)

    def delete(self, entry: Entry) -> None:
        """As the API does, whatever its state (the dashboard offers it once the batch ended)."""
        self.api.delete(entry.batch.workspace, entry.batch.id)

    def files(self, entry: Entry, now: int) -> dict[str, str]:
        """A file-input batch's responses file, once it has one (unless deleted or expired)."""
        file_id = responses_file_id(entry.batch.id)
        if self.api._has_file(entry) and not self.api.files.gone(entry.batch.workspace, file_id):
            return {"responses": f"files/{file_id}"}
        return {}

    def file(self, entry: Entry, name: str) -> AsyncIterator[bytes]:
        if name not in self.files(entry, self.api.service.clock.now()):
            raise NotFoundError("file", name, f"Batch {entry.batch.id} has no {name} file.")
        return self.api.download(entry.batch.workspace, responses_file_id(entry.batch.id))
