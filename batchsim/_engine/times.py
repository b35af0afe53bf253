"""Writing the engine's instants (epoch microseconds) the ways APIs show them."""

from __future__ import annotations

import time
from functools import lru_cache

from .clock import MICROS

__all__ = ["rfc3339", "unix_seconds"]


@lru_cache(maxsize=8192)
def rfc3339(micros: int) -> str:
    """``2024-09-24T18:37:24.100435Z`` (Anthropic's and Google's timestamps).

    Cached: a batch's timestamps are fixed, and formatting them was a noticeable part of a
    retrieve."""
    seconds, frac = divmod(micros, MICROS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:06d}Z"


def unix_seconds(micros: int) -> int:
    """Whole seconds since the epoch (OpenAI's timestamps), rounded down."""
    return micros // MICROS
