"""What the ``batchsim`` fixture hands a test: an :class:`~batchsim.Emulator` with test helpers.

Under ``--batchsim-live`` the same object hands out real clients for the production API, and every
emulator-only control (clock, scenario, journal, sleep auto-advance) skips the test instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anthropic
import orjson
import pytest

from ._batch import Batch
from ._clock import VirtualClock
from ._emulator import DEFAULT_API_KEY, Emulator
from ._journal import Call
from ._scenario import Scenario

if TYPE_CHECKING:
    import httpx
    import respx

__all__ = ["BatchsimFixture"]

_T = TypeVar("_T")
LIVE_REASON = "batchsim.{name} needs the emulator (the real API has no {what}); skipped under --batchsim-live"


class BatchsimFixture(Emulator):
    """The ``batchsim`` fixture: a fresh :class:`~batchsim.Emulator` on a virtual clock per test.

    Everything an ``Emulator`` does works (``client()``, ``async_client()``, ``advance()``,
    ``scenario``, ``calls``, ``batches()``), plus :meth:`created_requests`, :meth:`autoadvance`
    and, for the legacy httpx-based SDK, :meth:`respx_router` and :meth:`legacy_client`.
    """

    def __init__(self, *args: Any, live: bool = False, **kwargs: Any) -> None:
        self.live = live
        """``True`` under ``--batchsim-live``: clients reach the production API."""
        self._sleep_patch: _SleepPatch | None = None
        super().__init__(*args, **kwargs)

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` wired to this emulator in-process (live: the real API, with
        ``ANTHROPIC_API_KEY``)."""
        if self.live:
            return anthropic.Anthropic(api_key=api_key or os.environ.get("ANTHROPIC_API_KEY"), **kwargs)
        return super().client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def async_client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` wired to this emulator in-process (live: the real API)."""
        if self.live:
            return anthropic.AsyncAnthropic(api_key=api_key or os.environ.get("ANTHROPIC_API_KEY"), **kwargs)
        return super().async_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    # -- emulator-only controls -----------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        """The active scenario; setting it applies to batches created afterwards."""
        return self.service.scenario

    @scenario.setter
    def scenario(self, value: Scenario | Mapping[str, Any] | str | Path) -> None:
        __tracebackhide__ = True
        self._emulator_only("scenario", "scenarios")
        Emulator.scenario.fset(self, value)  # type: ignore[attr-defined]

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> int:
        """Move the virtual clock forward; returns the new time in epoch microseconds."""
        __tracebackhide__ = True
        self._emulator_only("advance()", "virtual clock")
        return super().advance(seconds, minutes=minutes, hours=hours, days=days)

    def reset(self) -> None:
        """Forget every batch and call, put the clock back to its start."""
        __tracebackhide__ = True
        self._emulator_only("reset()", "reset switch")
        super().reset()

    @property
    def calls(self) -> list[Call]:
        """Every API call received so far (method, path, query, headers, body, status), oldest first."""
        __tracebackhide__ = True
        self._emulator_only("calls", "request journal")
        return self.journal.calls()

    def batches(self, api_key: str = DEFAULT_API_KEY) -> list[Batch]:
        """The live batches of one key, newest first."""
        __tracebackhide__ = True
        self._emulator_only("batches()", "batch store")
        return super().batches(api_key)

    def created_requests(self, batch_id: str | None = None, *, api_key: str = DEFAULT_API_KEY) -> list[dict[str, Any]]:
        """The requests (``{"custom_id", "params"}``) the code under test submitted, as the emulator
        stored them: of one batch, or of every live (not deleted) batch of ``api_key``, oldest first."""
        __tracebackhide__ = True
        self._emulator_only("created_requests()", "batch store")
        if batch_id is not None:
            batch = self.service.store.get(api_key, batch_id)
            if batch is None:
                raise KeyError(f"no live batch {batch_id!r} for this key")
            chosen = [batch]
        else:
            chosen = super().batches(api_key)[::-1]
        return [
            {"custom_id": cid, "params": orjson.loads(raw)}
            for batch in chosen
            for cid, raw in zip(batch.custom_ids, batch.params, strict=True)
        ]

    def autoadvance(self) -> contextlib.AbstractContextManager[None]:
        """Make ``time.sleep`` and ``asyncio.sleep`` in this test's thread advance the virtual clock
        by the requested seconds and return at once (``asyncio.sleep`` still yields to the loop).

        Stays on until the test ends; use ``with batchsim.autoadvance():`` to limit it to a block.
        """
        __tracebackhide__ = True
        self._emulator_only("autoadvance()", "virtual clock")
        if not isinstance(self.clock, VirtualClock):
            pytest.fail(
                f"batchsim.autoadvance() needs the virtual clock; this emulator's clock is {self.clock.kind}",
                pytrace=False,
            )
        if self._sleep_patch is None:
            self._sleep_patch = _SleepPatch(self.clock)
        return self._sleep_patch

    # -- legacy SDK (0.x, httpx) ----------------------------------------------------------------

    def respx_router(self, base_url: str = "https://api.anthropic.com") -> respx.MockRouter:
        """A respx router (not started) forwarding every ``httpx`` request under ``base_url`` to this
        emulator in-process: ``with batchsim.respx_router(): ...`` captures a legacy SDK client."""
        __tracebackhide__ = True
        self._emulator_only("respx_router()", "in-process interception")
        from ._plugin_legacy import respx_router

        return respx_router(self.app, base_url)

    def legacy_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> Any:
        """A legacy (0.x, httpx-based) ``anthropic.Anthropic`` wired to this emulator in-process."""
        __tracebackhide__ = True
        self._emulator_only("legacy_client()", "in-process interception")
        from ._plugin_legacy import legacy_client

        return legacy_client(self.app, api_key, **kwargs)

    def httpx_transport(self) -> httpx.MockTransport:
        """An ``httpx`` (not httpx2) transport that forwards to this emulator in-process."""
        __tracebackhide__ = True
        self._emulator_only("httpx_transport()", "in-process interception")
        from ._plugin_legacy import httpx_transport

        return httpx_transport(self.app)

    # -- internals ------------------------------------------------------------------------------

    def _emulator_only(self, name: str, what: str) -> None:
        __tracebackhide__ = True
        if self.live:
            pytest.skip(LIVE_REASON.format(name=name, what=what))

    def _close(self) -> None:
        if self._sleep_patch is not None:
            self._sleep_patch.stop()
            self._sleep_patch = None


class _SleepPatch(contextlib.AbstractContextManager[None]):
    """Replaces ``time.sleep`` and ``asyncio.sleep`` while active. Only calls from the thread that
    switched it on advance the clock; other threads (servers, transports) sleep for real."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.thread = threading.get_ident()
        self.real_sleep = time.sleep
        self.real_async_sleep: Callable[..., Awaitable[Any]] = asyncio.sleep
        self.active = False
        self.start()

    def start(self) -> None:
        if self.active:
            return
        real_sleep, real_async_sleep, clock, thread = self.real_sleep, self.real_async_sleep, self.clock, self.thread

        def sleep(seconds: float) -> None:
            if threading.get_ident() != thread:
                real_sleep(seconds)
            elif seconds > 0:
                clock.advance(seconds)
            elif seconds < 0:
                raise ValueError("sleep length must be non-negative")

        async def async_sleep(delay: float, result: _T | None = None) -> _T | None:
            if threading.get_ident() != thread:
                return await real_async_sleep(delay, result)  # type: ignore[no-any-return]
            if delay > 0:
                clock.advance(delay)
            await real_async_sleep(0)
            return result

        time.sleep = sleep  # type: ignore[assignment]
        asyncio.sleep = async_sleep  # type: ignore[assignment]
        self.active = True

    def stop(self) -> None:
        if self.active:
            time.sleep = self.real_sleep
            asyncio.sleep = self.real_async_sleep  # type: ignore[assignment]
            self.active = False

    def __enter__(self) -> None:
        self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
