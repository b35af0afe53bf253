"""Identifiers in the API's shapes (``msgbatch_``, ``msg_``, ``req_``, ``toolu_`` + 24 characters)."""

from __future__ import annotations

import random
import threading
from base64 import b64encode
from binascii import b2a_base64
from collections import deque
from hashlib import blake2b

__all__ = ["RequestIds", "derived_id", "make_id"]

_XZ = bytes.maketrans(b"+/", b"xz")  # base64 with "x" and "z" for "+" and "/": letters and digits
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_id(prefix: str, rng: random.Random) -> str:
    """``prefix`` + ``01`` + 22 characters drawn from ``rng`` (as the API's ids look)."""
    return prefix + "01" + "".join(rng.choices(_ALPHABET, k=22))


def derived_id(prefix: str, key: str) -> str:
    """``prefix`` + ``01`` + 22 characters derived from ``key``: the same key, the same id.

    A hash, not a generator: cheap enough to run once per results line."""
    digest = b2a_base64(blake2b(key.encode(), digest_size=18).digest(), newline=False).translate(_XZ)
    return prefix + "01" + digest[:22].decode("ascii")


class RequestIds:
    """``req_`` ids drawn from a seeded generator, made a thousand at a time (one ``randbytes``
    and one base64 pass), so handing one out costs a deque pop. The same seed gives the same
    sequence."""

    _BLOCK = 1024  # ids per refill; 33 random bytes encode to 44 characters: two ids

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._ready: deque[bytes] = deque()
        self._lock = threading.Lock()

    def next(self) -> bytes:
        """The next id, as the ASCII bytes of a header value."""
        try:
            return self._ready.popleft()
        except IndexError:
            with self._lock:
                if not self._ready:
                    text = b64encode(self._rng.randbytes(33 * self._BLOCK // 2), b"xz")
                    self._ready.extend([b"req_01" + text[k : k + 22] for k in range(0, len(text), 22)])
            return self.next()
