"""The :class:`Emulator`: one batch service, its clock, scenario and ASGI app, plus SDK clients
wired to it in-process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from ._app import ApiContext, build_app
from ._batch import Batch
from ._clock import Clock, VirtualClock, make_clock
from ._control import control_routes
from ._faults import FaultInjector
from ._journal import Call, Journal
from ._responder import Responder
from ._scenario import Scenario
from ._service import BatchService
from ._store import Store
from ._transport import AsyncASGITransport, SyncASGITransport

__all__ = ["Emulator"]

IN_PROCESS_URL = "http://batchsim.local"
DEFAULT_API_KEY = "batchsim-test-key"


class Emulator:
    """An emulated Message Batches API.

    >>> sim = Emulator(scenario=Scenario(seed=7), clock="virtual")
    >>> client = sim.client()          # anthropic.Anthropic wired to the app, no network
    >>> sim.advance(minutes=5)         # move the virtual clock

    ``scenario`` is a :class:`Scenario`, a mapping with the scenario keys, or the path of a TOML/JSON
    file; ``seed`` overrides its seed. ``clock`` is ``"virtual"`` (default), ``"real"``,
    ``"scaled:N"`` or a clock object; ``start`` moves a new virtual clock's starting instant.
    ``responder`` makes succeeded messages (``(custom_id, params) -> dict``). ``api_keys``, when
    given, is the only set of keys accepted. ``store`` replaces the in-memory store.
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
    ) -> None:
        scenario = Scenario.of(scenario) if seed is None else Scenario.of(scenario, seed=seed)
        self.clock: Clock = VirtualClock(start) if start is not None and clock == "virtual" else make_clock(clock)
        self._initial_scenario = scenario
        self.service = BatchService(self.clock, scenario, store, responder)
        self.faults = FaultInjector(scenario)
        self.journal = Journal(enabled=journal)
        keys = frozenset(api_keys) if api_keys else None
        self._ctx = ApiContext(self.service, self.faults, self.journal, keys, seed=scenario.seed)
        self.app = build_app(self._ctx, control_routes(self))

    # -- scenario, clock, state -----------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        """The active scenario. Setting it applies to batches created afterwards and restarts faults."""
        return self.service.scenario

    @scenario.setter
    def scenario(self, value: Scenario | Mapping[str, Any] | str | Path) -> None:
        scenario = Scenario.of(value)
        self.service.scenario = scenario
        self.faults.load(scenario)

    @property
    def admin_token(self) -> str | None:
        """When set, the control plane requires it in ``x-batchsim-admin-token``."""
        return self._ctx.admin_token

    @admin_token.setter
    def admin_token(self, token: str | None) -> None:
        self._ctx.admin_token = token

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> int:
        """Move the virtual clock forward; returns the new time in epoch microseconds."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"the clock is {self.clock.kind}: only a virtual clock can be advanced")
        return self.clock.advance(seconds + 60 * minutes + 3600 * hours + 86400 * days)

    def now(self) -> datetime:
        """The emulator's current time as an aware UTC datetime."""
        from datetime import UTC

        return datetime.fromtimestamp(self.clock.now() / 1_000_000, UTC)

    def reset(self) -> None:
        """Back to the state at construction: no batches or calls, the scenario it started with
        (faults restarted), and a virtual clock at its starting instant."""
        self.scenario = self._initial_scenario
        self.service.reset()
        self.journal.clear()
        reset_clock = getattr(self.clock, "reset", None)
        if reset_clock is not None:
            reset_clock()

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far (method, path, headers, body, status), oldest first."""
        return self.journal.calls()

    def batches(self, api_key: str = DEFAULT_API_KEY) -> list[Batch]:
        """The live batches of one key, newest first (for assertions)."""
        return self.service.store.page(api_key, 1_000_000, None, None).batches

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` that reaches this emulator in-process (no socket)."""
        http_client = httpx2.Client(transport=SyncASGITransport(self.app), base_url=IN_PROCESS_URL)
        kwargs.setdefault("base_url", IN_PROCESS_URL)
        return anthropic.Anthropic(api_key=api_key, http_client=http_client, **kwargs)

    def async_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` that reaches this emulator in-process (no socket)."""
        http_client = httpx2.AsyncClient(transport=AsyncASGITransport(self.app), base_url=IN_PROCESS_URL)
        kwargs.setdefault("base_url", IN_PROCESS_URL)
        return anthropic.AsyncAnthropic(api_key=api_key, http_client=http_client, **kwargs)
