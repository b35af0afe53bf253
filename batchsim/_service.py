"""The batch service: the six operations of the Message Batches API over a clock and a store.

Plain Python, no web framework: the HTTP layer parses and serializes, this module decides.
Wrong-state answers (the API does not document them; these are our choices):

* cancel of an ``ended`` batch: 400 ``invalid_request_error``;
* cancel of a ``canceling`` batch: 200, the batch unchanged (cancel is idempotent);
* delete of a batch that has not ended: 400 ``invalid_request_error`` ("cancel it first");
* results of a batch that has not ended: 400 ``invalid_request_error`` (the SDK never asks:
  ``results_url`` is null until the batch ends);
* results after archiving (29 days after creation): 404 ``not_found_error``;
* anything on a deleted or unknown id, or on another key's batch: 404 ``not_found_error``;
* list with an ``after_id``/``before_id`` this key never created: 400 ``invalid_request_error``.

400 rather than 409 keeps the SDK from retrying a request that can never succeed (it retries
409).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any

import orjson

from . import _spool
from ._batch import ARCHIVE_AFTER, Batch, plan_needs_params_checked
from ._clock import Clock
from ._errors import ApiError
from ._ids import make_id
from ._responder import Responder, load_canned
from ._scenario import Scenario
from ._spool import write_ahead
from ._store import MemoryStore, Store
from ._validation import parse_create

__all__ = ["BatchService"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
WRITE_AHEAD_MIN = _spool.FILE_MIN_REQUESTS
"""Batches of at least this many requests get their results file written in the background
right after the create."""


class BatchService:
    """Create, retrieve, list, cancel, delete and stream results of batches."""

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario | None = None,
        store: Store | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.clock = clock
        self.store: Store = store if store is not None else MemoryStore()
        self.responder = responder
        self._lock = threading.RLock()
        self._canned: Mapping[str, bytes] = {}
        self.scenario = scenario or Scenario()

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @scenario.setter
    def scenario(self, scenario: Scenario) -> None:
        canned = load_canned(scenario.canned) if scenario.canned else {}
        with self._lock:
            self._scenario = scenario
            self._canned = canned

    def reset(self) -> None:
        """Forget every batch and restart the id sequence."""
        with self._lock:
            self.store.clear()

    # -- the six operations ---------------------------------------------------------------------

    # Answers are ``MessageBatch`` objects (and list pages) already encoded as JSON: each batch
    # keeps its encoding for as long as it does not change (see :meth:`Batch.to_json`).

    def create(
        self, workspace: str, body: bytes, base_url: str, *, after_answer: list[Callable[[], None]] | None = None
    ) -> bytes:
        """Create a batch from a create body.

        With ``after_answer`` the work the answer does not need is left to the caller: a callable
        doing it is appended there, to run once the answer is sent. That work is freeing the
        parsed body, checking each request's params where the plan does not depend on them (the
        API checks them after accepting a batch too) and starting the write-ahead of results."""
        scenario = self._scenario
        later = after_answer is not None
        check_later = later and isinstance(self.store, MemoryStore) and not plan_needs_params_checked(scenario)
        parsed = parse_create(body, keep_body=later, check_params=not check_later)
        with self._lock:
            number = self.store.next_number()
            seed = hashlib.sha256(f"{scenario.seed}:{number}".encode()).hexdigest()
            batch_id = make_id("msgbatch_", random.Random(seed))
            while self.store.knows(workspace, batch_id):
                batch_id = make_id("msgbatch_", random.Random(batch_id))
            batch = Batch(
                id=batch_id,
                workspace=workspace,
                created_at=self.clock.now(),
                custom_ids=parsed.custom_ids,
                params=parsed.params,
                invalid=parsed.invalid,
                scenario=scenario,
                seed=seed,
                canned=self._canned,
            )
            if not parsed.checked:
                batch.check_params_later(parsed)
            self.store.add(batch)
        answer = batch.to_json(self.clock.now(), base_url)
        write = self.responder is None and len(batch.custom_ids) >= WRITE_AHEAD_MIN
        if after_answer is None:
            if write:
                write_ahead(batch.write_results_ahead)
            return answer

        def finish() -> None:
            try:
                batch.check_params()
            finally:
                parsed.release()
            if write:
                write_ahead(batch.write_results_ahead)

        after_answer.append(finish)
        return answer

    def retrieve(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        return self._get(workspace, batch_id).to_json(self.clock.now(), base_url)

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
            raise ApiError.invalid("Only one of after_id and before_id may be given")
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and not self.store.knows(workspace, cursor):
                raise ApiError.invalid(f"{name}: no message batch with id {cursor!r}")
        now = self.clock.now()
        page = self.store.page(workspace, limit, after_id, before_id)
        batches = page.batches
        data = b",".join([b.to_json(now, base_url) for b in batches])
        first, last = (orjson.dumps(batches[0].id), orjson.dumps(batches[-1].id)) if batches else (b"null", b"null")
        more = b"true" if page.has_more else b"false"
        return b'{"data":[%b],"has_more":%b,"first_id":%b,"last_id":%b}' % (data, more, first, last)

    def cancel(self, workspace: str, batch_id: str, base_url: str) -> bytes:
        with self._lock:
            batch = self._get(workspace, batch_id)
            now = self.clock.now()
            status = batch.status(now)
            if status == "ended":
                raise ApiError.invalid(f"Message batch {batch_id} has already ended and cannot be canceled.")
            if status == "in_progress":
                batch.cancel(now)
                self.store.save(batch)
            return batch.to_json(now, base_url)

    def delete(self, workspace: str, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._get(workspace, batch_id)
            status = batch.status(self.clock.now())
            if status != "ended":
                raise ApiError.invalid(
                    f"Message batch {batch_id} is {status} and cannot be deleted until it has ended; cancel it first."
                )
            batch.deleted = True
            self.store.save(batch)
            batch.drop_results()
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, workspace: str, batch_id: str) -> Generator[bytes, None, None]:
        """The results JSONL in chunks (an empty chunk: wait a moment, see :meth:`Batch.result_lines`).
        Checks happen before the first chunk is produced."""
        batch = self._get(workspace, batch_id)
        now = self.clock.now()
        status = batch.status(now)
        if status != "ended":
            raise ApiError.invalid(
                f"Message batch {batch_id} is {status}; results are available once processing has ended."
            )
        if now >= batch.created_at + ARCHIVE_AFTER:
            raise ApiError.not_found(
                f"Results of message batch {batch_id} are no longer available: results are kept for "
                "29 days after creation."
            )
        return batch.result_lines(self.responder)

    def _get(self, workspace: str, batch_id: str) -> Batch:
        batch = self.store.get(workspace, batch_id)
        if batch is None:
            raise ApiError.not_found(f"No message batch with id {batch_id!r} was found.")
        return batch
