"""The :class:`Emulator`: one emulator of every provider's batch API (one clock, one scenario, one
journal, one ASGI app), plus SDK clients wired to it in-process.

The facade puts the layers together: for each provider, the engine's service over a store and
the results files, and the provider's operations over that; the HTTP kernel serves them all with
the control plane and the dashboard. Where state is shared with other processes (``database=``,
what ``batchsim serve --db`` uses), the clock, the active scenario, resets and the batches live
in SQLite, and :meth:`Emulator.sync` adopts what the other processes changed. The SDKs are
imported only when a client is asked for.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._anthropic.provider import Anthropic
from ._anthropic.wire import batch_dict
from ._defaults import DEFAULT_API_KEY, IN_PROCESS_URL
from ._engine.clock import Clock, VirtualClock, make_clock
from ._engine.faults import FaultInjector
from ._engine.ports import Entry, Store
from ._engine.scenario import Scenario
from ._gemini.provider import Gemini
from ._http.app import ApiContext, build_app
from ._http.control import control_routes
from ._http.dashboard import dashboard_routes
from ._http.journal import DEFAULT_BODY_PREFIX, DEFAULT_BYTES, Call, Journal
from ._openai.provider import OpenAI
from ._storage.files import DEFAULT_FILES_BYTES, MemoryFiles
from ._storage.memory import MemoryStore
from ._storage.results_files import MAX_FILE_BYTES, MAX_ONE_FILE_BYTES, ResultsFileStore
from ._storage.shared import SharedState
from ._storage.sqlite import Database, Snapshot

if TYPE_CHECKING:
    import anthropic
    import openai
    from google import genai

__all__ = ["DEFAULT_API_KEY", "IN_PROCESS_URL", "BatchView", "Emulator", "Limits"]


Provider = Literal["anthropic", "openai", "gemini"]


@dataclass(frozen=True)
class BatchView:
    """A read-only look at one stored batch, as of the emulator's "now" when it was taken.

    ``status`` is the provider's own (Anthropic's ``processing_status``, OpenAI's ``status``,
    Gemini's ``BATCH_STATE_*``); ``processing_status`` is Anthropic's, and for the other providers
    the same coarse ``in_progress``, ``canceling`` or ``ended``. ``request_counts`` are
    ``processing``, ``succeeded``, ``errored``, ``canceled`` and ``expired`` as Anthropic counts
    them (a running batch's are all ``processing``); ``id`` is what the provider's API calls the
    batch (Gemini's ``batches/…`` name); ``custom_ids`` are the requests' keys
    (OpenAI's ``custom_id``, Gemini's ``metadata.key``) in the order they were submitted."""

    id: str
    processing_status: str
    request_counts: Mapping[str, int]
    created_at: datetime
    ended_at: datetime | None
    expires_at: datetime
    cancel_initiated_at: datetime | None
    custom_ids: tuple[str, ...]
    provider: str = "anthropic"
    status: str = ""

    @classmethod
    def of(cls, entry: Entry, now: int, provider: str = "anthropic", status: str | None = None) -> BatchView:
        batch, cancel = entry.batch, entry.cancel_initiated_at
        if provider == "anthropic":
            data = batch_dict(batch, cancel, now, "/")
            return cls(
                id=data["id"],
                processing_status=data["processing_status"],
                request_counts=dict(data["request_counts"]),
                created_at=_parse(data["created_at"]),
                ended_at=_parse(data["ended_at"]),
                expires_at=_parse(data["expires_at"]),
                cancel_initiated_at=_parse(data["cancel_initiated_at"]),
                custom_ids=tuple(batch.custom_ids),
                status=data["processing_status"],
            )
        ended = now >= batch.ended_at(cancel)
        counts = {"processing": 0, **batch.counts(cancel)} if ended else _processing(batch.size)
        return cls(
            id=f"batches/{batch.id}" if provider == "gemini" else batch.id,  # Gemini's resource name
            processing_status=batch.status(now, cancel),
            request_counts=counts,
            created_at=_at(batch.created_at),
            ended_at=_at(batch.ended_at(cancel)) if ended else None,
            expires_at=_at(batch.created_at + batch.policy.window),
            cancel_initiated_at=_at(cancel) if cancel is not None else None,
            custom_ids=tuple(batch.custom_ids),
            provider=provider,
            status=status or batch.status(now, cancel),
        )


def _processing(n: int) -> dict[str, int]:
    return {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


@dataclass(frozen=True)
class Limits:
    """Bounds on what clients can make an emulator hold (``batchsim serve`` sets them from its
    options; the defaults suit tests)."""

    journal_bytes: int = DEFAULT_BYTES
    """Memory the request journal may hold (oldest calls dropped first)."""
    journal_body_prefix: int = DEFAULT_BODY_PREFIX
    """How much of each request body the journal keeps."""
    body_budget: int | None = None
    """Request body bytes in flight at once (``None``: the kernel's default)."""
    results_disk: int = MAX_FILE_BYTES
    """Disk all results files may take together."""
    results_file_max: int = MAX_ONE_FILE_BYTES
    """The largest results file kept for one batch."""
    results_root: str | None = None
    """A results folder shared with other processes (whose files count together)."""
    files_bytes: int = DEFAULT_FILES_BYTES
    """What every provider's uploaded files may hold together, each provider's at most this."""


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
    """An emulated batch API: Anthropic's Message Batches (and every other provider batchsim
    emulates) on one clock and one scenario.

    >>> sim = Emulator(scenario=Scenario(seed=7), clock="virtual")
    >>> client = sim.client()          # anthropic.Anthropic wired to the app, no network
    >>> sim.advance(minutes=5)         # move the virtual clock; returns the new "now"

    ``scenario`` is a :class:`Scenario`, a mapping with the scenario keys, or the path of a TOML/JSON
    file; ``seed`` overrides its seed. ``clock`` is ``"virtual"`` (default), ``"real"``,
    ``"scaled:N"`` or a clock object; ``start`` is a new virtual clock's starting instant (an
    error with any other clock). ``responder`` makes succeeded messages
    (``(custom_id, params) -> dict``). ``api_keys``, when given, is the only set of keys accepted.
    ``store`` replaces the in-memory store of message batches. ``results_writer`` says who writes
    large batches' results files ahead: a background ``"thread"`` (default) or a ``"process"``.

    ``database`` (a SQLite path) keeps batches, the clock and the active scenario there, shared
    with every other emulator on the same file (``batchsim serve --db``). ``unique_ids`` makes
    batch ids differ from run to run (a server's choice: by default a seed gives the same ids
    every run; either way a reset never hands out an id again). ``admin_token``, ``data_dir``
    and ``limits`` are the settings of a served emulator (see ``batchsim serve``).
    """

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any] | str | Path | None = None,
        *,
        clock: str | Clock = "virtual",
        seed: int | None = None,
        start: datetime | float | None = None,
        responder: Any = None,
        api_keys: list[str] | tuple[str, ...] | frozenset[str] | None = None,
        store: Store | None = None,
        journal: bool = True,
        results_writer: Literal["thread", "process"] = "thread",
        database: Database | str | None = None,
        publish: bool = True,
        unique_ids: bool = False,
        admin_token: str | None = None,
        data_dir: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        scenario = Scenario.of(scenario) if seed is None else Scenario.of(scenario, seed=seed)
        if start is not None and clock != "virtual":
            raise ValueError(f"start= applies to a new virtual clock only, not to clock={clock!r}")
        self._shared: SharedState | None = None
        if database is not None:
            shared = self._shared = SharedState(database if isinstance(database, Database) else Database(database))
            self.clock: Clock = shared.clock(clock, start)
        else:
            self.clock = VirtualClock(start) if start is not None else make_clock(clock)
        limits = limits or Limits()
        self.results_files = ResultsFileStore(
            writer=results_writer,
            max_bytes=limits.results_disk,
            max_file_bytes=limits.results_file_max,
            root=limits.results_root,
        )
        self._generation = 0
        self._unique = secrets.token_hex(8) if unique_ids else ""
        if store is None:
            store = self._shared.store("anthropic") if self._shared is not None else MemoryStore()
        self.anthropic = Anthropic(
            self.clock,
            scenario,
            store,
            self.results_files,
            responder=responder,
            seed=scenario.seed,
            files=self._shared.files("anthropic", limits.files_bytes)
            if self._shared is not None
            else MemoryFiles(limits.files_bytes),
        )
        self.service = self.anthropic.service
        self.api = self.anthropic.api
        self.openai = OpenAI(
            self.clock,
            scenario,
            self._shared.store("openai") if self._shared is not None else MemoryStore(),
            self.results_files,
            self._shared.files("openai", limits.files_bytes)
            if self._shared is not None
            else MemoryFiles(limits.files_bytes),
            seed=scenario.seed,
        )
        self.gemini = Gemini(
            self.clock,
            scenario,
            self._shared.store("gemini") if self._shared is not None else MemoryStore(),
            self.results_files,
            self._shared.files("gemini", limits.files_bytes)
            if self._shared is not None
            else MemoryFiles(limits.files_bytes),
        )
        # Gemini before OpenAI: on the paths both serve (/v1/files, /v1/batches/{id}), a call no
        # dialect claims (no credential) stays OpenAI's.
        self._providers: list[Any] = [self.anthropic, self.gemini, self.openai]
        self.faults = FaultInjector(scenario)
        self.journal = Journal(enabled=journal, max_bytes=limits.journal_bytes, body_prefix=limits.journal_body_prefix)
        keys = frozenset(api_keys) if api_keys else None
        self._ctx = ApiContext(self.clock, self.faults, self.journal, keys, [p.provider for p in self._providers])
        self._ctx.admin_token = admin_token
        self._ctx.data_dir = data_dir
        if limits.body_budget is not None:
            self._ctx.bodies.limit = limits.body_budget
        self.app = build_app(self._ctx, [*control_routes(self, self._ctx), *dashboard_routes(self._ctx)])
        self._initial_scenario = scenario
        self._synced: tuple[int | None, Snapshot] | None = None
        self._seen = (0, 0)
        if self._shared is not None:
            self._adopt_shared(scenario, publish)
        self._set_epoch()

    def _adopt_shared(self, scenario: Scenario, publish: bool) -> None:
        """With a database: make ``scenario`` the active one (``publish``) or adopt the one stored."""
        shared = self._shared
        assert shared is not None
        version, stored = shared.scenario()
        if stored is None or publish:
            version = shared.publish_scenario(scenario)
            shared.set_initial_scenario(scenario)
        elif stored != scenario:
            self._apply_scenario(stored)
        # A reset through any process goes back to the scenario the server was started with.
        self._initial_scenario = shared.initial_scenario() or scenario
        self._seen = (version, shared.poll()[1])

    def _set_epoch(self) -> None:
        """What new ids mix in: a reset (or a server start with ``unique_ids``) moves it."""
        if self._shared is not None:
            epoch = self._shared.epoch()
        else:
            epoch = f"{self._unique}{self._generation or ''}" if (self._unique or self._generation) else ""
        for provider in self._providers:
            provider.service.epoch = epoch

    # -- scenario, clock, state -----------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        """The active scenario. Setting it applies to batches created afterwards and restarts faults."""
        return self.service.scenario

    @scenario.setter
    def scenario(self, value: Scenario | Mapping[str, Any] | str | Path) -> None:
        scenario = Scenario.of(value)
        self._apply_scenario(scenario)
        if self._shared is not None:
            self._seen = (self._shared.publish_scenario(scenario), self._seen[1])

    def _apply_scenario(self, scenario: Scenario) -> None:
        for provider in self._providers:
            provider.set_scenario(scenario)
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
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"the clock is {self.clock.kind}: only a virtual clock can be advanced")
        self.clock.advance(seconds + 60 * minutes + 3600 * hours + 86400 * days)
        return self.now()

    def now(self) -> datetime:
        """The emulator's current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock.now() / 1_000_000, UTC)

    def reset(self) -> None:
        """Back to the state at construction: no batches, results files or calls, the scenario it
        started with (faults restarted), and a virtual clock at its starting instant. Batch ids
        minted afterwards differ from those before (outcomes replay from the seed)."""
        self.scenario = self._initial_scenario
        for provider in self._providers:
            provider.reset()
        self.journal.clear()
        reset_clock = getattr(self.clock, "reset", None)
        if reset_clock is not None:
            reset_clock()
        self._generation += 1
        if self._shared is not None:
            self._shared.drop_caches()
            self._seen = (self._seen[0], self._shared.bump_generation())
        self._set_epoch()

    def sync(self) -> Snapshot | None:
        """With a database: adopt the scenario and resets other processes published since the
        last call; returns the shared row (read again only once the database's change counter
        has moved). Without one: ``None``."""
        shared = self._shared
        if shared is None:
            return None
        counter = shared.db.changes
        changes = counter.value() if counter is not None else None
        synced = self._synced
        if synced is not None and synced[0] == changes:
            return synced[1]
        snapshot = shared.snapshot(changes)
        version, generation = snapshot.scenario_version, snapshot.generation
        seen_version, seen_generation = self._seen
        if version != seen_version:
            version, stored = shared.scenario()
            if stored is not None:
                self._apply_scenario(stored)
        if generation != seen_generation:
            self.journal.clear()
            self.faults.load(self.scenario)
            shared.drop_caches()
            self.results_files.clear()
            self._seen = (version, generation)
            self._set_epoch()
        self._seen = (version, generation)
        if changes is not None:
            self._synced = (changes, snapshot)
        return snapshot

    @property
    def shared(self) -> SharedState | None:
        """The state shared through a database, if any."""
        return self._shared

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far (method, path, headers, body, status), oldest first."""
        return self.journal.calls()

    def batches(self, api_key: str = DEFAULT_API_KEY, *, provider: Provider = "anthropic") -> list[BatchView]:
        """The live batches of one key and provider (Anthropic's message batches by default),
        newest first, as read-only views (for assertions)."""
        now = self.clock.now()
        entries = self.entries(api_key, provider=provider)
        if provider == "anthropic":
            for entry in entries:
                self.api.settle(entry, now)
            return [BatchView.of(e, now) for e in entries]
        console = self._provider(provider).provider.console
        return [BatchView.of(e, now, provider, console.status(e, now)) for e in entries]

    def entries(self, api_key: str = DEFAULT_API_KEY, *, provider: Provider = "anthropic") -> list[Entry]:
        """The live batches of one key and provider as the store holds them, newest first."""
        return self._provider(provider).service.store.page(api_key, 1_000_000, None, None).entries

    def _provider(self, name: str) -> Anthropic | OpenAI | Gemini:
        providers: dict[str, Anthropic | OpenAI | Gemini] = {
            "anthropic": self.anthropic,
            "openai": self.openai,
            "gemini": self.gemini,
        }
        if name not in providers:
            raise ValueError(f"provider must be 'anthropic', 'openai' or 'gemini', not {name!r}")
        return providers[name]

    def results_pending(self) -> int:
        """Results files still being written in the background."""
        return self.results_files.pending()

    def close(self) -> None:
        """Delete this emulator's results files and uploaded files and stop the results writer
        (also done when it is garbage-collected)."""
        self.results_files.close()
        self.openai.files.close()
        self.gemini.files.close()
        if self.anthropic.files is not None:
            self.anthropic.files.files.close()

    @contextmanager
    def autoadvance(self) -> Iterator[None]:
        """Within the block, ``time.sleep`` and ``asyncio.sleep`` in this thread advance the virtual
        clock by the requested seconds and return at once (``asyncio.sleep`` still yields to the
        loop): polling code runs unchanged in no time."""
        from ._engine.sleep import SleepPatch

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

    def openai_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` that reaches this emulator in-process (no socket); every keyword
        argument of the SDK's client is accepted, and no ``OPENAI_*`` variable is needed."""
        import openai

        kwargs.setdefault("base_url", f"{IN_PROCESS_URL}/v1")
        if "http_client" not in kwargs:
            kwargs["http_client"] = _http_client(openai.DefaultHttpxClient, self.app, asynchronous=False)
        return openai.OpenAI(api_key=api_key, **kwargs)

    def async_openai_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` that reaches this emulator in-process (no socket)."""
        import openai

        kwargs.setdefault("base_url", f"{IN_PROCESS_URL}/v1")
        if "http_client" not in kwargs:
            kwargs["http_client"] = _http_client(openai.DefaultAsyncHttpxClient, self.app, asynchronous=True)
        return openai.AsyncOpenAI(api_key=api_key, **kwargs)

    def gemini_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> genai.Client:
        """A ``google.genai.Client`` that reaches this emulator in-process (no socket): its sync
        calls and its ``.aio`` ones. Every keyword argument of the SDK's client is accepted
        (``http_options`` is completed with the in-process HTTP clients); no ``GEMINI_*`` or
        ``GOOGLE_*`` variable is needed. Works with google-genai 3.x (httpx2) and 1.x (httpx)."""
        from google import genai
        from google.genai import types

        options = kwargs.pop("http_options", None)
        if isinstance(options, dict):
            options = types.HttpOptions(**options)
        options = options.model_copy() if options is not None else types.HttpOptions()
        if options.base_url is None:
            options.base_url = f"{IN_PROCESS_URL}/"
        if "httpx_client" in type(options).model_fields:  # google-genai >= 2: any HTTP client, httpx2 first
            default = _genai_http_library()
            if options.httpx_client is None:
                options.httpx_client = _http_client(default[0], self.app, asynchronous=False)
            if options.httpx_async_client is None:
                options.httpx_async_client = _http_client(default[1], self.app, asynchronous=True)
        else:  # 1.x: its own httpx clients, built from client_args (a transport is one)
            from ._http.httpx_transport import httpx_transport

            transport = httpx_transport(self.app)
            options.client_args = {**(options.client_args or {}), "transport": transport}
            options.async_client_args = {**(options.async_client_args or {}), "transport": transport}
        return genai.Client(api_key=api_key, http_options=options, **kwargs)


def _genai_http_library() -> tuple[Any, Any]:
    """The client classes of the HTTP library google-genai would use (httpx2 when installed)."""
    try:
        import httpx2
    except ImportError:  # pragma: no cover - the dev extra installs httpx2
        import httpx

        return httpx.Client, httpx.AsyncClient
    return httpx2.Client, httpx2.AsyncClient


def _http_client(default: Any, app: Any, *, asynchronous: bool) -> Any:
    """An HTTP client of the library an SDK is built on (``httpx2`` or ``httpx``: ``default`` is
    the SDK's own client class) that reaches ``app`` in-process."""
    if any(base.__module__.startswith("httpx2") for base in default.__mro__):
        import httpx2

        from ._http.transport import AsyncASGITransport, SyncASGITransport

        if asynchronous:
            return httpx2.AsyncClient(transport=AsyncASGITransport(app), base_url=IN_PROCESS_URL)
        return httpx2.Client(transport=SyncASGITransport(app), base_url=IN_PROCESS_URL)
    import httpx

    from ._http.httpx_transport import httpx_transport

    client = httpx.AsyncClient if asynchronous else httpx.Client
    return client(transport=httpx_transport(app), base_url=IN_PROCESS_URL)
