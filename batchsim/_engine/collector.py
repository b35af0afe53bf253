"""The garbage collector, paused while large request bodies are parsed and held.

The collector is process-wide, so this module is its one owner: pauses nest (several creates at
once, of any provider), and the collector runs again, if it ran before the first pause, once the
last pause ends. Parsing tens of megabytes allocates millions of objects; the collector would
only walk them again and again."""

from __future__ import annotations

import gc
import threading

__all__ = ["collector"]


class _CollectorPause:
    """Pauses of the collector (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._resume = False

    def pause(self) -> None:
        with self._lock:
            if self._count == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._count += 1

    def resume(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0 and self._resume:
                gc.enable()


collector = _CollectorPause()
"""The one owner of the collector's pauses."""
