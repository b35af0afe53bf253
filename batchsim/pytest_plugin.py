"""The batchsim pytest plugin, registered through the ``pytest11`` entry point (no conftest needed).

Fixtures:

* ``batchsim`` — a fresh :class:`BatchsimFixture` (an :class:`~batchsim.Emulator` on a virtual
  clock) per test, configured by ``@pytest.mark.batchsim(...)``;
* ``batchsim_server`` — a real uvicorn server on 127.0.0.1, started once per session, serving the
  test's ``batchsim`` emulator; ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY`` and
  ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` point at it while the test runs.

``--batchsim-live`` (or ``BATCHSIM_LIVE=1``) hands out clients for the production APIs instead
(keys from ``ANTHROPIC_API_KEY`` and ``OPENAI_API_KEY``, each needed only by the tests that ask
for that provider's client); tests that need emulator-only controls are skipped.
``--batchsim-record DIR`` does the same through a recording proxy that leaves a cassette in DIR;
``--batchsim-replay DIR`` starts the ``batchsim`` fixture from that cassette's scenario. The whole
surface is described in the README, "Testing your batch code".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._defaults import DEFAULT_API_KEY
from ._pytest.options import LIVE_IGNORED, MARKER_HELP, MarkerOptions, build_scenario, read_options

if TYPE_CHECKING:
    import anthropic
    import openai

    from ._pytest.handle import BatchsimFixture


def __getattr__(name: str) -> Any:
    # The emulator (Starlette and the engine) is imported when a fixture first needs it, not
    # when pytest loads the plugin: every pytest run of a project with batchsim installed pays
    # the plugin's import, whether or not it uses batchsim.
    if name == "BatchsimFixture":
        from ._pytest.handle import BatchsimFixture

        return BatchsimFixture
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BatchsimFixture", "BatchsimServer"]

_LIVE = pytest.StashKey[bool]()
_RECORDING = pytest.StashKey[Callable[[], None]]()
_REPLAY = pytest.StashKey[Path]()
_LIVE_NOTES = pytest.StashKey[list[str]]()
_LIVE_ENV = "BATCHSIM_LIVE"
_PRODUCTION_URL = "https://api.anthropic.com"
_OPENAI_PRODUCTION_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class BatchsimServer:
    """What ``batchsim_server`` hands a test: the server's ``url`` and ``api_key`` (also exported
    as ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``, and ``OPENAI_BASE_URL`` (``{url}/v1``) /
    ``OPENAI_API_KEY``, for the test's duration) and the test's ``emulator`` (the same object as
    the ``batchsim`` fixture)."""

    url: str
    api_key: str
    emulator: BatchsimFixture

    @property
    def live(self) -> bool:
        return self.emulator.live

    @property
    def openai_url(self) -> str:
        """The base URL OpenAI's SDK takes (``{url}/v1``; live: OpenAI's)."""
        if self.live:
            return os.environ.get("OPENAI_BASE_URL") or _OPENAI_PRODUCTION_URL
        return f"{self.url}/v1"

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` that reaches the server over HTTP."""
        import anthropic

        if self.live:  # the fixture's live client: its batches are canceled if the test is skipped
            return self.emulator.client(**kwargs)

        kwargs.setdefault("base_url", self.url)
        return anthropic.Anthropic(api_key=kwargs.pop("api_key", self.api_key), **kwargs)

    def async_client(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` that reaches the server over HTTP."""
        import anthropic

        if self.live:
            return self.emulator.async_client(**kwargs)

        kwargs.setdefault("base_url", self.url)
        return anthropic.AsyncAnthropic(api_key=kwargs.pop("api_key", self.api_key), **kwargs)

    def openai_client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` that reaches the server over HTTP."""
        import openai

        if self.live:
            return self.emulator.openai_client(**kwargs)

        kwargs.setdefault("base_url", self.openai_url)
        return openai.OpenAI(api_key=kwargs.pop("api_key", self.api_key), **kwargs)

    def async_openai_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` that reaches the server over HTTP."""
        import openai

        if self.live:
            return self.emulator.async_openai_client(**kwargs)

        kwargs.setdefault("base_url", self.openai_url)
        return openai.AsyncOpenAI(api_key=kwargs.pop("api_key", self.api_key), **kwargs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batchsim")
    group.addoption(
        "--batchsim-live",
        action="store_true",
        default=False,
        help="batchsim fixtures hand out clients for the real batch APIs (keys from ANTHROPIC_API_KEY and "
        "OPENAI_API_KEY); tests that need emulator-only controls are skipped. Also BATCHSIM_LIVE=1.",
    )
    group.addoption(
        "--batchsim-record",
        metavar="DIR",
        default=None,
        help="like --batchsim-live, through a recording proxy that leaves a cassette in DIR "
        "(results, timelines, a fitted scenario.toml) for --batchsim-replay DIR",
    )
    group.addoption(
        "--batchsim-replay",
        metavar="DIR",
        default=None,
        help="the batchsim fixture starts from the cassette's DIR/scenario.toml (marker keys apply over it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    # A live run needs each provider's key only when a test asks for that provider's client.
    live = bool(config.getoption("batchsim_live", False)) or os.environ.get(_LIVE_ENV, "") in ("1", "true", "yes")
    config.stash[_LIVE] = live
    record = config.getoption("batchsim_record", None)
    if record:
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise pytest.UsageError("--batchsim-record needs ANTHROPIC_API_KEY in the environment")
        config.stash[_LIVE] = True
        config.stash[_RECORDING] = _start_recording(Path(record).resolve())
    replay = config.getoption("batchsim_replay", None)
    if replay:
        scenario = Path(replay).resolve() / "scenario.toml"
        if not scenario.is_file():
            raise pytest.UsageError(f"--batchsim-replay: no cassette at {replay} (expected {scenario})")
        config.stash[_REPLAY] = scenario


def _start_recording(folder: Path) -> Callable[[], None]:
    """Serve a recording proxy in front of the API the tests would reach, and point
    ``ANTHROPIC_BASE_URL`` at it for the session; returns what stops it."""
    from ._pytest.server import SessionServer
    from ._serve.record import Cassette, RecordingProxy

    upstream = os.environ.get("ANTHROPIC_BASE_URL") or _PRODUCTION_URL
    server = SessionServer()
    server.target = RecordingProxy(upstream, Cassette(folder, upstream))
    previous = os.environ.get("ANTHROPIC_BASE_URL")
    os.environ["ANTHROPIC_BASE_URL"] = server.url

    def stop() -> None:
        server.close()
        if previous is None:
            os.environ.pop("ANTHROPIC_BASE_URL", None)
        else:
            os.environ["ANTHROPIC_BASE_URL"] = previous

    return stop


def pytest_unconfigure(config: pytest.Config) -> None:
    stop = config.stash.get(_RECORDING, None)
    if stop is not None:
        del config.stash[_RECORDING]
        stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.stash.get(_RECORDING, None) is not None:
        return f"batchsim: recording mode, fixtures reach {os.environ.get('ANTHROPIC_BASE_URL')} (a recording proxy)"
    if config.stash.get(_LIVE, False):
        return "batchsim: live mode, fixtures reach the real batch APIs (Anthropic's, OpenAI's)"
    return None


def _live_notes(config: pytest.Config) -> list[str]:
    return config.stash.setdefault(_LIVE_NOTES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    notes = config.stash.get(_LIVE_NOTES, [])
    if notes:
        terminalreporter.section("batchsim live: markers that only tune the emulator were ignored")
        for line in notes:
            terminalreporter.line(line)


@pytest.fixture
def batchsim(request: pytest.FixtureRequest) -> Iterator[BatchsimFixture]:
    """A fresh emulator per test on a virtual clock, configured by ``@pytest.mark.batchsim``."""
    from ._pytest.handle import BatchsimFixture

    node = request.node
    options = read_options(node)
    if request.config.stash.get(_LIVE, False):
        emulator_only = sorted(k for k in options.given if k not in LIVE_IGNORED)
        if emulator_only:
            keys = ", ".join(emulator_only)
            pytest.skip(f"@pytest.mark.batchsim({keys}) needs the emulator; skipped under --batchsim-live")
        if options.given:
            keys = ", ".join(sorted(options.given))
            _live_notes(request.config).append(f"{node.nodeid}: ran without @pytest.mark.batchsim({keys})")
        live = BatchsimFixture(live=True)
        try:
            yield live
        finally:
            live._close()
        return
    replay = request.config.stash.get(_REPLAY, None)
    if replay is not None and "scenario" not in options.given:
        options = MarkerOptions({**options.given, "scenario": replay})
    scenario = build_scenario(options, node)
    kwargs = options.emulator_kwargs()
    problem: str | None = None
    try:
        sim = BatchsimFixture(scenario, **kwargs)
    except (ValueError, TypeError) as exc:
        problem = f"@pytest.mark.batchsim: {exc}"
    if problem is not None:  # outside the except block: one line, no chained traceback
        pytest.fail(problem, pytrace=False)
    if options.autoadvance:
        sim.autoadvance()
    try:
        yield sim
    finally:
        sim._close()


@pytest.fixture(scope="session")
def _batchsim_session_server() -> Iterator[Any]:
    from ._pytest.server import SessionServer

    server = SessionServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def batchsim_server(request: pytest.FixtureRequest, batchsim: BatchsimFixture) -> Iterator[BatchsimServer]:
    """A real server on 127.0.0.1 sharing state with this test's ``batchsim``; while the test runs
    ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``, ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` and
    google-genai's ``GOOGLE_GEMINI_BASE_URL``/``GEMINI_API_KEY`` point at it (live: the real APIs,
    env untouched)."""
    if batchsim.live:
        url = os.environ.get("ANTHROPIC_BASE_URL") or _PRODUCTION_URL
        yield BatchsimServer(url, os.environ.get("ANTHROPIC_API_KEY", ""), batchsim)
        return
    server = request.getfixturevalue("_batchsim_session_server")
    server.target = batchsim.app
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ANTHROPIC_BASE_URL", server.url)
        env.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
        env.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        # google-genai reads its base URL from GOOGLE_GEMINI_BASE_URL and its key from
        # GOOGLE_API_KEY, else GEMINI_API_KEY.
        env.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
        env.setenv("GEMINI_API_KEY", DEFAULT_API_KEY)
        env.delenv("GOOGLE_API_KEY", raising=False)
        env.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        env.setenv("OPENAI_API_KEY", DEFAULT_API_KEY)
        try:
            yield BatchsimServer(server.url, DEFAULT_API_KEY, batchsim)
        finally:
            server.target = None
