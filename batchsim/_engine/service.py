"""The batch service: create, look up, list, cancel and delete batches over a clock and a store.

Provider-neutral: requests arrive already parsed (``custom_id`` and opaque params bytes);
encoding answers is the wire format's job. Wrong-state answers (the API does not document them;
these are our choices):

* cancel of an ``ended`` batch: 400 ``invalid_request_error``;
* cancel of a ``canceling`` batch: 200, the batch unchanged (cancel is idempotent);
* delete of a batch that has not ended: 400 ``invalid_request_error`` ("cancel it first");
* results of a batch that has not ended: 400 ``invalid_request_error``;
* results after archiving (29 days after creation): 404 ``not_found_error``;
* anything on a deleted or unknown id, or on another key's batch: 404 ``not_found_error``;
* list with an ``after_id``/``before_id`` this key never created: 400 ``invalid_request_error``;
* list with both ``after_id`` and ``before_id`` (decided by the wire layer): 400
  ``invalid_request_error``, unless the scenario's ``list_both_cursors`` makes one of them win.

400 rather than 409 keeps SDKs from retrying a request that can never succeed (they retry 409).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Mapping, Sequence

from .batch import ARCHIVE_AFTER, Batch, ParamsCheck, plan_needs_params_checked
from .clock import Clock
from .errors import ApiError
from .ids import make_id
from .ports import Entry, Page, ResultsFiles, Store
from .scenario import Scenario

__all__ = ["BatchService", "results_key"]


class BatchService:
    """The batches of one emulator. ``noun`` names a batch in error messages."""

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        store: Store,
        results: ResultsFiles | None = None,
        *,
        id_prefix: str = "batch_",
        noun: str = "Batch",
    ) -> None:
        self.clock = clock
        self.store = store
        self.results = results
        self.id_prefix = id_prefix
        self.noun = noun
        self._lock = threading.RLock()
        self.canned: Mapping[str, bytes] = {}
        self.scenario = scenario

    def set_scenario(self, scenario: Scenario, canned: Mapping[str, bytes]) -> None:
        """Make ``scenario`` (with its canned results, already read) apply to new batches."""
        with self._lock:
            self.scenario = scenario
            self.canned = canned

    def reset(self) -> None:
        """Forget every batch (and results file) and restart the id sequence."""
        with self._lock:
            self.store.clear()
            if self.results is not None:
                self.results.clear()

    def create(
        self,
        workspace: str,
        custom_ids: list[str],
        params: Sequence[bytes],
        check: ParamsCheck,
        *,
        api_version: str | None = None,
    ) -> Batch:
        """Create a batch. ``check`` finds the requests' params problems: now, when the scenario's
        plan depends on them, else after the create's answer (see
        :meth:`Batch.check_params_later`; the caller releases ``check``). ``api_version`` is the
        API version the create was sent with, kept with the batch."""
        scenario = self.scenario
        later = not plan_needs_params_checked(scenario)
        invalid = {} if later else dict(check.check_params())
        with self._lock:
            number = self.store.next_number()
            seed = hashlib.sha256(f"{scenario.seed}:{number}".encode()).hexdigest()
            batch_id = make_id(self.id_prefix, random.Random(seed))
            while self.store.knows(workspace, batch_id):
                batch_id = make_id(self.id_prefix, random.Random(batch_id))
            batch = Batch(
                id=batch_id,
                workspace=workspace,
                created_at=self.clock.now(),
                custom_ids=custom_ids,
                params=params,
                invalid=invalid,
                scenario=scenario,
                seed=seed,
                canned=self.canned,
                api_version=api_version,
            )
            if later:
                batch.check_params_later(check)
            self.store.add(batch)
        return batch

    def get(self, workspace: str, batch_id: str) -> Entry:
        entry = self.store.get(workspace, batch_id)
        if entry is None:
            raise self._not_found(batch_id)
        return entry

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page:
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and not self.store.knows(workspace, cursor):
                raise ApiError.invalid(f"{name}: no {self.noun.lower()} with id {cursor!r}")
        return self.store.page(workspace, limit, after_id, before_id)

    def cancel(self, workspace: str, batch_id: str) -> Entry:
        """Ask to cancel; the decision is taken on the stored record, atomically."""
        now = self.clock.now()

        def change(entry: Entry) -> Entry:
            status = entry.batch.status(now, entry.cancel_initiated_at)
            if status == "ended":
                raise ApiError.invalid(f"{self.noun} {batch_id} has already ended and cannot be canceled.")
            if status == "in_progress":
                return entry._replace(cancel_initiated_at=now)
            return entry  # canceling already: idempotent

        entry = self.store.update(workspace, batch_id, change)
        if entry is None:
            raise self._not_found(batch_id)
        if self.results is not None:  # a results file written ahead for the uncanceled end
            self.results.drop(results_key(entry.batch, None))
        return entry

    def delete(self, workspace: str, batch_id: str) -> None:
        now = self.clock.now()

        def change(entry: Entry) -> Entry:
            status = entry.batch.status(now, entry.cancel_initiated_at)
            if status != "ended":
                raise ApiError.invalid(
                    f"{self.noun} {batch_id} is {status} and cannot be deleted until it has ended; cancel it first."
                )
            return entry._replace(deleted=True)

        entry = self.store.update(workspace, batch_id, change)
        if entry is None:
            raise self._not_found(batch_id)
        if self.results is not None:
            self.results.drop(results_key(entry.batch, None))
            self.results.drop(results_key(entry.batch, entry.cancel_initiated_at))

    def ended(self, workspace: str, batch_id: str) -> Entry:
        """The batch whose results are asked for: it must have ended and not be archived."""
        entry = self.get(workspace, batch_id)
        batch = entry.batch
        now = self.clock.now()
        status = batch.status(now, entry.cancel_initiated_at)
        if status != "ended":
            raise ApiError.invalid(
                f"{self.noun} {batch_id} is {status}; results are available once processing has ended."
            )
        if now >= batch.created_at + ARCHIVE_AFTER:
            raise ApiError.not_found(
                f"Results of {self.noun.lower()} {batch_id} are no longer available: results are kept for "
                "29 days after creation."
            )
        return entry

    def _not_found(self, batch_id: str) -> ApiError:
        return ApiError.not_found(f"No {self.noun.lower()} with id {batch_id!r} was found.")


def results_key(batch: Batch, cancel_at: int | None) -> tuple[str, str, int, int | None]:
    """Names one final state of one batch among a service's results files."""
    return (batch.workspace, batch.id, batch.created_at, cancel_at)
