"""The garbage collector, paused while large request bodies are parsed and held.

The collector is process-wide, so this module is its one owner: pauses nest (several creates at
once, of any provider), and the collector runs again, if it ran before the first pause, once the
last pause ends. Parsing tens of megabytes allocates millions of objects; the collector would
only walk them again and again."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from typing import Any

__all__ = ["collector", "release_memory"]


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


def _malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to ask
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _malloc_trim()


def release_memory() -> None:
    """Give the memory a large request body took while it was parsed back to the system.

    The C allocator keeps what was freed in the middle of its heap for the process to reuse; after
    parsing a body of tens of megabytes that is most of what the process holds, for nothing.
    ``malloc_trim`` (glibc) returns it (a few milliseconds); elsewhere this does nothing."""
    if _trim is not None:
        _trim(0)
