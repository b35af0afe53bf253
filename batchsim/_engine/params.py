"""The requests' ``params`` of a batch, as compact JSON packed into one buffer.

A batch holds up to 100,000 of them: one ``bytes`` object each would cost an object header and
allocator slack apiece; one buffer and one offset array cost 8 bytes per request.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, pairwise
from typing import Any, overload

import orjson

__all__ = ["PackedParams"]

_NEWLINE = orjson.Fragment(b"\n")


class PackedParams(Sequence[bytes]):
    """A read-only sequence of encoded params: item ``i`` is
    ``blob[cuts[i] + head : cuts[i + 1] - tail]`` (``head`` and ``tail`` skip separators).

    Params written by :meth:`encode` find their cuts on first use (not at the create)."""

    __slots__ = ("_blob", "_count", "_found", "_head", "_tail")

    def __init__(
        self, blob: bytes, cuts: array[int] | None, head: int = 0, tail: int = 0, count: int | None = None
    ) -> None:
        self._blob = blob
        self._count = len(cuts) - 1 if cuts is not None else (count or 0)
        self._found = cuts
        self._head = head
        self._tail = tail

    @property
    def _cuts(self) -> array[int]:
        cuts = self._found
        if cuts is None:  # "[P0,\n,P1,\n,...,Pn]": -1, the newlines, then len(blob)
            cuts = array("q", [-1])
            blob = self._blob
            find, cut = blob.find, cuts.append
            at = find(b"\n")
            while at >= 0:  # a find loop (memchr) beats re.finditer and split here
                cut(at)
                at = find(b"\n", at + 1)
            cut(len(blob))
            self._found = cuts  # two threads may both find them: the same array
        return cuts

    @classmethod
    def encode(cls, params: list[Any]) -> PackedParams:
        """Encode every item with one ``orjson.dumps`` call.

        The items are written as one JSON array with a raw newline between them (a fragment):
        orjson's compact output never holds a raw newline anywhere else (it escapes them in
        strings), so the newlines mark the items' bounds."""
        if not params:
            return cls(b"", array("q", [0]))
        spaced: list[Any] = [_NEWLINE] * (2 * len(params) - 1)
        spaced[::2] = params
        # "[P0,\n,P1,\n,...,Pn]": with cuts -1, the newlines, then len(blob), item i is
        # blob[cuts[i] + 2 : cuts[i + 1] - 1].
        return cls(orjson.dumps(spaced), None, 2, 1, count=len(params))

    @classmethod
    def join(cls, parts: Iterable[bytes]) -> PackedParams:
        """Pack already encoded params."""
        sizes = array("q")
        buffer = bytearray()
        for part in parts:
            buffer += part
            sizes.append(len(part))
        return cls.from_sizes(bytes(buffer), sizes)

    @classmethod
    def from_sizes(cls, blob: bytes, sizes: array[int]) -> PackedParams:
        """Params stored back to back in ``blob``, with their sizes."""
        return cls(blob, array("q", accumulate(sizes, initial=0)))

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if type(index) is int and 0 <= index < self._count:  # the usual case, first
            cuts = self._cuts
            return self._blob[cuts[index] + self._head : cuts[index + 1] - self._tail]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("params index out of range")
        return self[index]

    def __iter__(self) -> Iterator[bytes]:
        blob, head, tail, cuts = self._blob, self._head, self._tail, self._cuts
        for start, end in pairwise(cuts):
            yield blob[start + head : end - tail]

    def sizes(self) -> array[int]:
        """Each item's size in bytes."""
        cuts, pad = self._cuts, self._head + self._tail
        return array("q", [end - start - pad for start, end in pairwise(cuts)])

    def joined(self) -> bytes:
        """Every item back to back (what :meth:`from_sizes` takes)."""
        return b"".join(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedParams({self._count} items, {len(self._blob)} bytes)"
