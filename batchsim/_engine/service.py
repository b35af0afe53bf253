"""The batch service: create, look up, list, cancel and delete the batches of one provider over a
clock and a store.

Provider-neutral: requests arrive already parsed (a key and opaque params bytes); encoding
answers, wording errors and the rules about results (when they may be read, for how long) are
the provider's. The service raises domain errors a provider words its own way:

* anything on an unknown id, a deleted one or another workspace's: :class:`NotFoundError`;
* a cancel of an ended batch, a delete of one that has not ended: :class:`WrongStateError` (the
  state named by its :class:`~batchsim._engine.batch.Phase`);
* a list cursor this workspace never created: :class:`InvalidError` naming the cursor.

Ids are minted from the scenario's seed and the creation number (a seed gives the same ids run
after run) and an ``epoch`` the emulator sets: every reset and every server start moves it, so an
id is never handed out twice while outcomes, which follow the seed and the number alone, replay.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .batch import Batch, Canned, ParamsCheck, Phase, Policy, Verdict, plan_needs_params_checked
from .clock import Clock
from .errors import InvalidError, NotFoundError, WrongStateError
from .ids import IdFormat
from .ports import Entry, Page, ResultsFiles, Store
from .scenario import Scenario

__all__ = ["BatchService", "results_key"]


class BatchService:
    """The batches of one provider in one emulator. ``what`` names a batch in default error
    messages; ``policy`` gives the provider's :class:`Policy` for a batch created under a scenario."""

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        store: Store,
        results: ResultsFiles | None = None,
        *,
        ids: IdFormat,
        what: str = "batch",
        policy: Callable[[Scenario], Policy] | None = None,
    ) -> None:
        self.clock = clock
        self.store = store
        self.results = results
        self.ids = ids
        self.what = what
        self.policy = policy or (lambda scenario: Policy())
        self.epoch = ""
        """Mixed into new ids (not into outcomes): see the module docstring."""
        self._lock = threading.RLock()
        self.canned: Mapping[str, Canned] = {}
        self.scenario = scenario

    def set_scenario(self, scenario: Scenario, canned: Mapping[str, Canned]) -> None:
        """Make ``scenario`` (with its canned results, already read) apply to new batches."""
        with self._lock:
            self.scenario = scenario
            self.canned = canned

    def reset(self) -> None:
        """Forget every batch (and results file) and restart the creation sequence."""
        with self._lock:
            self.store.clear()
            if self.results is not None:
                self.results.clear()

    def create(
        self,
        workspace: str,
        custom_ids: Sequence[str],
        params: Sequence[bytes],
        check: ParamsCheck | None = None,
        *,
        attrs: Mapping[str, Any] | None = None,
        failed: bool = False,
        verdict: Callable[[], Verdict] | None = None,
    ) -> Batch:
        """Create a batch. ``check`` finds the requests' params problems: now, when the scenario's
        plan depends on them or the store is durable, else later (see :meth:`finish`; the caller
        releases ``check``). ``attrs`` are the provider's facts kept with the batch; ``failed``
        makes it end, unrun, when it has validated. ``verdict`` validates the batch and gives its
        requests (``custom_ids`` and ``params`` are then empty): later, after the create's
        answer (:meth:`Batch.decide`), unless the store is durable (it takes a batch whole)."""
        scenario = self.scenario
        later = check is not None and not plan_needs_params_checked(scenario) and not self.store.durable
        invalid = dict(check.check_params()) if check is not None and not later else {}
        with self._lock:
            number = self.store.next_number()
            seed = hashlib.sha256(f"{scenario.seed}:{number}".encode()).hexdigest()
            batch_id = self.ids.make(random.Random(f"{seed}:{self.epoch}" if self.epoch else seed))
            while self.store.knows(workspace, batch_id):
                batch_id = self.ids.make(random.Random(batch_id))
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
                policy=self.policy(scenario),
                attrs=dict(attrs or {}),
                failed=failed,
            )
            if later and check is not None:
                batch.check_params_later(check)
            if verdict is not None:
                batch.decide_later(verdict)
                if self.store.durable:
                    batch.decide()
            batch = self.store.add(batch)
        return batch

    @staticmethod
    def finish(batch: Batch) -> None:
        """What a create leaves for after its answer: the params check, when it was deferred."""
        batch.check_params()

    def get(self, workspace: str, batch_id: str) -> Entry:
        entry = self.store.get(workspace, batch_id)
        if entry is None:
            raise NotFoundError(self.what, batch_id)
        return entry

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page:
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and not self.store.knows(workspace, cursor):
                raise InvalidError(f"{name}: no {self.what} with id {cursor!r}", param=name)
        return self.store.page(workspace, limit, after_id, before_id)

    def cancel(self, workspace: str, batch_id: str) -> Entry:
        """Ask to cancel; the decision is taken on the stored record, atomically. Canceling a
        batch that is canceling already changes nothing (cancel is idempotent)."""
        now = self.clock.now()

        def change(entry: Entry) -> Entry:
            phase = entry.batch.phase(now, entry.cancel_initiated_at)
            if phase == Phase.ENDED:
                raise WrongStateError(self.what, batch_id, "ended", "canceled")
            if phase != Phase.CANCELING:
                return entry._replace(cancel_initiated_at=now)
            return entry

        entry = self.store.update(workspace, batch_id, change)
        if entry is None:
            raise NotFoundError(self.what, batch_id)
        if self.results is not None:  # a results file written ahead for the uncanceled end
            self.results.drop(results_key(entry.batch, None))
        return entry

    def delete(self, workspace: str, batch_id: str) -> None:
        """Delete an ended batch."""
        now = self.clock.now()

        def change(entry: Entry) -> Entry:
            phase = entry.batch.phase(now, entry.cancel_initiated_at)
            if phase != Phase.ENDED:
                raise WrongStateError(self.what, batch_id, phase.name.lower(), "deleted")
            return entry._replace(deleted=True)

        entry = self.store.update(workspace, batch_id, change)
        if entry is None:
            raise NotFoundError(self.what, batch_id)
        if self.results is not None:
            self.results.drop(results_key(entry.batch, None))
            self.results.drop(results_key(entry.batch, entry.cancel_initiated_at))


def results_key(batch: Batch, cancel_at: int | None) -> tuple[str, str, int, int | None]:
    """Names one final state of one batch among a service's results files."""
    return (batch.workspace, batch.id, batch.created_at, cancel_at)
