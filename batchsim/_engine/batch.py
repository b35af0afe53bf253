"""One batch: its requests, its seeded plan, and its state as a function of time.

Provider-neutral: a request is a key (``custom_id``) and opaque ``params`` bytes; this module
knows nothing of any API's JSON. Nothing here is pushed by timers. At creation every request
gets, from the scenario and the batch's seed, a start time, a finish time and a planned outcome;
everything a client can see (phase, counts, times, results order) is computed from "now" and the
time a cancel was asked for. That keeps the virtual clock trivial, runs exactly reproducible,
and a status O(log n) even on a 100,000-request batch.

A :class:`Batch` never changes once created (its lazy parts are computed once, under a lock).
What does change, the cancel time and the deleted flag, is the store's to keep (see
:class:`~batchsim._engine.ports.Entry`): every question takes the cancel time as an argument.

The provider sets the batch's :class:`Policy` (its window, how long it validates and
finalizes, how long a cancel takes). Rules of the lifecycle (times are offsets from creation):

* the batch is ``validating`` until ``V = policy.validating``; a batch the provider found
  invalid as a whole (``failed``) ends there, with no request run;
* requests start at ``V + start_delay`` in blocks of ``concurrency``, each ``per_request``
  long (± jitter), in a seeded order;
* without cancel the batch is ``finalizing`` from its last request's finish for
  ``policy.finalizing``, then ends (``completed``); it ends at the window ``W`` instead
  (``expired``) if a request is planned to expire (such a request never starts) or has not
  finished by then;
* a cancel at ``c`` lets requests already started finish; the batch ends at
  ``max(c + cancel delay, last finish of a started request)`` (never after ``W``, and at least a
  microsecond after ``c``, so the cancel's answer says ``canceling``); requests not started by
  ``c`` end ``canceled``;
* requests not finished at the end are ``expired``.

Canned results (replayed by ``custom_id``) carry the outcome their line names; the rest of the
line is the provider's.
"""

from __future__ import annotations

import random
import threading
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, NamedTuple, Protocol, overload

from .clock import MICROS
from .scenario import Scenario

__all__ = [
    "CANCELED",
    "ERRORED",
    "EXPIRED",
    "OUTCOME_NAMES",
    "SUCCEEDED",
    "Batch",
    "Canned",
    "Ending",
    "Final",
    "ParamsCheck",
    "Phase",
    "Policy",
    "Summary",
    "Verdict",
    "plan_needs_params_checked",
]

HOUR = 3600 * MICROS
DAY = 24 * HOUR
_NEVER = 1 << 62
_UNSET = object()

SUCCEEDED, ERRORED, EXPIRED, CANCELED = 0, 1, 2, 3
OUTCOME_NAMES = ("succeeded", "errored", "expired", "canceled")
_CODES = {name: code for code, name in enumerate(OUTCOME_NAMES)}


class Phase(IntEnum):
    """Where a batch is at a moment."""

    VALIDATING = 0
    RUNNING = 1
    FINALIZING = 2
    CANCELING = 3
    ENDED = 4


class Ending(IntEnum):
    """How a batch ended (or will, as things stand)."""

    COMPLETED = 0
    EXPIRED = 1
    CANCELED = 2
    FAILED = 3


@dataclass(frozen=True)
class Policy:
    """What a provider decides of its batches' lifetime, in microseconds: the ``window`` after
    which unfinished requests expire, how long a batch is ``validating`` and ``finalizing``, and
    how long a cancel takes (``canceling``; ``None``: the scenario's ``timing.cancel_delay``)."""

    window: int = DAY
    validating: int = 0
    finalizing: int = 0
    canceling: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy:
        return cls(**data) if data else cls()


class Canned(NamedTuple):
    """A canned result: the outcome its line names and the line's own bytes (the provider's)."""

    outcome: str
    payload: bytes


class Verdict(NamedTuple):
    """What validating a batch found (see :meth:`Batch.decide_later`): whether it failed, its
    requests, and the provider's facts it adds to the batch's ``attrs``."""

    failed: bool
    custom_ids: Sequence[str]
    params: Sequence[bytes]
    attrs: Mapping[str, Any]


class ParamsCheck(Protocol):
    """Finds the params problems of a batch's requests (by index) later; ``release`` frees what
    it held."""

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


def shuffle(rng: random.Random, items: MutableSequence[int]) -> None:
    """``rng.shuffle(items)``: the same draws in the same order, with one ``getrandbits`` call per
    draw instead of the several Python calls of ``Random.shuffle`` (proven equal by a property
    test). ``Random.shuffle`` draws ``j = _randbelow(i + 1)`` for ``i`` from the end, and
    ``_randbelow`` is ``getrandbits(k)`` repeated until below ``n`` (``k = n.bit_length()``)."""
    getrandbits = rng.getrandbits
    for i in reversed(range(1, len(items))):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        items[i], items[j] = items[j], items[i]


def _inverse(permutation: Sequence[int]) -> array[int]:
    inverse = array("l", bytes(8 * len(permutation))) if len(permutation) else array("l")
    for i, p in enumerate(permutation):
        inverse[p] = i
    return inverse


class _Blocks(Sequence[int]):
    """The start (``add`` 0) or finish (``add``: the duration) of each processing position when
    every request takes the same time: position ``k`` starts at
    ``offset + round((k // concurrency) * per)``. Computed on demand instead of kept: 16 bytes a
    request less."""

    __slots__ = ("add", "concurrency", "n", "offset", "per")

    def __init__(self, n: int, offset: int, concurrency: int, per: float, add: int) -> None:
        self.n, self.offset, self.concurrency, self.per, self.add = n, offset, concurrency, per, add

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, k: int) -> int: ...

    @overload
    def __getitem__(self, k: slice) -> Sequence[int]: ...

    def __getitem__(self, k: int | slice) -> int | Sequence[int]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.n))]
        if k < 0:
            k += self.n
        if not 0 <= k < self.n:
            raise IndexError("position out of range")
        return self.offset + round((k // self.concurrency) * self.per) + self.add


@dataclass(eq=False)
class Final:
    """What a batch ended with, for one cancel time: its end (offset from creation), how it ended,
    each request's outcome code, the counts by outcome name, and (once asked) the results order."""

    end: int
    ending: Ending
    outcomes: bytearray
    counts: dict[str, int]
    order: Sequence[int] | None = None


class Summary(NamedTuple):
    """What a batch's status, retrieve and list need, without its requests: a store that keeps the
    requests elsewhere (SQLite) rebuilds a batch from this and loads the rest only when asked.

    ``timing`` is ``(positions, offset, concurrency, per, duration)`` when every request that
    runs takes the same time (the positions' starts then follow from it), else ``None``."""

    size: int
    stuck: bool
    last_finish: int
    counts: tuple[int, int, int, int]
    timing: tuple[int, int, int, float, int] | None

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        timing = data.get("timing")
        return cls(
            int(data["size"]),
            bool(data["stuck"]),
            int(data["last_finish"]),
            tuple(data["counts"]),
            tuple(timing) if timing is not None else None,
        )


Body = tuple[Sequence[str], Sequence[bytes], dict[int, str], Mapping[str, Canned]]
"""A batch's requests: custom ids, params, params problems and canned lines."""


class _Plan:
    """A batch's requests and what the scenario planned for them (see :meth:`Batch._plan`). One
    object, swapped whole: a batch that lets its requests go (:meth:`Batch.release`) drops it,
    while whoever holds it goes on reading it."""

    __slots__ = (
        "canned",
        "custom_ids",
        "derived",
        "errors",
        "finals",
        "finish",
        "hints",
        "invalid",
        "params",
        "planned",
        "prefix_max",
        "progress",
        "rank",
        "start",
        "starts",
        "stuck",
    )

    def __init__(self, body: Body) -> None:
        self.custom_ids, self.params, self.invalid, self.canned = body
        self.finals: dict[int | None, Final] = {}
        self.progress: tuple[array[int], array[int]] | None = None
        self.planned = bytearray()
        self.errors: dict[int, tuple[str, str | None]] = {}
        self.hints: dict[int, str] = {}
        self.rank: array[int] | None = None
        self.start: array[int] | None = None
        self.finish: array[int] | None = None
        self.starts: Sequence[int] = ()
        self.prefix_max: Sequence[int] = ()
        self.stuck = False
        self.derived = True


class Batch:
    """A batch and its deterministic plan. ``created_at`` is in epoch microseconds.

    ``invalid`` maps request indices to their params problem; ``errors`` (from the plan) maps
    errored requests to ``(error type, message or None for the type's default)``. ``attrs`` are
    the provider's own facts about the batch (JSON values, opaque here); ``failed`` marks a batch
    the provider refused as a whole at validation. ``memo`` is for layers above to keep what
    they derive from the batch (it never changes).

    A store that keeps requests elsewhere passes ``loader`` (which returns them) and the batch's
    :class:`Summary` instead of the requests: the batch then answers status, ends and counts
    from the summary and loads its requests only when something needs them, and can let them go
    again (:meth:`release`)."""

    def __init__(
        self,
        id: str,
        workspace: str,
        created_at: int,
        custom_ids: Sequence[str],
        params: Sequence[bytes],
        invalid: dict[int, str],
        scenario: Scenario,
        seed: str,
        canned: Mapping[str, Canned] | None = None,
        policy: Policy | None = None,
        attrs: Mapping[str, Any] | None = None,
        failed: bool = False,
        *,
        summary: Summary | None = None,
        loader: Callable[[], Body] | None = None,
        origin: Callable[[], Batch] | None = None,
    ) -> None:
        self.id = id
        self.workspace = workspace
        self.created_at = created_at
        self.scenario = scenario
        self.seed = seed
        self.policy = policy or Policy()
        self.attrs = attrs if attrs is not None else {}
        self.failed = failed
        self.memo: dict[Any, Any] = {}
        self._lock = threading.RLock()  # the lazy parts of the plan and the final states
        self._ended: tuple[Any, int] = (_UNSET, 0)  # (cancel time, end) last computed
        self._unchecked: ParamsCheck | None = None
        self._loader = loader
        self._summary = summary
        self._origin = origin
        self._verdict: Callable[[], Verdict] | None = None
        self._state: _Plan | None = None
        if loader is None or summary is None:
            body: Body = (custom_ids, params, invalid, canned if canned is not None else {})
            self._state = self._plan(body if loader is None else loader())
        self._blocks = self._summary_blocks()

    def __repr__(self) -> str:
        return f"Batch(id={self.id!r}, workspace={self.workspace!r}, size={self.size})"

    def __reduce__(self) -> tuple[Any, ...]:
        """A batch pickles small: as where its store can rebuild it from (``origin``, a picklable
        callable: the batch's row in a database), else as its requests and params problems."""
        if self._origin is not None:
            return (_rebuild, (self._origin,))
        return (_from_state, (self.__getstate__(),))

    def __getstate__(self) -> dict[str, Any]:
        """What rebuilds the batch (its verdict taken and its params problems included)."""
        self.decide()
        self.check_params()
        plan = self._plan_state()
        canned = plan.canned
        return {
            "id": self.id,
            "workspace": self.workspace,
            "created_at": self.created_at,
            "custom_ids": plan.custom_ids,
            "params": plan.params,
            "invalid": plan.invalid,
            "scenario": self.scenario,
            "seed": self.seed,
            "canned": {cid: canned[cid] for cid in plan.custom_ids if cid in canned} if canned else {},
            "policy": self.policy,
            "attrs": self.attrs,
            "failed": self.failed,
        }

    # -- the requests, loaded when needed ---------------------------------------------------------

    def _plan_state(self) -> _Plan:
        """The requests and their plan (loaded and planned now if they were let go; the verdict
        taken first if it was left for later)."""
        if self._verdict is not None:
            self.decide()
        state = self._state
        if state is None:
            with self._lock:
                state = self._state
                if state is None:
                    assert self._loader is not None
                    state = self._state = self._plan(self._loader())
        return state

    @property
    def loaded(self) -> bool:
        """Whether the requests are in memory."""
        return self._state is not None

    def release(self) -> None:
        """Let the requests and their plan go (a batch rebuilt from a :class:`Summary` only): they
        are loaded again when next needed. What layers above derived from them goes too."""
        if self._loader is None or self._summary is None:
            return
        with self._lock:
            self.check_params()
            self._state = None
            self.memo.clear()

    @property
    def custom_ids(self) -> Sequence[str]:
        return self._plan_state().custom_ids

    @property
    def params(self) -> Sequence[bytes]:
        return self._plan_state().params

    @property
    def invalid(self) -> dict[int, str]:
        return self._plan_state().invalid

    @property
    def canned(self) -> Mapping[str, Canned]:
        return self._plan_state().canned

    @property
    def hints(self) -> Mapping[int, str]:
        """Succeeded requests a rule gives a stop reason (what their answer says follows from it)."""
        return self._plan_state().hints

    @property
    def stop_reasons(self) -> Mapping[int, str]:
        """Kept for callers of the earlier name of :attr:`hints`."""
        return self.hints

    # -- the plan -------------------------------------------------------------------------------

    def _plan(self, body: Body) -> _Plan:
        plan = _Plan(body)
        n = len(plan.custom_ids)
        rng = random.Random(self.seed)
        outcomes = self.scenario.outcomes
        timing = self.scenario.timing
        # Without draws that matter, the shuffle (the generator's first use) can wait until
        # results need it.
        draws_matter = _draws_matter(self.scenario)
        rank: array[int] | None = None
        if draws_matter:
            rank = self._shuffled(rng, n)  # rank[i]: tie-breaker and processing position source
        planned = bytearray(n)
        errors: dict[int, tuple[str, str | None]] = {}
        hints: dict[int, str] = {}
        rules = self.scenario.rules
        error_names = list(outcomes.error_types)
        error_weights = list(outcomes.error_types.values())
        # Without draws that matter only the requests that are invalid, canned or matched by a
        # rule need a look.
        custom_ids, invalid, all_canned = plan.custom_ids, plan.invalid, plan.canned
        if draws_matter or rules:
            look_at: Iterable[int] = range(n)
        else:
            canned_at = [i for i, cid in enumerate(custom_ids) if cid in all_canned] if all_canned else []
            look_at = sorted({*invalid, *canned_at})
        keyed = bool(rules or all_canned)  # whether a request's key decides anything
        for i in look_at:
            cid = custom_ids[i] if keyed else ""
            if i in invalid:
                planned[i] = ERRORED
                errors[i] = ("invalid_request_error", invalid[i])
                continue
            canned = all_canned.get(cid)
            if canned is not None:
                planned[i] = _CODES[canned.outcome]
                continue
            rule = next((r for r in rules if r.matches(cid)), None) if rules else None
            if rule is not None:
                planned[i] = _CODES[rule.result]
                if rule.stop_reason is not None:
                    hints[i] = rule.stop_reason
                if rule.result == "errored":
                    errors[i] = (rule.error_type, rule.message)
                continue
            u = rng.random()
            if u < outcomes.errored:
                kind = rng.choices(error_names, error_weights)[0]
                planned[i] = ERRORED
                errors[i] = (kind, None)
            elif u < outcomes.errored + outcomes.expired:
                planned[i] = EXPIRED
        # Requests planned to expire never start; the others run in a seeded order (by rank:
        # ``rank`` is a permutation, so that order is its inverse, minus the expired). Without
        # expired requests or jitter, request i simply starts at position rank[i].
        expires = EXPIRED in planned
        order: Sequence[int] | None = None
        if expires or timing.jitter:
            if rank is None:
                rank = self._shuffled(random.Random(self.seed), n)
            order = _inverse(rank)
            if expires:
                order = array("l", [i for i in order if planned[i] != EXPIRED])
        start_delay = self.policy.validating + round(timing.start_delay * MICROS)
        per = timing.per_request * MICROS
        jitter = timing.jitter
        # Without expiries or jitter (``order`` is None) each request's start and finish follow
        # from its rank alone: they are computed on first need (see :meth:`_timeline`).
        start: array[int] | None = None
        finish: array[int] | None = None
        starts_in_order: Sequence[int]
        prefix_max: Sequence[int]
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
            # and the latest finish so far is the current start plus ``per`` (computed, not kept).
            m, concurrency, duration = n if order is None else len(order), timing.concurrency, max(1, round(per))
            starts_in_order = _Blocks(m, start_delay, concurrency, per, 0)
            prefix_max = _Blocks(m, start_delay, concurrency, per, duration)
            if order is not None:
                start, finish = array("q", [_NEVER]) * n, array("q", [_NEVER]) * n
                for i, s in zip(order, starts_in_order, strict=True):
                    start[i] = s
                    finish[i] = s + duration
        plan.derived = order is None  # start and finish follow from the rank: they can be recomputed
        plan.planned = planned
        plan.errors = errors
        plan.hints = hints
        plan.rank = rank
        plan.start = start
        plan.finish = finish
        plan.starts = starts_in_order
        plan.prefix_max = prefix_max
        plan.stuck = expires
        return plan

    @staticmethod
    def _shuffled(rng: random.Random, n: int) -> array[int]:
        rank = array("q", range(n))
        shuffle(rng, rank)
        return rank

    def _timeline(self) -> tuple[array[int], array[int], array[int]]:
        """``(rank, start, finish)`` per request (computed now if the plan deferred them: the
        rank when nothing drew it yet, start and finish from it)."""
        plan = self._plan_state()
        rank, start, finish = plan.rank, plan.start, plan.finish
        if rank is None or start is None or finish is None:
            with self._lock:
                n = len(plan.custom_ids)
                rank = plan.rank if plan.rank is not None else self._shuffled(random.Random(self.seed), n)
                start = plan.start
                if start is None:
                    start = array("q", map(plan.starts.__getitem__, rank))
                finish = plan.finish
                if finish is None:
                    duration = max(1, round(self.scenario.timing.per_request * MICROS))
                    finish = array("q", map(duration.__add__, start))
                plan.rank, plan.start, plan.finish = rank, start, finish
        return rank, start, finish

    # -- what a summary answers without the requests -----------------------------------------

    def _summary_blocks(self) -> tuple[_Blocks, _Blocks] | None:
        timing = self._summary.timing if self._summary is not None else None
        if timing is None:
            return None
        m, offset, concurrency, per, duration = timing
        return _Blocks(m, offset, concurrency, per, 0), _Blocks(m, offset, concurrency, per, duration)

    def _starts(self) -> Sequence[int]:
        state = self._state
        if state is None and self._blocks is not None:
            return self._blocks[0]
        return self._plan_state().starts

    def _prefix(self) -> Sequence[int]:
        state = self._state
        if state is None and self._blocks is not None:
            return self._blocks[1]
        return self._plan_state().prefix_max

    def _stuck(self) -> bool:
        state = self._state
        if state is None and self._summary is not None:
            return self._summary.stuck
        return self._plan_state().stuck

    def summary(self) -> Summary:
        """What rebuilds the batch's status without its requests (params checked now)."""
        self.check_params()
        plan = self._plan_state()
        counts = self.final(None).counts
        timing = None
        if isinstance(plan.starts, _Blocks):
            blocks = plan.starts
            duration = max(1, round(self.scenario.timing.per_request * MICROS))
            timing = (blocks.n, blocks.offset, blocks.concurrency, blocks.per, duration)
        return Summary(
            len(plan.custom_ids),
            plan.stuck,
            self._last_finish(),
            (counts["succeeded"], counts["errored"], counts["expired"], counts["canceled"]),
            timing,
        )

    # -- state at a time ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many requests the batch holds."""
        self.decide()
        state = self._state
        if state is None and self._summary is not None:
            return self._summary.size
        return len(self._plan_state().custom_ids)

    def _last_finish(self) -> int:
        """When the last request that runs finishes, without cancel (offset from creation)."""
        state = self._state
        if state is None and self._summary is not None:
            return self._summary.last_finish
        prefix = self._prefix()
        return prefix[-1] if prefix else self.policy.validating

    def natural_ending(self) -> Ending:
        """How the batch ends without a cancel."""
        self.decide()
        if self.failed:
            return Ending.FAILED
        if self._stuck() or self._last_finish() > self.policy.window:
            return Ending.EXPIRED
        return Ending.COMPLETED

    def end_offset(self, cancel_at: int | None) -> int:
        """When the batch ends (offset from creation) given a cancel time (absolute) or none."""
        self.decide()
        window = self.policy.window
        if self.failed:
            natural = self.policy.validating
        elif self._stuck():
            natural = window
        else:
            last = self._last_finish()
            natural = window if last > window else min(window, last + self.policy.finalizing)
        if cancel_at is None:
            return natural
        c = cancel_at - self.created_at
        if c >= natural:  # the cancel came after the end: it changed nothing
            return natural
        k = bisect_right(self._starts(), c)
        in_flight = self._prefix()[k - 1] if k else 0
        # Never at the cancel itself: the cancel's own answer always says "canceling" (as the
        # API's does); with nothing in flight and no delay the batch ends a microsecond later.
        canceling = self.policy.canceling
        delay = round(self.scenario.timing.cancel_delay * MICROS) if canceling is None else canceling
        return min(window, max(c + max(1, delay), in_flight))

    def ended_at(self, cancel_at: int | None) -> int:
        """When the batch ends (epoch microseconds) given a cancel time or none."""
        ended = self._ended
        if ended[0] is not cancel_at:
            ended = self._ended = (cancel_at, self.created_at + self.end_offset(cancel_at))
        return ended[1]

    def ending(self, cancel_at: int | None) -> Ending:
        """How the batch ends given a cancel time or none."""
        if cancel_at is not None and cancel_at - self.created_at < self.end_offset(None):
            return Ending.CANCELED
        return self.natural_ending()

    def _validating(self, now: int, cancel_at: int | None) -> bool:
        """Whether the batch is surely still validating at ``now``: no batch ends, and nothing
        of its requests shows, before it has validated (or before its window, if shorter), so
        the verdict (:meth:`decide_later`) need not be taken to say so."""
        return cancel_at is None and now - self.created_at < min(self.policy.validating, self.policy.window)

    def phase(self, now: int, cancel_at: int | None) -> Phase:
        """The batch's :class:`Phase` at ``now``."""
        if self._validating(now, cancel_at):
            return Phase.VALIDATING
        if now >= self.ended_at(cancel_at):
            return Phase.ENDED
        if cancel_at is not None and now >= cancel_at:
            return Phase.CANCELING
        t = now - self.created_at
        if t < self.policy.validating:
            return Phase.VALIDATING
        if not self._stuck() and t >= self._last_finish():
            return Phase.FINALIZING
        return Phase.RUNNING

    def status(self, now: int, cancel_at: int | None) -> str:
        """``in_progress``, ``canceling`` or ``ended`` at ``now`` (the engine's coarse status)."""
        phase = self.phase(now, cancel_at)
        if phase == Phase.ENDED:
            return "ended"
        if phase == Phase.CANCELING:
            return "canceling"
        return "in_progress"

    def finalizing_at(self, cancel_at: int | None) -> int | None:
        """When the batch started finalizing (epoch microseconds), if it does."""
        if self.ending(cancel_at) != Ending.COMPLETED:
            return None
        return self.created_at + min(self._last_finish(), self.end_offset(None))

    def decide_later(self, verdict: Callable[[], Verdict]) -> None:
        """Take whether the batch failed validation, and its requests' keys and params, from
        ``verdict`` later: after the create's answer (a provider validates a batch after
        accepting it), or at the latest when anything but "still validating" is asked of it.
        Until then the batch holds no request (the plan is made again from the verdict); the
        provider's ``attrs`` take the verdict's."""
        self._verdict = verdict

    def decide(self) -> None:
        """Apply the verdict left for later (:meth:`decide_later`), if any: the requests' keys
        and params as found, or no request at all for a batch that failed."""
        if self._verdict is None:
            return
        with self._lock:
            verdict, self._verdict = self._verdict, None
            if verdict is None:
                return
            found = verdict()
            self.failed = found.failed
            self.attrs = {**self.attrs, **found.attrs}
            # Nothing was read from the plan yet (see _validating): it is made again for the
            # requests found.
            canned = self._state.canned if self._state is not None else {}
            body: Body = ((), (), {}, canned) if found.failed else (found.custom_ids, found.params, {}, canned)
            self._state = self._plan(body)
            self._blocks = self._summary_blocks()
            self._ended = (_UNSET, 0)

    def check_params_later(self, check: ParamsCheck) -> None:
        """Take the params problems from ``check`` later, after the create's answer (the API checks
        params after accepting a batch): at :meth:`check_params`, or at the latest when a final
        state is first needed. Only for plans that do not depend on them
        (see :func:`plan_needs_params_checked`)."""
        self._unchecked = check

    def check_params(self) -> None:
        """Apply the params problems left for later: those requests end ``errored``."""
        self.decide()
        if self._unchecked is None:
            return
        with self._lock:
            check, self._unchecked = self._unchecked, None
            if check is None:
                return
            plan = self._plan_state()
            try:
                invalid = check.check_params()
            finally:
                check.release()
            for i, text in invalid.items():
                plan.planned[i] = ERRORED
                plan.errors[i] = ("invalid_request_error", text)
            plan.invalid.update(invalid)
            plan.finals.clear()
            plan.progress = None

    @property
    def errors(self) -> Mapping[int, tuple[str, str | None]]:
        """Errored requests by index: ``(error type, message or None)``."""
        self.check_params()
        return self._plan_state().errors

    def counts(self, cancel_at: int | None) -> dict[str, int]:
        """How many requests ended with each outcome (by name), for a cancel time (without the
        requests when the batch was rebuilt from a summary and not canceled)."""
        summary = self._summary
        if summary is not None and self._state is None and self.ending(cancel_at) != Ending.CANCELED:
            return dict(zip(OUTCOME_NAMES, summary.counts, strict=True))
        return self.final(cancel_at).counts

    def final(self, cancel_at: int | None) -> Final:
        """The final state for a cancel time (computed once per cancel time)."""
        plan = self._plan_state()
        final = plan.finals.get(cancel_at)
        if final is None:
            self.check_params()
            with self._lock:
                final = plan.finals.get(cancel_at)
                if final is None:
                    if len(plan.finals) >= 4:
                        plan.finals.clear()
                    final = plan.finals[cancel_at] = self._compute_final(plan, cancel_at)
        return final

    def _compute_final(self, plan: _Plan, cancel_at: int | None) -> Final:
        end = self.end_offset(cancel_at)
        ending = self.ending(cancel_at)
        c = None if cancel_at is None else cancel_at - self.created_at
        planned = plan.planned
        rank, start, finish = self._timeline()
        order: Sequence[int] | None = None
        if c is not None and c >= self.end_offset(None):
            c = None  # canceled after the end: nothing changed
        if c is None and (not plan.prefix_max or plan.prefix_max[-1] <= end):
            # Nothing canceled and every started request finished: outcomes are the plan's,
            # and results come in processing order unless jitter reorders finishes.
            outcomes = bytearray(planned)
            if not self.scenario.timing.jitter and not plan.stuck:
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
        return Final(end=end, ending=ending, outcomes=outcomes, counts=counts, order=order)

    def results_order(self, final: Final) -> Sequence[int]:
        """Indices in the order results are written: by completion, ties in seeded order."""
        if final.order is None:
            rank, _, finish = self._timeline()
            end, n = final.end, len(rank)
            keys = [(f if f < end else end) * n + r for f, r in zip(finish, rank, strict=True)]
            order = array("l", sorted(range(n), key=keys.__getitem__))
            del keys
            with self._lock:
                if final.order is None:
                    final.order = order
        return final.order

    def _finishes(self) -> tuple[array[int], array[int]]:
        """The planned finishes (offsets from creation) of the requests planned to succeed and of
        those planned to error, each sorted."""
        plan = self._plan_state()
        progress = plan.progress
        if progress is None:
            self.check_params()
            finish = self._timeline()[2]
            planned = plan.planned
            with self._lock:
                ok = sorted(f for f, p in zip(finish, planned, strict=True) if p == SUCCEEDED)
                bad = sorted(f for f, p in zip(finish, planned, strict=True) if p == ERRORED)
                progress = plan.progress = (array("q", ok), array("q", bad))
        return progress

    def progress(self, now: int, cancel_at: int | None) -> tuple[int, int]:
        """``(succeeded, errored)``: the requests finished by ``now`` with each outcome, as a batch
        still running shows them (a request canceled or expired has not finished)."""
        if now >= self.ended_at(cancel_at):
            counts = self.counts(cancel_at)
            return counts["succeeded"], counts["errored"]
        progress = self._finishes()
        t = now - self.created_at
        if cancel_at is not None and cancel_at <= now:
            # After a cancel only requests started by then may still finish: count them one by one.
            c = cancel_at - self.created_at
            _, start, finish = self._timeline()
            planned = self._plan_state().planned
            done = [p for s, f, p in zip(start, finish, planned, strict=True) if s <= c and f <= t]
            return done.count(SUCCEEDED), done.count(ERRORED)
        return bisect_right(progress[0], t), bisect_right(progress[1], t)

    def next_change(self, now: int, cancel_at: int | None) -> int:
        """The first moment after ``now`` (epoch microseconds) at which :meth:`phase` or
        :meth:`progress` may answer otherwise (never, once ended): what a provider shows of a
        running batch stays the same until then."""
        if self._validating(now, cancel_at):
            return self.created_at + min(self.policy.validating, self.policy.window)
        end = self.ended_at(cancel_at)
        if now >= end:
            return _NEVER
        created = self.created_at
        t = now - created
        offsets = [end - created, self.policy.validating]
        if not self._stuck():
            offsets.append(self._last_finish())
        if cancel_at is not None:
            offsets.append(cancel_at - created)
        for finishes in self._finishes():
            k = bisect_right(finishes, t)
            if k < len(finishes):
                offsets.append(finishes[k])
        return created + min(o for o in offsets if o > t)

    def trim(self) -> None:
        """Let go of what can be computed again (each request's rank, start and finish, and the
        results orders: 32 bytes a request) once a large batch's results are written: holding a
        batch then costs little more than its requests."""
        state = self._state
        if state is None:
            return
        with self._lock:
            if state.derived:
                state.rank = state.start = state.finish = None
            for final in state.finals.values():
                final.order = None
            state.progress = None

    def finished(self, now: int, cancel_at: int | None) -> int:
        """How many requests have finished by ``now`` (cheap: a bisect; with jitter, those surely
        finished)."""
        if now >= self.ended_at(cancel_at):
            return self.size
        t = now - self.created_at
        done = bisect_right(self._prefix(), t)
        if cancel_at is not None and cancel_at <= now:
            done = min(done, bisect_right(self._starts(), cancel_at - self.created_at))
        return done

    def planned_finish(self) -> array[int]:
        """Each request's planned finish (offset from creation; never, for a request planned to
        expire)."""
        return self._timeline()[2]

    def schedule(self) -> tuple[bytes, array[int], array[int]]:
        """Each request's planned outcome code (before any cancel), start and finish (offsets from
        creation; a request planned to expire never starts): to show a batch still running."""
        self.check_params()
        plan = self._plan_state()
        _, start, finish = self._timeline()
        return bytes(plan.planned), start, finish

    def finish_times(self, final: Final) -> array[int]:
        """Each request's finish time (offset from creation) as it ended: its planned finish if it
        finished, else the batch's end (canceled and expired requests end with the batch)."""
        _, _, finish = self._timeline()
        end = final.end
        outcomes = final.outcomes
        return array(
            "q",
            [f if f <= end and o != CANCELED and o != EXPIRED else end for f, o in zip(finish, outcomes, strict=True)],
        )

    def started(self, now: int) -> int:
        """How many requests have started by ``now`` (without cancel)."""
        return bisect_right(self._starts(), now - self.created_at)

    def first_start(self) -> int | None:
        """When the first request starts (epoch microseconds), if any does."""
        starts = self._starts()
        return self.created_at + starts[0] if starts else None


def _rebuild(origin: Callable[[], Batch]) -> Batch:
    return origin()


def _from_state(state: dict[str, Any]) -> Batch:
    return Batch(**state)
