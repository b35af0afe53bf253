"""What the dashboard shows of Anthropic's message batches (see :class:`~batchsim._http.spec.Console`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from .._engine.errors import NotFoundError
from .._engine.ports import Entry
from .api import MessageBatches
from .responder import default_error_message
from .validation import NOT_FOUND, problem_error
from .wire import batch_dict, cache_plan, result_json

__all__ = ["Console", "live_entries"]


def live_entries(store: Any) -> Iterator[Entry]:
    """Every live batch of a store, each workspace's newest first."""
    for workspace in store.workspaces():
        yield from store.page(workspace, 1 << 40, None, None).entries


class Console:
    name = "anthropic"
    statuses: tuple[str, ...] = ("in_progress", "canceling", "ended")
    deletable = True

    def __init__(self, api: MessageBatches) -> None:
        self.api = api

    def entries(self) -> Iterator[Entry]:
        """Every live batch, each settled first (a batch whose requests read files deleted before
        they finished shows those requests errored, as the API does)."""
        now = self.api.service.clock.now()
        for entry in live_entries(self.api.service.store):
            self.api.settle(entry, now)
            yield entry

    def find(self, batch_id: str) -> Entry | None:
        store = self.api.service.store
        for workspace in store.workspaces():
            entry: Entry | None = store.get(workspace, batch_id)
            if entry is not None:
                self.api.settle(entry, self.api.service.clock.now())
                return entry
        return None

    def status(self, entry: Entry, now: int) -> str:
        return entry.batch.status(now, entry.cancel_initiated_at)

    def show(self, entry: Entry, now: int, base_url: str) -> Any:
        self.api.settle(entry, now)
        return batch_dict(entry.batch, entry.cancel_initiated_at, now, base_url)

    def links(self, entry: Entry, now: int) -> dict[str, Any]:
        return {}

    def params(self, entry: Entry, index: int) -> Any:
        return orjson.loads(entry.batch.params[index])

    def error(self, entry: Entry, index: int) -> tuple[str, str] | None:
        self.api.settle(entry, self.api.service.clock.now())
        batch = entry.batch
        known = batch.errors.get(index)
        if known is not None:
            if known[1] is not None and known[1].startswith(NOT_FOUND):
                return problem_error(known[1])
            return known[0], known[1] or default_error_message(known[0])
        canned = batch.canned.get(batch.custom_ids[index])
        if canned is not None:
            try:
                error = orjson.loads(canned.payload)["error"]["error"]
                return str(error["type"]), str(error.get("message", ""))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return None
        return None

    def result(self, entry: Entry, index: int) -> Any:
        self.api.settle(entry, self.api.service.clock.now())
        batch, cancel = entry.batch, entry.cancel_initiated_at
        final = batch.final(cancel)
        cache = cache_plan(batch, cancel, final).get(index)
        return orjson.loads(result_json(batch, index, final.outcomes[index], self.api.responder, cache))

    def results(self, entry: Entry) -> AsyncIterator[bytes]:
        return self.api.stream(entry)

    def cancel(self, entry: Entry) -> None:
        self.api.service.cancel(entry.batch.workspace, entry.batch.id)

    def delete(self, entry: Entry) -> None:
        self.api.service.delete(entry.batch.workspace, entry.batch.id)

    def files(self, entry: Entry, now: int) -> dict[str, str]:
        return {}  # its results are the results download, not a file

    def file(self, entry: Entry, name: str) -> AsyncIterator[bytes]:
        raise NotFoundError("file", name, f"Message batch {entry.batch.id} has no {name!r} file.")
