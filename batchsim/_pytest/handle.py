"""What the ``batchsim`` fixture hands a test: an :class:`~batchsim.Emulator` with test helpers.

Under ``--batchsim-live`` the same object hands out real clients for the production API, and every
emulator-only control (clock, scenario, journal, sleep auto-advance) skips the test instead.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from .._emulator import DEFAULT_API_KEY, Emulator
from .._engine.clock import VirtualClock
from .._engine.sleep import SleepPatch

if TYPE_CHECKING:
    import anthropic
    import httpx
    import respx

__all__ = ["BatchsimFixture"]

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
        self._sleep_patch: SleepPatch | None = None
        super().__init__(*args, **kwargs)

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
        """An ``anthropic.Anthropic`` wired to this emulator in-process (live: the real API, with
        ``ANTHROPIC_API_KEY``)."""
        if self.live:
            import anthropic

            return anthropic.Anthropic(api_key=api_key or os.environ.get("ANTHROPIC_API_KEY"), **kwargs)
        return super().client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    def async_client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """An ``anthropic.AsyncAnthropic`` wired to this emulator in-process (live: the real API)."""
        if self.live:
            import anthropic

            return anthropic.AsyncAnthropic(api_key=api_key or os.environ.get("ANTHROPIC_API_KEY"), **kwargs)
        return super().async_client(api_key=api_key or DEFAULT_API_KEY, **kwargs)

    # -- emulator-only controls -----------------------------------------------------------------

    def created_requests(self, batch_id: str | None = None, *, api_key: str = DEFAULT_API_KEY) -> list[dict[str, Any]]:
        """The requests (``{"custom_id", "params"}``) the code under test submitted, as the emulator
        stored them: of one batch, or of every live (not deleted) batch of ``api_key``, oldest first."""
        __tracebackhide__ = True
        self._control("created_requests()", "batch store")
        if batch_id is not None:
            entry = self.service.store.get(api_key, batch_id)
            if entry is None:
                raise KeyError(f"no live batch {batch_id!r} for this key")
            chosen = [entry]
        else:
            chosen = self._entries(api_key)[::-1]
        return [
            {"custom_id": cid, "params": orjson.loads(raw)}
            for entry in chosen
            for cid, raw in zip(entry.batch.custom_ids, entry.batch.params, strict=True)
        ]

    def autoadvance(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        """Make ``time.sleep`` and ``asyncio.sleep`` in this test's thread advance the virtual clock
        by the requested seconds and return at once (``asyncio.sleep`` still yields to the loop).

        Stays on until the test ends; use ``with batchsim.autoadvance():`` to limit it to a block.
        """
        __tracebackhide__ = True
        self._control("autoadvance()", "virtual clock")
        if not isinstance(self.clock, VirtualClock):
            pytest.fail(
                f"batchsim.autoadvance() needs the virtual clock; this emulator's clock is {self.clock.kind}",
                pytrace=False,
            )
        if self._sleep_patch is None:
            self._sleep_patch = SleepPatch(self.clock)
        return self._sleep_patch

    # -- legacy SDK (0.x, httpx) ----------------------------------------------------------------

    def respx_router(self, base_url: str = "https://api.anthropic.com") -> respx.MockRouter:
        """A respx router (not started) forwarding every ``httpx`` request under ``base_url`` to this
        emulator in-process: ``with batchsim.respx_router(): ...`` captures a legacy SDK client."""
        __tracebackhide__ = True
        self._control("respx_router()", "in-process interception")
        from .legacy import respx_router

        return respx_router(self.app, base_url)

    def legacy_client(self, *, api_key: str = DEFAULT_API_KEY, **kwargs: Any) -> Any:
        """A legacy (0.x, httpx-based) ``anthropic.Anthropic`` wired to this emulator in-process."""
        __tracebackhide__ = True
        self._control("legacy_client()", "in-process interception")
        from .legacy import legacy_client

        return legacy_client(self.app, api_key, **kwargs)

    def httpx_transport(self) -> httpx.MockTransport:
        """An ``httpx`` (not httpx2) transport that forwards to this emulator in-process."""
        __tracebackhide__ = True
        self._control("httpx_transport()", "in-process interception")
        from .legacy import httpx_transport

        return httpx_transport(self.app)

    # -- internals ------------------------------------------------------------------------------

    def _control(self, name: str, what: str) -> None:
        __tracebackhide__ = True
        if self.live:
            pytest.skip(LIVE_REASON.format(name=name, what=what))

    def _close(self) -> None:
        if self._sleep_patch is not None:
            self._sleep_patch.stop()
            self._sleep_patch = None
        self.close()
