"""Clocks: the emulator's only source of "now".

Time is an integer count of microseconds since the Unix epoch, so timestamps are exact and
reproducible. Three kinds share one protocol:

* ``virtual`` — stands still until :meth:`VirtualClock.advance` moves it (the default in tests);
* ``real`` — the wall clock;
* ``scaled:N`` — starts at the wall clock and runs N times faster (``scaled:3600`` turns an hour of
  emulator time into a second of wall time); N is at most :data:`MAX_SCALE`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["MAX_SCALE", "Clock", "RealClock", "ScaledClock", "VirtualClock", "make_clock"]

MICROS = 1_000_000
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = 222_615_820_800 * MICROS  # 9024-06-01T00:00:00Z: far enough for any test, and every
# timestamp a batch created before it can reach (its start plus a scenario's bounded timings,
# 29 days of archive) still formats as a four-digit year.
MAX_SCALE = 100_000
"""The fastest scaled clock (a day of emulator time in 0.86 s): started today it reaches
:data:`LATEST`, where it stops, only after 25 days of wall time. Faster clocks gave five-digit
years within hours, which no SDK parses."""


def advance_by(now: int, seconds: float) -> int:
    """The number of microseconds to move a clock at ``now`` by ``seconds``; ``ValueError`` if
    that is backward or past :data:`LATEST`."""
    if not seconds >= 0:
        raise ValueError("the clock only moves forward: seconds must be >= 0")
    if seconds > (LATEST - now) / MICROS:
        raise ValueError(f"the clock cannot move past 9024-06-01T00:00:00Z (at most {(LATEST - now) / MICROS:.0f} s)")
    return round(seconds * MICROS)


def to_micros(moment: datetime | float | int) -> int:
    """Convert a datetime (naive means UTC) or epoch seconds to epoch microseconds."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds
    return round(float(moment) * MICROS)


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` returning epoch microseconds."""

    kind: str

    def now(self) -> int: ...


class VirtualClock:
    """A clock that moves only when told to."""

    kind = "virtual"

    def __init__(self, start: datetime | float | int = DEFAULT_START) -> None:
        self._start = to_micros(start)
        self._now = self._start
        self._lock = threading.Lock()

    def now(self) -> int:
        return self._now

    def advance(self, seconds: float) -> int:
        """Move forward by ``seconds`` (never backward) and return the new time."""
        with self._lock:
            self._now += advance_by(self._now, seconds)
            return self._now

    def reset(self) -> None:
        with self._lock:
            self._now = self._start


class RealClock:
    """The wall clock."""

    kind = "real"

    def now(self) -> int:
        return time.time_ns() // 1000


class ScaledClock:
    """Wall time sped up by ``factor``, starting from the wall clock at construction."""

    def __init__(self, factor: float) -> None:
        if not 0 < factor <= MAX_SCALE:
            raise ValueError(f"a scaled clock needs a factor > 0 and at most {MAX_SCALE}")
        self.factor = factor
        self.kind = f"scaled:{factor:g}"
        self._origin_wall = time.time_ns() // 1000
        self._origin_mono = time.monotonic_ns() // 1000

    def now(self) -> int:
        elapsed = time.monotonic_ns() // 1000 - self._origin_mono
        return min(LATEST, self._origin_wall + round(elapsed * self.factor))

    def reset(self) -> None:
        self._origin_wall = time.time_ns() // 1000
        self._origin_mono = time.monotonic_ns() // 1000


def make_clock(spec: str | Clock) -> Clock:
    """Build a clock from ``"virtual"``, ``"real"`` or ``"scaled:N"`` (or pass one through)."""
    if not isinstance(spec, str):
        return spec
    name, _, arg = spec.strip().partition(":")
    if name == "virtual" and not arg:
        return VirtualClock()
    if name == "real" and not arg:
        return RealClock()
    if name == "scaled":
        try:
            factor = float(arg)
        except ValueError:
            raise ValueError(f"clock {spec!r}: scaled:N needs a number N > 0 (the speed-up), got {arg!r}") from None
        if not factor > 0 or factor == float("inf"):
            raise ValueError(f"clock {spec!r}: the speed-up N of scaled:N must be a finite number > 0")
        if factor > MAX_SCALE:
            raise ValueError(
                f"clock {spec!r}: the speed-up N of scaled:N is at most {MAX_SCALE} (a day per 0.86 s); "
                "faster clocks would run past the year 9024"
            )
        return ScaledClock(factor)
    raise ValueError(f"unknown clock {spec!r}: use 'virtual', 'real' or 'scaled:N' (N > 0)")
