"""The :class:`Emulator`: one emulated Message Batches API (its clock, scenario, store, results
files and ASGI app), plus SDK clients wired to it in-process.

The facade that puts the layers together: the engine's service over a store and results files,
the Anthropic wire format over the service, the HTTP routes and control plane over both. The
``anthropic`` SDK is imported only when a client is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._anthropic.api import MessageBatches
from ._anthropic.responder import Responder
from ._anthropic.wire import batch_dict
from ._defaults import DEFAULT_API_KEY, IN_PROCESS_URL
from ._engine.clock import Clock, VirtualClock, make_clock
from ._engine.faults import FaultInjector
from ._engine.ports import Entry, Store
from ._engine.scenario import Scenario
from ._engine.service import BatchService
from ._http.app import ApiContext, build_app
from ._http.control import control_routes
from ._http.dashboard import dashboard_routes
from ._http.journal import Call, Journal
from ._storage.memory import MemoryStore
from ._storage.results_files import ResultsFileStore

if TYPE_CHECKING:
    import anthropic

__all__ = ["DEFAULT_API_KEY", "IN_PROCESS_URL", "BatchView", "Emulator"]


@dataclass(frozen=True)
class BatchView:
    """A read-only look at one stored batch, as of the emulator's "now" when it was taken.

    ``processing_status``, ``request_counts`` and the times are what the API would answer;
    ``custom_ids`` are the batch's requests in the order they were submitted."""

    id: str
    processing_status: str
    request_counts: Mapping[str, int]
    created_at: datetime
    ended_at: datetime | None
    expires_at: datetime
    cancel_initiated_at: datetime | None
    custom_ids: tuple[str, ...]

    @classmethod
    def of(cls, entry: Entry, now: int) -> BatchView:
        data = batch_dict(entry.batch, entry.cancel_initiated_at, now, "/")
        return cls(
            id=data["id"],
            processing_status=data["processing_status"],
            request_counts=dict(data["request_counts"]),
            created_at=_parse(data["created_at"]),
            ended_at=_parse(data["ended_at"]),
            expires_at=_parse(data["expires_at"]),
            cancel_initiated_at=_parse(data["cancel_initiated_at"]),
            custom_ids=tuple(entry.batch.custom_ids),
        )


def _httpx2() -> Any:
    """The current SDK's HTTP client library, or a one-line error for a project on the 0.x SDK."""
    import anthropic

    legacy = (
        f"client() and async_client() need the current anthropic SDK (>= 1.0, on httpx2), not "
        f"{anthropic.__version__}: with the 0.x SDK use the batchsim fixture's legacy_client(), "
        "respx_router() or httpx_transport()"
    )
    if anthropic.__version__.startswith("0."):
        raise RuntimeError(legacy)
    try:
        import httpx2
    except ImportError:  # pragma: no cover - the current SDK depends on httpx2
        raise RuntimeError(legacy) from None
    return httpx2


def _parse(value: str | None) -> Any:
    return None if value is None else datetime.fromisoformat(value)


class Emulator:
    """An emulated Message Batches API.

    >>> sim = Emulator(scenario=Scenario(seed=7), clock="virtual")
    >>> client = sim.client()          # anthropic.Anthropic wired to the app, no network
    >>> sim.advance(minutes=5)         # move the virtual clock; returns the new "now"

    ``scenario`` is a :class:`Scenario`, a mapping with the scenario keys, or the path of a TOML/JSON
    file; ``seed`` overrides its seed. ``clock`` is ``"virtual"`` (default), ``"real"``,
    ``"scaled:N"`` or a clock object; ``start`` is a new virtual clock's starting instant (an
    error with any other clock). ``responder`` makes succeeded messages
    (``(custom_id, params) -> dict``). ``api_keys``, when given, is the only set of keys accepted.
    ``store`` replaces the in-memory store. ``results_writer`` says who writes large batches'
    results files ahead: a background ``"thread"`` (default) or a ``"process"``.
    """

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any] | str | Path | None = None,
        *,
        clock: str | Clock = "virtual",
        seed: int | None = None,
        start: datetime | float | None = None,
        responder: Responder | None = None,
        api_keys: list[str] | tuple[str, ...] | frozenset[str] | None = None,
        store: Store | None = None,
        journal: bool = True,
        results_writer: Literal["thread", "process"] = "thread",
    ) -> None:
        scenario = Scenario.of(scenario) if seed is None else Scenario.of(scenario, seed=seed)
        if start is not None:
            if clock != "virtual":
                raise ValueError(f"start= applies to a new virtual clock only, not to clock={clock!r}")
            self.clock: Clock = VirtualClock(start)
        else:
            self.clock = make_clock(clock)
        self._initial_scenario = scenario
        self.results_files = ResultsFileStore(writer=results_writer)
        self.service = BatchService(
            self.clock,
            scenario,
            store if store is not None else MemoryStore(),
            self.results_files,
            id_prefix="msgbatch_",
            noun="Message batch",
        )
        self.api = MessageBatches(self.service, responder)
        self.api.scenario = scenario  # reads its canned results
        self.faults = FaultInjector(scenario)
        self.journal = Journal(enabled=journal)
        keys = frozenset(api_keys) if api_keys else None
        self._ctx = ApiContext(self.api, self.faults, self.journal, keys, seed=scenario.seed)
        self.app = build_app(self._ctx, [*control_routes(self, self._ctx), *dashboard_routes(self._ctx)])

    # -- scenario, clock, state -----------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        """The active scenario. Setting it applies to batches created afterwards and restarts faults."""
        return self.service.scenario

    @scenario.setter
    def scenario(self, value: Scenario | Mapping[str, Any] | str | Path) -> None:
        __tracebackhide__ = True  # a skip in live mode points at the caller
        self._control("scenario", "scenarios")
        scenario = Scenario.of(value)
        self._apply_scenario(scenario)
        self._scenario_set(scenario)

    def _apply_scenario(self, scenario: Scenario) -> None:
        self.api.scenario = scenario
        self.faults.load(scenario)

    @property
    def admin_token(self) -> str | None:
        """When set, the control plane requires it in ``x-batchsim-admin-token``."""
        return self._ctx.admin_token

    @admin_token.setter
    def admin_token(self, token: str | None) -> None:
        self._ctx.admin_token = token

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the virtual clock forward; returns the new "now" (as :meth:`now` does)."""
        __tracebackhide__ = True  # a skip in live mode points at the caller
        self._control("advance()", "virtual clock")
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"the clock is {self.clock.kind}: only a virtual clock can be advanced")
        self.clock.advance(seconds + 60 * minutes + 3600 * hours + 86400 * days)
        return self.now()

    def now(self) -> datetime:
        """The emulator's current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock.now() / 1_000_000, UTC)

    def reset(self) -> None:
        """Back to the state at construction: no batches, results files or calls, the scenario it
        started with (faults restarted), and a virtual clock at its starting instant."""
        __tracebackhide__ = True  # a skip in live mode points at the caller
        self._control("reset()", "reset switch")
        self.scenario = self._initial_scenario
        self.service.reset()
        self.journal.clear()
        reset_clock = getattr(self.clock, "reset", None)
        if reset_clock is not None:
            reset_clock()

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far (method, path, headers, body, status), oldest first."""
        __tracebackhide__ = True  # a skip in live mode points at the caller
        self._control("calls", "request journal")
        return self.journal.calls()

    def batches(self, api_key: str = DEFAULT_API_KEY) -> list[BatchView]:
        """The live batches of one key, newest first, as read-only views (for assertions)."""
        __tracebackhide__ = True  # a skip in live mode points at the caller
        self._control("batches()", "batch store")
        now = self.clock.now()
        return [BatchView.of(e, now) for e in self._entries(api_key)]

    def results_pending(self) -> int:
        """Results files still being written in the background."""
        return self.results_files.pending()

    def close(self) -> None:
        """Delete this emulator's results files and stop their writer (also done when it is
        garbage-collected)."""
        self.results_files.close()

    @contextmanager
    def autoadvance(self) -> Iterator[None]:
        """Within the block, ``time.sleep`` and ``asyncio.sleep`` in this thread advance the virtual
        clock by the requested seconds and return at once (``asyncio.sleep`` still yields to the
        loop): polling code runs unchanged in no time."""
        from ._engine.sleep import SleepPatch

        __tracebackhide__ = True  # a skip in live mode points at the caller

        self._control("autoadvance()", "virtual clock")
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"autoadvance() needs the virtual clock; this emulator's clock is {self.clock.kind}")
        with SleepPatch(self.clock):
            yield

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` that reaches this emulator in-process (no socket)."""
        import anthropic

        httpx2 = _httpx2()
        from ._http.transport import SyncASGITransport

        http_client = httpx2.Client(transport=SyncASGITransport(self.app), base_url=IN_PROCESS_URL)
        kwargs.setdefault("base_url", IN_PROCESS_URL)
        return anthropic.Anthropic(api_key=api_key, http_client=http_client, **kwargs)

    def async_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` that reaches this emulator in-process (no socket)."""
        import anthropic

        httpx2 = _httpx2()
        from ._http.transport import AsyncASGITransport

        http_client = httpx2.AsyncClient(transport=AsyncASGITransport(self.app), base_url=IN_PROCESS_URL)
        kwargs.setdefault("base_url", IN_PROCESS_URL)
        return anthropic.AsyncAnthropic(api_key=api_key, http_client=http_client, **kwargs)

    # -- hooks for the modes built on the emulator ----------------------------------------------

    def _entries(self, api_key: str) -> list[Entry]:
        return self.service.store.page(api_key, 1_000_000, None, None).entries

    def _control(self, name: str, what: str) -> None:
        """Called before every emulator-only control (the pytest fixture skips in live mode)."""

    def _scenario_set(self, scenario: Scenario) -> None:
        """Called after the scenario was set through this emulator (durable mode publishes it)."""
