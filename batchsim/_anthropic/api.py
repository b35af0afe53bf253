"""The six operations of the Message Batches API in wire form: bytes in, encoded JSON out.

This is the moto-style "responses" layer: it parses and validates create bodies, calls the
provider-neutral :class:`~batchsim._engine.service.BatchService`, and encodes its answers as the
API does. The HTTP layer above only reads the request and sends what this returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial

import orjson

from .._engine.errors import ApiError
from .._engine.ports import Entry
from .._engine.scenario import Scenario
from .._engine.service import BatchService, results_key
from .responder import Responder, load_canned
from .validation import parse_create
from .wire import batch_json, result_chunks

__all__ = ["DEFAULT_LIMIT", "FILE_MIN_REQUESTS", "MAX_LIMIT", "Created", "MessageBatches", "canned_of"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
FILE_MIN_REQUESTS = 1000
"""Batches with fewer requests generate their results at each download (a few milliseconds at
most); larger ones have their results file written ahead after the create and read back."""


def canned_of(scenario: Scenario) -> dict[str, bytes]:
    """The canned results a scenario names (read from its file)."""
    return load_canned(scenario.canned) if scenario.canned else {}


class Created:
    """A create's answer and the work left for after it is sent (see :meth:`MessageBatches.create`);
    ``large`` says whether that work is long enough (tens of milliseconds) to be run off the
    event loop."""

    __slots__ = ("answer", "finish", "large")

    def __init__(self, answer: bytes, finish: Callable[[], None], large: bool) -> None:
        self.answer = answer
        self.finish = finish
        self.large = large


class MessageBatches:
    """Create, retrieve, list, cancel, delete and stream results of message batches."""

    def __init__(self, service: BatchService, responder: Responder | None = None) -> None:
        self.service = service
        self.responder = responder

    @property
    def scenario(self) -> Scenario:
        return self.service.scenario

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        self.service.set_scenario(scenario, canned_of(scenario))

    def create(self, workspace: str, body: bytes, base_url: str, *, version: str | None = None) -> Created:
        """Create a batch from a create body sent with ``anthropic-version: version`` (its params
        are judged by that version's rules, see ``versions``; the version is stored with the
        batch). The answer is ready at once; :attr:`Created.finish`
        does what the answer does not need, to run once it is sent: checking each request's
        params where the plan does not depend on them (the API too checks them after accepting
        a batch), freeing the parsed body, and starting the write-ahead of large results."""
        service = self.service
        parsed = parse_create(body, keep_body=True, check_params=False, version=version)
        try:
            batch = service.create(workspace, parsed.custom_ids, parsed.params, parsed, api_version=version)
        except BaseException:
            parsed.release()
            raise
        answer = batch_json(batch, None, service.clock.now(), base_url)
        results = service.results
        write = results is not None and self.responder is None and len(batch.custom_ids) >= FILE_MIN_REQUESTS

        def finish() -> None:
            try:
                batch.check_params()
            finally:
                parsed.release()
            if write and results is not None:
                results.write_ahead(results_key(batch, None), partial(result_chunks, batch, None))

        return Created(answer, finish, len(batch.custom_ids) >= FILE_MIN_REQUESTS)

    def retrieve(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        entry = self.service.get(workspace, batch_id)
        return batch_json(entry.batch, entry.cancel_initiated_at, self.service.clock.now(), base_url)

    def list(
        self,
        workspace: str,
        base_url: str,
        limit: int = DEFAULT_LIMIT,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> bytes:
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError.invalid(f"limit: Input should be between 1 and {MAX_LIMIT}")
        if after_id is not None and before_id is not None:
            both = self.service.scenario.list_both_cursors
            if both == "error":
                raise ApiError.invalid("Only one of after_id and before_id may be given")
            after_id, before_id = (after_id, None) if both == "after_id" else (None, before_id)
        page = self.service.page(workspace, limit, after_id, before_id)
        now = self.service.clock.now()
        entries = page.entries
        data = b",".join([batch_json(e.batch, e.cancel_initiated_at, now, base_url) for e in entries])
        if entries:
            first, last = orjson.dumps(entries[0].batch.id), orjson.dumps(entries[-1].batch.id)
        else:
            first = last = b"null"
        more = b"true" if page.has_more else b"false"
        return b'{"data":[%b],"has_more":%b,"first_id":%b,"last_id":%b}' % (data, more, first, last)

    def cancel(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        entry = self.service.cancel(workspace, batch_id)
        return batch_json(entry.batch, entry.cancel_initiated_at, self.service.clock.now(), base_url)

    def delete(self, workspace: str, batch_id: str) -> bytes:
        self.service.delete(workspace, batch_id)
        return orjson.dumps({"id": batch_id, "type": "message_batch_deleted"})

    def results(self, workspace: str, batch_id: str) -> AsyncIterator[bytes]:
        """The results JSONL in chunks. Checks happen here, before the first chunk is asked for."""
        entry = self.service.ended(workspace, batch_id)
        return self._stream(entry)

    def _stream(self, entry: Entry) -> AsyncIterator[bytes]:
        batch, cancel_at = entry.batch, entry.cancel_initiated_at
        results = self.service.results
        if self.responder is not None or results is None or len(batch.custom_ids) < FILE_MIN_REQUESTS:
            return _generated(result_chunks(batch, cancel_at, self.responder))
        return results.stream(results_key(batch, cancel_at), partial(result_chunks, batch, cancel_at))


async def _generated(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
