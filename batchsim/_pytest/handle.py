"""What the ``batchsim`` fixture hands a test: an :class:`~batchsim.Emulator` with test helpers.

Under ``--batchsim-live`` the same object hands out real clients for the production API, and every
emulator-only control (clock, scenario, journal, sleep auto-advance) skips the test instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import pytest

from .._emulator import DEFAULT_API_KEY, BatchView, Emulator, Provider
from .._engine.clock import Clock, VirtualClock
from .._engine.scenario import Scenario
from .._engine.sleep import SleepPatch
from .._http.journal import Call, Journal

if TYPE_CHECKING:
    import anthropic
    import httpx
    import openai
    import respx

__all__ = ["BatchsimFixture", "LiveBatches"]

_Client = TypeVar("_Client", "anthropic.Anthropic", "anthropic.AsyncAnthropic", "openai.OpenAI", "openai.AsyncOpenAI")

LIVE_REASON = "batchsim.{name} needs the emulator (the real API has no {what}); skipped under --batchsim-live"
KEY_REASON = "batchsim.{name} under --batchsim-live needs {variable} in the environment"
# Where each provider's batches are created (a POST answered 200 to a path ending so), and what
# of its client a cancel needs.
_CREATES = {
    "anthropic": ("/v1/messages/batches",),
    "openai": ("/v1/batches",),
    "gemini": (":batchGenerateContent", ":asyncBatchEmbedContent"),
}
_WHERE = {
    "anthropic": ("api_key", "auth_token", "base_url"),
    "openai": ("api_key", "organization", "project", "base_url"),
}


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LiveBatches:
    """The real batches a live test created through the fixture's clients (a response hook reads
    each successful create's id, Anthropic's and OpenAI's), and canceling them when the test
    cannot go on."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str, dict[str, Any]]] = []  # (provider, batch id, client settings)
        self.opened: list[Any] = []

    def close(self) -> None:
        """Close the HTTP clients the fixture opened for its live clients (an async one that the
        test left open is closed on a loop of its own)."""
        for http_client in self.opened:
            if http_client.is_closed:
                continue
            if hasattr(http_client, "aclose"):
                if not _loop_running():
                    with contextlib.suppress(Exception):  # its connections may belong to a closed loop
                        asyncio.run(http_client.aclose())
            else:
                http_client.close()
        self.opened.clear()

    def _record(self, method: str, path: str, status: int, body: bytes, provider: str, where: dict[str, Any]) -> None:
        if method == "POST" and path.rstrip("/").endswith(_CREATES[provider]) and status == 200:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                made = orjson.loads(body)
                # Gemini answers the batch's resource name (``batches/…``, or an operation's).
                self.created.append((provider, str(made["name"] if provider == "gemini" else made["id"]), where))

    def hook(self, provider: str, where: dict[str, Any]) -> Callable[[Any], None]:
        def record(response: Any) -> None:
            request = response.request
            if request.method == "POST" and response.status_code == 200:
                self._record(request.method, request.url.path, response.status_code, response.read(), provider, where)

        return record

    def async_hook(self, provider: str, where: dict[str, Any]) -> Callable[[Any], Awaitable[None]]:
        async def record(response: Any) -> None:
            request = response.request
            if request.method == "POST" and response.status_code == 200:
                body = await response.aread()
                self._record(request.method, request.url.path, response.status_code, body, provider, where)

        return record

    def cancel_all(self) -> str:
        """Cancel every recorded batch; what happened, as the tail of a skip message."""
        if not self.created:
            return ""
        canceled: list[str] = []
        failed: list[str] = []
        for provider, batch_id, where in self.created:
            problem = _cancel(provider, batch_id, where)
            if problem is None:
                canceled.append(batch_id)
            else:
                failed.append(f"{batch_id} ({problem})")
        self.created.clear()
        tail = f"; canceled the {len(canceled)} batch(es) this test created: {', '.join(canceled)}" if canceled else ""
        if failed:
            tail += f"; could not cancel: {', '.join(failed)}"
        return tail


def _cancel(provider: str, batch_id: str, where: dict[str, Any]) -> str | None:
    """Cancel one real batch; what went wrong, or ``None``."""
    if provider == "gemini":
        from google import genai
        from google.genai import errors

        with genai.Client(**where) as gemini:
            try:
                gemini.batches.cancel(name=batch_id)
            except errors.APIError as exc:  # already ended, or the API is unreachable
                return f"{type(exc).__name__}: {exc}"
        return None
    if provider == "openai":
        import openai

        with openai.OpenAI(**where) as client:
            try:
                client.batches.cancel(batch_id)
            except openai.APIError as exc:  # already ended, or the API is unreachable
                return f"{type(exc).__name__}: {exc}"
        return None
    import anthropic

    with anthropic.Anthropic(**where) as anthropic_client:
        try:
            anthropic_client.messages.batches.cancel(batch_id)
        except anthropic.APIError as exc:  # already ended, deleted, or the API is unreachable
            return f"{type(exc).__name__}: {exc}"
    return None


class BatchsimFixture:
    """The ``batchsim`` fixture: a fresh :class:`~batchsim.Emulator` on a virtual clock per test
    (:attr:`emulator`), with test helpers.

    Everything an ``Emulator`` does works through it (``client()``, ``async_client()``,
    ``openai_client()``, ``async_openai_client()``, ``advance()``, ``scenario``, ``calls``,
    ``batches()``, ``reset()``, ``app``...), plus
    :meth:`created_requests`, :meth:`autoadvance` and, for the legacy httpx-based SDK,
    :meth:`respx_router` and :meth:`legacy_client`. Under ``--batchsim-live`` (:attr:`live`) the
    clients reach the production API and every emulator-only control skips the test.
    """

    def __init__(self, *args: Any, live: bool = False, **kwargs: Any) -> None:
        self.live = live
        """``True`` under ``--batchsim-live``: clients reach the production API."""
        self._sleep_patch: SleepPatch | None = None
        self._live_batches = LiveBatches()
        self._emulator: Emulator | None = None if live else Emulator(*args, **kwargs)

    @property
    def emulator(self) -> Emulator:
        """The emulator behind the fixture (live: the test is skipped)."""
        __tracebackhide__ = True
        return self._sim("emulator", "emulator")

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` wired to this emulator in-process (live: the real API, with
        ``ANTHROPIC_API_KEY``)."""
        __tracebackhide__ = True
        if self.live:
            import anthropic

            key = self._live_key("client()", "ANTHROPIC_API_KEY", api_key)
            return self._tracked(anthropic.Anthropic, anthropic.DefaultHttpxClient, key, kwargs, "anthropic")
        return self._sim("client()", "emulator").client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def async_client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` wired to this emulator in-process (live: the real API)."""
        __tracebackhide__ = True
        if self.live:
            import anthropic

            key = self._live_key("async_client()", "ANTHROPIC_API_KEY", api_key)
            return self._tracked(anthropic.AsyncAnthropic, anthropic.DefaultAsyncHttpxClient, key, kwargs, "anthropic")
        return self._sim("async_client()", "emulator").async_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def gemini_client(self, *, api_key: str | None = None, **kwargs: Any) -> Any:
        """A ``google.genai.Client`` wired to this emulator in-process (live: the real Gemini API,
        with ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``, as the SDK reads them)."""
        __tracebackhide__ = True
        if self.live:
            return self._tracked_gemini(api_key, kwargs)
        return self._sim("gemini_client()", "emulator").gemini_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def openai_client(self, *, api_key: str | None = None, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` wired to this emulator in-process (live: the real API, with
        ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` is honoured as the SDK honours it)."""
        __tracebackhide__ = True
        if self.live:
            import openai

            key = self._live_key("openai_client()", "OPENAI_API_KEY", api_key)
            return self._tracked(openai.OpenAI, openai.DefaultHttpxClient, key, kwargs, "openai")
        return self._sim("openai_client()", "emulator").openai_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def async_openai_client(self, *, api_key: str | None = None, **kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` wired to this emulator in-process (live: the real API)."""
        __tracebackhide__ = True
        if self.live:
            import openai

            key = self._live_key("async_openai_client()", "OPENAI_API_KEY", api_key)
            return self._tracked(openai.AsyncOpenAI, openai.DefaultAsyncHttpxClient, key, kwargs, "openai")
        sim = self._sim("async_openai_client()", "emulator")
        return sim.async_openai_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    # -- the emulator's controls ---------------------------------------------------------------

    @property
    def app(self) -> Any:
        """The emulator's ASGI app."""
        __tracebackhide__ = True
        return self._sim("app", "ASGI app").app

    @property
    def clock(self) -> Clock:
        __tracebackhide__ = True
        return self._sim("clock", "virtual clock").clock

    @property
    def scenario(self) -> Scenario:
        """The active scenario; setting it applies to batches created afterwards."""
        __tracebackhide__ = True
        return self._sim("scenario", "scenarios").scenario

    @scenario.setter
    def scenario(self, value: Scenario | Mapping[str, Any] | str | Path) -> None:
        __tracebackhide__ = True
        self._sim("scenario", "scenarios").scenario = value

    @property
    def admin_token(self) -> str | None:
        __tracebackhide__ = True
        return self._sim("admin_token", "control plane").admin_token

    @admin_token.setter
    def admin_token(self, token: str | None) -> None:
        __tracebackhide__ = True
        self._sim("admin_token", "control plane").admin_token = token

    @property
    def journal(self) -> Journal:
        __tracebackhide__ = True
        return self._sim("journal", "request journal").journal

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far, oldest first."""
        __tracebackhide__ = True
        return self._sim("calls", "request journal").calls

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the virtual clock forward; returns the new "now"."""
        __tracebackhide__ = True
        return self._sim("advance()", "virtual clock").advance(seconds, minutes=minutes, hours=hours, days=days)

    def now(self) -> datetime:
        """The emulator's current time (live: the wall clock)."""
        if self._emulator is None:
            return datetime.now(UTC)
        return self._emulator.now()

    def reset(self) -> None:
        """Back to the state at construction (see :meth:`~batchsim.Emulator.reset`)."""
        __tracebackhide__ = True
        self._sim("reset()", "reset switch").reset()

    def batches(self, api_key: str = DEFAULT_API_KEY, *, provider: Provider = "anthropic") -> list[BatchView]:
        """The live batches of one key and provider (Anthropic's by default), newest first, as
        read-only views."""
        __tracebackhide__ = True
        return self._sim("batches()", "batch store").batches(api_key, provider=provider)

    def results_pending(self) -> int:
        __tracebackhide__ = True
        return self._sim("results_pending()", "results files").results_pending()

    def created_requests(
        self, batch_id: str | None = None, *, api_key: str = DEFAULT_API_KEY, provider: Provider = "anthropic"
    ) -> list[dict[str, Any]]:
        """The requests the code under test submitted, as the emulator stored them: of one batch,
        or of every live (not deleted) batch of ``api_key``, oldest first. Anthropic's are
        ``{"custom_id", "params"}``; OpenAI's are the input file's lines (``custom_id``, ``method``,
        ``url``, ``body``); Gemini's the inlined requests (``request`` and ``metadata.key``)."""
        __tracebackhide__ = True
        sim = self._sim("created_requests()", "batch store")
        if batch_id is not None:
            stored = batch_id.removeprefix("batches/") if provider == "gemini" else batch_id  # a Gemini name
            entry = sim._provider(provider).service.store.get(api_key, stored)
            if entry is None:
                raise KeyError(f"no live batch {batch_id!r} for this key")
            chosen = [entry]
        else:
            chosen = sim.entries(api_key, provider=provider)[::-1]
        if provider != "anthropic":
            return [orjson.loads(raw) for entry in chosen for raw in entry.batch.params]
        return [
            {"custom_id": cid, "params": orjson.loads(raw)}
            for entry in chosen
            for cid, raw in zip(entry.batch.custom_ids, entry.batch.params, strict=True)
        ]

    def autoadvance(self) -> contextlib.AbstractContextManager[None]:
        """Make ``time.sleep`` and ``asyncio.sleep`` in this test's thread advance the virtual clock
        by the requested seconds and return at once (``asyncio.sleep`` still yields to the loop).

        Stays on until the test ends; use ``with batchsim.autoadvance():`` to limit it to a block.
        """
        __tracebackhide__ = True
        sim = self._sim("autoadvance()", "virtual clock")
        if not isinstance(sim.clock, VirtualClock):
            pytest.fail(
                f"batchsim.autoadvance() needs the virtual clock; this emulator's clock is {sim.clock.kind}",
                pytrace=False,
            )
        if self._sleep_patch is None:
            self._sleep_patch = SleepPatch(sim.clock)
        return self._sleep_patch

    # -- legacy SDK (0.x, httpx) ----------------------------------------------------------------

    def respx_router(self, base_url: str = "https://api.anthropic.com") -> respx.MockRouter:
        """A respx router (not started) forwarding every ``httpx`` request under ``base_url`` to this
        emulator in-process: ``with batchsim.respx_router(): ...`` captures a legacy SDK client."""
        __tracebackhide__ = True
        sim = self._sim("respx_router()", "in-process interception")
        from .legacy import respx_router

        return respx_router(sim.app, base_url)

    def legacy_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> Any:
        """A legacy (0.x, httpx-based) ``anthropic.Anthropic`` wired to this emulator in-process."""
        __tracebackhide__ = True
        sim = self._sim("legacy_client()", "in-process interception")
        from .legacy import legacy_client

        return legacy_client(sim.app, api_key, **kwargs)

    def httpx_transport(self) -> httpx.MockTransport:
        """An ``httpx`` (not httpx2) transport that forwards to this emulator in-process."""
        __tracebackhide__ = True
        sim = self._sim("httpx_transport()", "in-process interception")
        from .legacy import httpx_transport

        return httpx_transport(sim.app)

    # -- internals ------------------------------------------------------------------------------

    def _sim(self, name: str, what: str) -> Emulator:
        """The emulator, for an emulator-only control; under ``--batchsim-live`` the test is
        skipped (after canceling the real batches it created, which would run on, billed, for
        nothing)."""
        __tracebackhide__ = True
        if self._emulator is None:
            canceled = self._live_batches.cancel_all()
            pytest.skip(LIVE_REASON.format(name=name, what=what) + canceled)
        return self._emulator

    def _live_key(self, name: str, variable: str, given: str | None) -> str:
        """The key of a live client: given, or from ``variable`` (without one the test is skipped:
        a live run needs a provider's key only for the tests that use that provider)."""
        __tracebackhide__ = True
        key = given or os.environ.get(variable)
        if not key:
            pytest.skip(KEY_REASON.format(name=name, variable=variable))
        return key

    def _tracked(
        self, cls: type[_Client], default_http: Any, api_key: str, kwargs: dict[str, Any], provider: str
    ) -> _Client:
        """A live client whose batch creates are recorded, to be canceled if the test is skipped."""
        http_client: Any = kwargs.get("http_client")
        if http_client is None:
            http_client = kwargs["http_client"] = default_http()
            self._live_batches.opened.append(http_client)  # closed when the test ends
        asynchronous = cls.__name__.startswith("Async")
        where: dict[str, Any] = {}
        batches = self._live_batches
        hook = batches.async_hook(provider, where) if asynchronous else batches.hook(provider, where)
        hooks: dict[str, list[Any]] = http_client.event_hooks
        http_client.event_hooks = {**hooks, "response": [*hooks.get("response", []), hook]}
        client = cls(api_key=api_key, **kwargs)
        where.update({k: getattr(client, k) for k in _WHERE[provider]})
        return client

    def _tracked_gemini(self, api_key: str | None, kwargs: dict[str, Any]) -> Any:
        """A live ``google.genai.Client`` whose batch creates are recorded (response hooks on the
        HTTP clients it makes), to be canceled if the test is skipped."""
        __tracebackhide__ = True
        from google import genai
        from google.genai import types

        key = api_key or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            pytest.skip(KEY_REASON.format(name="gemini_client()", variable="GEMINI_API_KEY"))
        options = kwargs.pop("http_options", None) or types.HttpOptions()
        if isinstance(options, dict):
            options = types.HttpOptions(**options)
        where: dict[str, Any] = {"api_key": key}
        if options.base_url:
            where["http_options"] = types.HttpOptions(base_url=options.base_url)
        batches = self._live_batches
        hooked: dict[str, Any] = {}
        for name, hook in (
            ("client_args", batches.hook("gemini", where)),
            ("async_client_args", batches.async_hook("gemini", where)),
        ):
            args = dict(getattr(options, name) or {})
            hooks = dict(args.get("event_hooks") or {})
            hooks["response"] = [*hooks.get("response", []), hook]
            hooked[name] = {**args, "event_hooks": hooks}
        return genai.Client(api_key=key, http_options=options.model_copy(update=hooked), **kwargs)

    def _close(self) -> None:
        self._live_batches.close()
        if self._sleep_patch is not None:
            self._sleep_patch.stop()
            self._sleep_patch = None
        if self._emulator is not None:
            self._emulator.close()
