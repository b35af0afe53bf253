"""Identifiers in the API's shapes (``msgbatch_``, ``msg_``, ``req_``, ``toolu_`` + 24 characters)."""

from __future__ import annotations

import random
from base64 import b64encode
from hashlib import blake2b

__all__ = ["derived_id", "make_id"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_id(prefix: str, rng: random.Random) -> str:
    """``prefix`` + ``01`` + 22 characters drawn from ``rng`` (as the API's ids look)."""
    return prefix + "01" + "".join(rng.choices(_ALPHABET, k=22))


def derived_id(prefix: str, key: str) -> str:
    """``prefix`` + ``01`` + 22 characters derived from ``key``: the same key, the same id.

    A hash, not a generator: cheap enough to run once per results line."""
    digest = b64encode(blake2b(key.encode(), digest_size=18).digest(), b"xz")
    return prefix + "01" + digest[:22].decode("ascii")
