"""Identifiers in the API's shapes (``msgbatch_``, ``msg_``, ``req_``, ``toolu_`` + 24 characters)."""

from __future__ import annotations

import random

__all__ = ["make_id"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_id(prefix: str, rng: random.Random) -> str:
    """``prefix`` + ``01`` + 22 characters drawn from ``rng`` (as the API's ids look)."""
    return prefix + "01" + "".join(rng.choices(_ALPHABET, k=22))
