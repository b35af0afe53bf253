"""The requests' ``params`` of a batch, as compact JSON packed into one buffer.

A batch holds up to 100,000 of them: one ``bytes`` object each would cost an object header and
allocator slack apiece; one buffer and two offset arrays cost 16 bytes per request.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from operator import add
from typing import Any, overload

import orjson

__all__ = ["PackedParams"]

_NEWLINE = orjson.Fragment(b"\n")


class PackedParams(Sequence[bytes]):
    """A read-only sequence of encoded params: item ``i`` is ``blob[starts[i]:ends[i]]``."""

    __slots__ = ("_blob", "_count", "_ends", "_starts")

    def __init__(self, blob: bytes, count: int, starts: array[int], ends: array[int]) -> None:
        self._blob = blob
        self._count = count
        self._starts = starts
        self._ends = ends

    @classmethod
    def encode(cls, params: list[Any]) -> PackedParams:
        """Encode every item with one ``orjson.dumps`` call.

        The items are written as one JSON array with a raw newline between them (a fragment):
        orjson's compact output never holds a raw newline anywhere else (it escapes them in
        strings), so the newlines mark the items' bounds."""
        if not params:
            return cls(b"", 0, array("q"), array("q"))
        spaced: list[Any] = [_NEWLINE] * (2 * len(params) - 1)
        spaced[::2] = params
        blob = orjson.dumps(spaced)
        newlines = array("q")
        find, add_newline = blob.find, newlines.append
        at = find(b"\n")
        while at >= 0:  # a find loop (memchr) beats re.finditer and split here
            add_newline(at)
            at = find(b"\n", at + 1)
        # "[P0,\n,P1,\n,...,Pn]": item i starts after "[" or ",\n," and ends before ",\n," or "]".
        starts = array("q", [1])
        starts.extend(map(add, newlines, [2] * len(newlines)))
        ends = array("q", map(add, newlines, [-1] * len(newlines)))
        ends.append(len(blob) - 1)
        return cls(blob, len(params), starts, ends)

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
        ends = array("q", accumulate(sizes))
        starts = array("q", [0])
        starts.extend(ends[:-1])
        return cls(blob, len(sizes), starts, ends)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if type(index) is int and 0 <= index < self._count:
            return self._blob[self._starts[index] : self._ends[index]]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("params index out of range")
        return self._blob[self._starts[index] : self._ends[index]]

    def __iter__(self) -> Iterator[bytes]:
        blob = self._blob
        for start, end in zip(self._starts, self._ends, strict=True):
            yield blob[start:end]

    def sizes(self) -> array[int]:
        """Each item's size in bytes."""
        return array("q", [end - start for start, end in zip(self._starts, self._ends, strict=True)])

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
