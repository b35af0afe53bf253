"""Which fault (if any) each API call gets, decided with a seeded generator so a seed replays the
same faults. How a fault reaches the wire is the HTTP layer's job (:mod:`batchsim._http.connection`)."""

from __future__ import annotations

import random
import threading

from . import traits
from .scenario import Fault, Scenario

__all__ = ["FaultInjector"]


class FaultInjector:
    """Picks the fault (if any) for each API call of the active scenario.

    ``times = N`` faults fire on the next N matching calls; ``rate`` faults fire with that
    probability. The first fault in scenario order that fires wins.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._lock = threading.Lock()
        self.load(scenario)

    def load(self, scenario: Scenario) -> None:
        with self._lock:
            self._faults = scenario.faults
            self._remaining = [f.times for f in scenario.faults]
            self._rng = random.Random(f"faults:{scenario.seed}")
            self._streams = traits.stream_endpoints()

    def pick(self, endpoint: str) -> Fault | None:
        if not self._faults:
            return None
        with self._lock:
            for n, fault in enumerate(self._faults):
                if fault.endpoint not in ("*", endpoint):
                    continue
                if fault.kind == "truncate" and endpoint not in self._streams:
                    continue
                remaining = self._remaining[n]
                if remaining is not None:
                    if remaining > 0:
                        self._remaining[n] = remaining - 1
                        return fault
                elif self._rng.random() < (fault.rate or 0.0):
                    return fault
        return None
