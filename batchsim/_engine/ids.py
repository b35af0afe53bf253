"""Identifiers: each provider says what its ids look like (:class:`IdFormat`); the engine mints
them from a seeded generator (reproducible) or derives them from a key (the same key, the same id).
"""

from __future__ import annotations

import random
import threading
from base64 import b64encode
from binascii import b2a_base64
from collections import deque
from dataclasses import dataclass
from hashlib import blake2b

__all__ = ["BASE62", "HEX", "IdFormat", "RequestIds"]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
_XZ = bytes.maketrans(b"+/", b"xz")  # base64 with "x" and "z" for "+" and "/": letters and digits


@dataclass(frozen=True)
class IdFormat:
    """``prefix`` + ``lead`` + ``length`` characters of ``alphabet`` (Anthropic's batch ids are
    ``msgbatch_`` + ``01`` + 22 letters and digits; OpenAI's are ``batch_`` + 32 hex digits)."""

    prefix: str
    length: int
    alphabet: str = BASE62
    lead: str = ""

    def make(self, rng: random.Random) -> str:
        """An id drawn from ``rng``."""
        return self.prefix + self.lead + "".join(rng.choices(self.alphabet, k=self.length))

    def derive(self, key: str) -> str:
        """An id derived from ``key`` (a hash, not a generator: cheap enough to run once per
        results line)."""
        if self.alphabet == BASE62:
            digest = blake2b(key.encode(), digest_size=max(18, -(-self.length * 3 // 4))).digest()
            text = b2a_base64(digest, newline=False).translate(_XZ).decode("ascii")
        elif self.alphabet == HEX:
            text = blake2b(key.encode(), digest_size=max(16, -(-self.length // 2))).hexdigest()
        else:
            digest = blake2b(key.encode(), digest_size=min(64, max(16, self.length))).digest()
            text = "".join(self.alphabet[b % len(self.alphabet)] for b in digest)
        return self.prefix + self.lead + text[: self.length]

    def matches(self, value: str) -> bool:
        """Whether ``value`` could be an id of this format."""
        body = value[len(self.prefix) + len(self.lead) :]
        return (
            value.startswith(self.prefix + self.lead)
            and len(body) == self.length
            and all(c in self.alphabet for c in body)
        )


class RequestIds:
    """Request ids (``prefix`` + 22 letters and digits, or ``prefix`` + 32 hex digits with
    ``hex``) drawn from a seeded generator, made a thousand at a time (one ``randbytes`` and one
    encoding pass), so handing one out costs a deque pop. The same seed gives the same sequence."""

    _BLOCK = 1024  # ids per refill; 33 random bytes encode to 44 characters: two ids

    def __init__(self, rng: random.Random, prefix: bytes = b"req_01", *, hex: bool = False) -> None:
        self._rng = rng
        self._prefix = prefix
        self._hex = hex
        self._ready: deque[bytes] = deque()
        self._lock = threading.Lock()

    def next(self) -> bytes:
        """The next id, as the ASCII bytes of a header value."""
        try:
            return self._ready.popleft()
        except IndexError:
            with self._lock:
                if not self._ready:
                    prefix = self._prefix
                    if self._hex:
                        text = self._rng.randbytes(16 * self._BLOCK).hex().encode()
                        self._ready.extend([prefix + text[k : k + 32] for k in range(0, len(text), 32)])
                    else:
                        text = b64encode(self._rng.randbytes(33 * self._BLOCK // 2), b"xz")
                        self._ready.extend([prefix + text[k : k + 22] for k in range(0, len(text), 22)])
            return self.next()
