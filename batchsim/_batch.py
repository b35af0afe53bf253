"""One batch: its requests, its seeded plan, and its state as a function of time.

Nothing here is pushed by timers. At creation every request gets, from the scenario and the
batch's seed, a start time, a finish time and a planned outcome; everything a client can see
(``processing_status``, ``request_counts``, ``ended_at``, results) is computed from "now" and the
time a cancel was asked for. That keeps the virtual clock trivial, runs exactly reproducible,
and retrieve O(log n) even on a 100,000-request batch.

Rules of the lifecycle (times are offsets from ``created_at``):

* expiry ``E`` is 24 h; results are archived at 29 days (``archived_at`` is set, results 404);
* without cancel the batch ends when its last request finishes, or at ``E`` if that is earlier
  or if any request is planned to expire (such a request never finishes);
* a cancel at ``c`` lets requests already started finish; the batch ends at
  ``max(c + cancel_delay, last finish of a started request)`` (never after ``E``, and at least a
  microsecond after ``c``, so the cancel's answer says ``canceling``); requests not started by
  ``c`` end ``canceled``;
* requests not finished at the end are ``expired``;
* every request sits in ``processing`` until the batch has ended, as the real API reports.
"""

from __future__ import annotations

import random
import threading
import time
from array import array
from bisect import bisect_right
from collections.abc import Generator, Iterable, Iterator, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from . import _spool
from ._clock import MICROS, rfc3339
from ._ids import derived_id
from ._responder import Responder, complete_message, default_error_message, default_message_json
from ._scenario import Scenario
from ._spool import Spool, keep

__all__ = ["ARCHIVE_AFTER", "EXPIRES_AFTER", "Batch", "plan_needs_params_checked"]

EXPIRES_AFTER = 24 * 3600 * MICROS
ARCHIVE_AFTER = 29 * 24 * 3600 * MICROS
_NEVER = 1 << 62
_UNSET = object()

SUCCEEDED, ERRORED, EXPIRED, CANCELED = 0, 1, 2, 3
OUTCOME_NAMES = ("succeeded", "errored", "expired", "canceled")
_CODES = {name: code for code, name in enumerate(OUTCOME_NAMES)}
_CHUNK_LINES = 256
_FIRST_CHUNK_LINES = 16


class _ParamsCheck(Protocol):
    def check_params(self) -> dict[int, str]: ...

    def release(self) -> None: ...


def _draws_matter(scenario: Scenario) -> bool:
    """Whether the plan's per-request draws (after the shuffle) change anything: only with outcome
    fractions or jitter."""
    outcomes = scenario.outcomes
    return bool(outcomes.errored or outcomes.expired or scenario.timing.jitter)


def plan_needs_params_checked(scenario: Scenario) -> bool:
    """Whether a batch's plan depends on which requests have invalid params: with per-request
    draws (outcome fractions, jitter) or rules, invalid requests take no draw and match no rule.
    Otherwise the params can be checked after the plan (see :meth:`Batch.check_params_later`)."""
    return _draws_matter(scenario) or bool(scenario.rules)


def _shuffle(rng: random.Random, items: MutableSequence[int]) -> None:
    """``rng.shuffle(items)``, the same draws in the same order, without a call per draw."""
    if type(rng)._randbelow is not random.Random._randbelow_with_getrandbits:  # type: ignore[attr-defined]
        rng.shuffle(items)
        return
    getrandbits = rng.getrandbits
    for i in reversed(range(1, len(items))):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        items[i], items[j] = items[j], items[i]


def _inverse(permutation: array[int]) -> list[int]:
    inverse = [0] * len(permutation)
    for i, p in enumerate(permutation):
        inverse[p] = i
    return inverse


@dataclass(eq=False)
class _Final:
    """What a batch ended with, for one cancel time (cached)."""

    end: int
    outcomes: bytearray
    counts: dict[str, int]
    order: list[int] | None = None
    spool: Spool | None = None  # the results JSONL, once written (see ``_spool``)
    downloads_writing: int = 0  # downloads writing their own copy (see ``Batch.result_lines``)


@dataclass
class Batch:
    """A batch and its deterministic plan. ``created_at`` and cancel times are epoch microseconds."""

    id: str
    workspace: str
    created_at: int
    custom_ids: list[str]
    params: Sequence[bytes]  # each request's params as compact JSON (a PackedParams)
    invalid: dict[int, str]
    scenario: Scenario
    seed: str
    canned: Mapping[str, bytes] = field(default_factory=dict)
    cancel_initiated_at: int | None = None
    deleted: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.RLock()  # the lazy parts of the plan, the final state, the results file
        self._final: _Final | None = None
        self._ended_for: Any = _UNSET  # the cancel time ``_ended_at`` was computed for
        self._ended_at = 0
        self._json: dict[tuple[Any, ...], bytes] = {}
        self._last: tuple[int, int, str | None, int | None, bytes] = (0, 0, None, None, b"")
        self._unchecked: _ParamsCheck | None = None
        self._plan()

    # -- the plan -------------------------------------------------------------------------------

    def _plan(self) -> None:
        n = len(self.custom_ids)
        rng = random.Random(self.seed)
        outcomes = self.scenario.outcomes
        timing = self.scenario.timing
        # Without draws that matter, the shuffle (the generator's first use) can wait until
        # results need it.
        draws_matter = _draws_matter(self.scenario)
        rank: array[int] | None = None
        if draws_matter:
            rank = self._shuffled(rng)  # rank[i]: tie-breaker and processing position source
        planned = bytearray(n)
        errors: dict[int, tuple[str, str]] = {}
        rules = self.scenario.rules
        error_names = list(outcomes.error_types)
        error_weights = list(outcomes.error_types.values())
        # Without draws that matter only the requests that are invalid, canned or matched by a
        # rule need a look.
        custom_ids = self.custom_ids
        if draws_matter or rules:
            look_at: Iterable[int] = range(n)
        else:
            canned_at = [i for i, cid in enumerate(custom_ids) if cid in self.canned] if self.canned else []
            look_at = sorted({*self.invalid, *canned_at})
        for i in look_at:
            cid = custom_ids[i]
            if i in self.invalid:
                planned[i] = ERRORED
                errors[i] = ("invalid_request_error", self.invalid[i])
                continue
            canned = self.canned.get(cid)
            if canned is not None:
                planned[i] = _CODES[orjson.loads(canned)["type"]]
                continue
            rule = next((r for r in rules if r.matches(cid)), None) if rules else None
            if rule is not None:
                planned[i] = _CODES[rule.result]
                if rule.result == "errored":
                    errors[i] = (rule.error_type, rule.message or default_error_message(rule.error_type))
                continue
            u = rng.random()
            if u < outcomes.errored:
                kind = rng.choices(error_names, error_weights)[0]
                planned[i] = ERRORED
                errors[i] = (kind, default_error_message(kind))
            elif u < outcomes.errored + outcomes.expired:
                planned[i] = EXPIRED
        # Requests planned to expire never start; the others run in a seeded order (by rank:
        # ``rank`` is a permutation, so that order is its inverse, minus the expired). Without
        # expired requests or jitter, request i simply starts at position rank[i].
        expires = EXPIRED in planned
        order = None
        if expires or timing.jitter:
            if rank is None:
                rank = self._shuffled(random.Random(self.seed))
            order = _inverse(rank)
            if expires:
                order = [i for i in order if planned[i] != EXPIRED]
        start_delay = round(timing.start_delay * MICROS)
        per = timing.per_request * MICROS
        jitter = timing.jitter
        # Without expiries or jitter (``order`` is None) each request's start and finish follow
        # from its rank alone: they are computed on first need (see :meth:`_timeline`).
        start: array[int] | None = None
        finish: array[int] | None = None
        if order is not None and jitter:
            start, finish = array("q", [_NEVER]) * n, array("q", [_NEVER]) * n
            starts_in_order = array("q")
            prefix_max = array("q")
            latest = 0
            for pos, i in enumerate(order):
                s = start_delay + round((pos // timing.concurrency) * per)
                d = per * (1.0 + jitter * (2.0 * rng.random() - 1.0))
                f = s + max(1, round(d))
                start[i], finish[i] = s, f
                latest = max(latest, f)
                starts_in_order.append(s)
                prefix_max.append(latest)
        else:
            # Every request takes ``per``: starts go up one block of ``concurrency`` at a time,
            # and the latest finish so far is the current start plus ``per``.
            m, concurrency, duration = n if order is None else len(order), timing.concurrency, max(1, round(per))
            starts_in_order = array("q")
            for block in range(0, m, concurrency):
                s = start_delay + round((block // concurrency) * per)
                starts_in_order.extend(array("q", [s]) * min(concurrency, m - block))
            prefix_max = array("q", map(duration.__add__, starts_in_order))
            if order is not None:
                start, finish = array("q", [_NEVER]) * n, array("q", [_NEVER]) * n
                for i, s in zip(order, starts_in_order, strict=True):
                    start[i] = s
                    finish[i] = s + duration
        self._planned = planned
        self._errors = errors
        self._rank = rank
        self._start = start
        self._finish = finish
        self._starts_in_order = starts_in_order
        self._prefix_max = prefix_max
        self._stuck = expires

    def _shuffled(self, rng: random.Random) -> array[int]:
        rank = array("q", range(len(self.custom_ids)))
        _shuffle(rng, rank)
        return rank

    def _timeline(self) -> tuple[array[int], array[int], array[int]]:
        """``(rank, start, finish)`` per request (computed now if the plan deferred them: the
        rank when nothing drew it yet, start and finish from it)."""
        rank, start, finish = self._rank, self._start, self._finish
        if rank is None or start is None or finish is None:
            with self._lock:
                rank = self._rank if self._rank is not None else self._shuffled(random.Random(self.seed))
                start = self._start
                if start is None:
                    start = array("q", map(self._starts_in_order.__getitem__, rank))
                finish = self._finish
                if finish is None:
                    duration = max(1, round(self.scenario.timing.per_request * MICROS))
                    finish = array("q", map(duration.__add__, start))
                self._rank, self._start, self._finish = rank, start, finish
        return rank, start, finish

    # -- state at a time ------------------------------------------------------------------------

    def end_offset(self, cancel_at: int | None) -> int:
        """When the batch ends (offset from creation) given a cancel time (absolute) or none."""
        if cancel_at is None:
            natural = EXPIRES_AFTER if self._stuck else (self._prefix_max[-1] if self._prefix_max else 0)
            return min(EXPIRES_AFTER, natural)
        c = cancel_at - self.created_at
        k = bisect_right(self._starts_in_order, c)
        in_flight = self._prefix_max[k - 1] if k else 0
        # Never at the cancel itself: the cancel's own answer always says "canceling" (as the
        # API's does); with nothing in flight and no delay the batch ends a microsecond later.
        delay = max(1, round(self.scenario.timing.cancel_delay * MICROS))
        return min(EXPIRES_AFTER, max(c + delay, in_flight))

    @property
    def ended_at(self) -> int:
        cancel = self.cancel_initiated_at
        if self._ended_for is not cancel:
            self._ended_at = self.created_at + self.end_offset(cancel)
            self._ended_for = cancel
        return self._ended_at

    def status(self, now: int) -> str:
        if now >= self.ended_at:
            return "ended"
        if self.cancel_initiated_at is not None and now >= self.cancel_initiated_at:
            return "canceling"
        return "in_progress"

    def check_params_later(self, check: _ParamsCheck) -> None:
        """Take the params problems from ``check`` later, after the create's answer (the API checks
        params after accepting a batch): at :meth:`check_params`, or at the latest when the batch's
        final state is first needed. Only for plans that do not depend on them
        (see :func:`plan_needs_params_checked`)."""
        self._unchecked = check

    def check_params(self) -> None:
        """Apply the params problems left for later: those requests end ``errored``."""
        if self._unchecked is None:
            return
        with self._lock:
            check, self._unchecked = self._unchecked, None
            if check is None:
                return
            try:
                invalid = check.check_params()
            finally:
                check.release()
            for i, text in invalid.items():
                self._planned[i] = ERRORED
                self._errors[i] = ("invalid_request_error", text)
            self.invalid.update(invalid)
            self._final = None

    def _final_state(self) -> _Final:
        final = self._final
        if final is None:
            self.check_params()
            with self._lock:
                if self._final is None:
                    self._final = self._compute_final()
                final = self._final
        return final

    def _compute_final(self) -> _Final:
        end = self.end_offset(self.cancel_initiated_at)
        c = None if self.cancel_initiated_at is None else self.cancel_initiated_at - self.created_at
        planned = self._planned
        rank, start, finish = self._timeline()
        order: list[int] | None = None
        if c is None and (not self._prefix_max or self._prefix_max[-1] <= end):
            # Nothing canceled and every started request finished: outcomes are the plan's,
            # and results come in processing order unless jitter reorders finishes.
            outcomes = bytearray(planned)
            if not self.scenario.timing.jitter and not self._stuck:
                order = _inverse(rank)  # processing order
        else:
            outcomes = bytearray(len(planned))
            for i, p in enumerate(planned):
                if c is not None and start[i] > c:
                    outcomes[i] = CANCELED
                elif p == EXPIRED or finish[i] > end:
                    outcomes[i] = EXPIRED
                else:
                    outcomes[i] = p
        counts = {name: outcomes.count(code) for code, name in enumerate(OUTCOME_NAMES)}
        return _Final(end=end, outcomes=outcomes, counts=counts, order=order)

    def cancel(self, now: int) -> None:
        with self._lock:
            self.cancel_initiated_at = now
            self._final = None

    def to_json(self, now: int, base_url: str) -> bytes:
        """:meth:`to_dict` encoded, kept for each of the few answers a batch can give (before and
        after its end and its archiving, per cancel time and base URL).

        The last answer is also kept with the time window it holds for: a list page of ended
        batches costs a few comparisons per batch."""
        last = self._last
        if last[0] <= now < last[1] and last[2] is base_url and last[3] is self.cancel_initiated_at:
            return last[4]
        ended_at, archived_at = self.ended_at, self.created_at + ARCHIVE_AFTER
        if now < ended_at:
            window = (-_NEVER, ended_at)
        elif now < archived_at:
            window = (ended_at, archived_at)
        else:
            window = (archived_at, _NEVER)
        key = (window[0], self.cancel_initiated_at, base_url)
        data = self._json.get(key)
        if data is None:
            if len(self._json) >= 16:
                self._json.clear()
            data = self._json[key] = orjson.dumps(self.to_dict(now, base_url))
        self._last = (*window, base_url, self.cancel_initiated_at, data)
        return data

    def to_dict(self, now: int, base_url: str) -> dict[str, Any]:
        """The ``MessageBatch`` object as the API shows it at ``now``."""
        ended_at = self.ended_at
        ended = now >= ended_at
        if ended:
            final = self._final_state()
            done = final.counts
            counts = {
                "processing": 0,
                "succeeded": done["succeeded"],
                "errored": done["errored"],
                "canceled": done["canceled"],
                "expired": done["expired"],
            }
        else:
            counts = {
                "processing": len(self.custom_ids),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            }
        cancel = self.cancel_initiated_at
        archived = now >= self.created_at + ARCHIVE_AFTER
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if cancel is not None else "in_progress"),
            "request_counts": counts,
            "ended_at": rfc3339(ended_at) if ended else None,
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + EXPIRES_AFTER),
            "archived_at": rfc3339(self.created_at + ARCHIVE_AFTER) if archived else None,
            "cancel_initiated_at": rfc3339(cancel) if cancel is not None else None,
            "results_url": f"{base_url}v1/messages/batches/{self.id}/results" if ended else None,
        }

    # -- results --------------------------------------------------------------------------------

    def results_order(self) -> list[int]:
        """Indices in the order results are written: by completion, ties in seeded order."""
        final = self._final_state()
        if final.order is None:
            rank, _, finish = self._timeline()
            end, n = final.end, len(rank)
            keys = [(f if f < end else end) * n + r for f, r in zip(finish, rank, strict=True)]
            order = sorted(range(n), key=keys.__getitem__)
            with self._lock:
                if final.order is None:
                    final.order = order
        return final.order

    def result_lines(self, responder: Responder | None = None) -> Generator[bytes, None, None]:
        """The results JSONL in chunks of ``\\n``-terminated lines; an empty chunk means "not
        written yet: ask again in a moment" (another thread is writing them).

        Without a responder callable the lines are a pure function of the batch: those of a batch
        of ``FILE_MIN_REQUESTS`` or more requests (see ``_spool``) are written to a results file
        once (by :meth:`write_results_ahead` or a first download, which keeps the file only if it
        runs to the end) and every later download reads that file."""
        final = self._final_state()
        if responder is not None or len(self.custom_ids) < _spool.FILE_MIN_REQUESTS:
            yield from self._generate(final, responder)
            return
        with self._lock:
            spool = final.spool
            written = spool is not None and not spool.failed
            if not written:
                final.downloads_writing += 1  # no write-ahead starts meanwhile: it would only compete
        if spool is not None and written:
            keep.touch(spool)
            yield from spool.follow()
            return
        spool = None
        done = False
        try:
            spool = Spool()
            for chunk in self._generate(final, None):
                spool.append(chunk)
                yield chunk
            done = True
        finally:
            with self._lock:
                final.downloads_writing -= 1
            if spool is not None and done:
                spool.finish()
                self._publish(final, spool)
            elif spool is not None:  # cut short: nobody else ever saw this file
                spool.close()

    def write_results_ahead(self) -> None:
        """Write the results file of the batch as it ends if nobody cancels it (for a background
        thread, right after the create). Downloads meanwhile follow the file as it grows; a
        cancel or a delete stops the writing."""
        if self.cancel_initiated_at is not None or self.deleted:
            return
        self.check_params()
        spool = Spool()
        with self._lock:  # a download asking meanwhile waits, then follows this file
            final = self._final_state()
            if final.downloads_writing or not self._publish(final, spool):
                spool.close()
                return
        done = False
        try:
            for chunk in self._generate(final, None):
                if self._final is not final or self.deleted:
                    break  # canceled or deleted: these results will never be asked for
                spool.append(chunk)
                time.sleep(0)  # let the thread serving requests have the interpreter
            else:
                spool.finish()
                done = True
        finally:
            if not done:
                spool.fail()  # readers following it stop with an error
                with self._lock:
                    if final.spool is spool:
                        final.spool = None

    def drop_results(self) -> None:
        """Let the results file go (a deleted batch never serves its results again)."""
        with self._lock:
            if self._final is not None:
                self._final.spool = None

    def _publish(self, final: _Final, spool: Spool) -> bool:
        """Make ``spool`` the results file of ``final`` unless it already has a usable one."""
        with self._lock:
            if final.spool is not None and not final.spool.failed:
                return False
            final.spool = spool
        keep.add(final, spool)
        return True

    def _generate(self, final: _Final, responder: Responder | None) -> Iterator[bytes]:
        outcomes = final.outcomes
        chunk: list[bytes] = []
        lines = _FIRST_CHUNK_LINES  # a small first chunk: the first byte leaves sooner
        custom_ids, result = self.custom_ids, self._result
        for i in self.results_order():
            # custom ids match [a-zA-Z0-9_-]{1,64} (checked at create): nothing to escape
            chunk.append(
                b'{"custom_id":"%b","result":%b}\n' % (custom_ids[i].encode(), result(i, outcomes[i], responder))
            )
            if len(chunk) >= lines:
                yield b"".join(chunk)
                chunk = []
                lines = _CHUNK_LINES
        if chunk:
            yield b"".join(chunk)

    def _result(self, i: int, outcome: int, responder: Responder | None) -> bytes:
        if outcome == EXPIRED:
            return b'{"type":"expired"}'
        if outcome == CANCELED:
            return b'{"type":"canceled"}'
        cid = self.custom_ids[i]
        canned = self.canned.get(cid)
        if canned is not None:
            return canned
        key = f"{self.seed}/{i}"
        if outcome == ERRORED:
            kind, text = self._errors[i]
            error = {
                "type": "error",
                "error": {"type": kind, "message": text},
                "request_id": derived_id("req_", key),
            }
            return orjson.dumps({"type": "errored", "error": error})
        raw = self.params[i]
        params = orjson.loads(raw)
        if responder is None:
            encoded = default_message_json(cid, params, len(raw), key)
        else:
            encoded = orjson.dumps(complete_message(responder(cid, params), cid, params, len(raw), key))
        return b'{"type":"succeeded","message":' + encoded + b"}"
