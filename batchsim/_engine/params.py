"""The requests of a batch, packed: their ``params`` as compact JSON in one buffer
(:class:`PackedParams`) and their keys (``custom_id``) as UTF-8 in another (:class:`PackedIds`).

A batch holds up to 100,000 requests: one ``bytes`` or ``str`` object each would cost an object
header and allocator slack apiece; one buffer and one offset array cost a few bytes per request.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, islice, pairwise
from typing import Any, overload

import orjson

__all__ = ["PackedIds", "PackedParams"]

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

    def mentions(self, needle: bytes) -> bool:
        """Whether any item may hold ``needle`` (one search of the whole buffer, in C: a batch
        whose requests never mention it skips the request-by-request look)."""
        return needle in self._blob

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
        # orjson's output keeps the capacity it grew to (up to ~4x the bytes for a large output):
        # a copy holds only the bytes, where the params live as long as their batch.
        blob = orjson.dumps(spaced)
        return cls(bytes(memoryview(blob)), None, 2, 1, count=len(params))

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
        for start, end in islice(pairwise(cuts), self._count):  # cuts found may run past the items
            yield blob[start + head : end - tail]

    @property
    def nbytes(self) -> int:
        """The bytes the items take (their buffer)."""
        return len(self._blob)

    def sizes(self) -> array[int]:
        """Each item's size in bytes."""
        cuts, pad = self._cuts, self._head + self._tail
        return array("q", [end - start - pad for start, end in islice(pairwise(cuts), self._count)])

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


class PackedIds(Sequence[str]):
    """A read-only sequence of strings stored as UTF-8, back to back in one buffer, with their
    offsets: item ``i`` is ``blob[cuts[i]:cuts[i + 1]].decode()``."""

    __slots__ = ("_blob", "_cuts")

    def __init__(self, blob: bytes, cuts: array[int]) -> None:
        self._blob = blob
        self._cuts = cuts

    @classmethod
    def of(cls, ids: Iterable[str]) -> PackedIds:
        """Pack ``ids`` (any strings; ASCII ones, the common case, in two passes in C)."""
        items = ids if isinstance(ids, list | tuple) else list(ids)
        joined = "".join(items)
        if joined.isascii():  # a character is a byte: the sizes are the lengths
            return cls(joined.encode(), _offsets(map(len, items)))
        encoded = [i.encode() for i in items]
        return cls(b"".join(encoded), _offsets(map(len, encoded)))

    @classmethod
    def split(cls, joined: str, separator: str = "\n") -> PackedIds:
        """The ids of ``joined``, which holds them separated by ``separator`` (which none holds)."""
        if not joined:
            return cls(b"", array("I", [0]))
        if joined.isascii() and len(separator) == 1:
            blob = joined.encode()
            cuts = array("I" if len(blob) < 1 << 32 else "q", [0])
            find, cut, sep, at = blob.find, cuts.append, separator.encode(), 0
            hit = find(sep)
            while hit >= 0:  # one find loop; the separators are dropped below
                cut(hit - at)
                at += 1
                hit = find(sep, hit + 1)
            cut(len(blob) - at)
            return cls(blob.replace(sep, b""), cuts)
        return cls.of(joined.split(separator))

    def raw(self, index: int) -> bytes:
        """Item ``index`` as its UTF-8 bytes."""
        cuts = self._cuts
        return self._blob[cuts[index] : cuts[index + 1]]

    def __len__(self) -> int:
        return len(self._cuts) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("id index out of range")
        cuts = self._cuts
        return self._blob[cuts[index] : cuts[index + 1]].decode()

    def __iter__(self) -> Iterator[str]:
        blob = self._blob
        for start, end in pairwise(self._cuts):
            yield blob[start:end].decode()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedIds):
            return self._blob == other._blob and self._cuts == other._cuts
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def joined(self) -> bytes:
        """The UTF-8 of every id back to back (what :meth:`from_sizes` takes)."""
        return self._blob

    @property
    def nbytes(self) -> int:
        """The bytes the ids take (their buffer and offsets)."""
        return len(self._blob) + self._cuts.itemsize * len(self._cuts)

    def sizes(self) -> array[int]:
        """Each id's size in bytes."""
        return array("q", [end - start for start, end in pairwise(self._cuts)])

    @classmethod
    def from_sizes(cls, blob: bytes, sizes: Iterable[int]) -> PackedIds:
        return cls(blob, _offsets(sizes))

    def __reduce__(self) -> tuple[Any, ...]:
        return (PackedIds, (self._blob, self._cuts))

    def __repr__(self) -> str:
        return f"PackedIds({len(self)} ids, {len(self._blob)} bytes)"


def _offsets(sizes: Iterable[int]) -> array[int]:
    cuts = array("q", accumulate(sizes, initial=0))
    return array("I", cuts) if cuts[-1] < 1 << 32 else cuts
