"""Sleeping on a virtual clock: ``time.sleep`` and ``asyncio.sleep`` advance it instead of waiting."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .clock import VirtualClock

__all__ = ["SleepPatch"]

_T = TypeVar("_T")


class SleepPatch(contextlib.AbstractContextManager[None]):
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
