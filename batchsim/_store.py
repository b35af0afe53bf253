"""Where batches live. :class:`Store` is the interface; :class:`MemoryStore` keeps everything in
this process (the default for tests and in-process use).

Batches are keyed by workspace (one per API key), so keys never see each other's batches.
Within a workspace the store keeps creation order, which is what list pagination walks.
Deleted batches leave a tombstone so a list cursor naming them keeps working.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Protocol

from ._batch import Batch

__all__ = ["MemoryStore", "Page", "Store"]

_deleted = attrgetter("deleted")


class Page:
    """A list page: batches newest first and whether more exist in the direction asked."""

    __slots__ = ("batches", "has_more")

    def __init__(self, batches: list[Batch], has_more: bool) -> None:
        self.batches = batches
        self.has_more = has_more


class Store(Protocol):
    def add(self, batch: Batch) -> None: ...

    def get(self, workspace: str, batch_id: str) -> Batch | None:
        """The live (not deleted) batch, or ``None``."""

    def save(self, batch: Batch) -> None:
        """Persist a change to ``cancel_initiated_at`` or ``deleted``."""

    def knows(self, workspace: str, batch_id: str) -> bool:
        """Whether the id was ever created in the workspace (deleted ones included)."""

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page: ...

    def count(self) -> int: ...

    def next_number(self) -> int:
        """The next number of the creation sequence (1, 2, ...), unique among all the store's users.

        Batch ids and seeds derive from it, so a run is reproducible and two processes sharing
        one store never mint the same id."""

    def clear(self) -> None:
        """Forget every batch and restart the creation sequence."""


class _Workspace:
    __slots__ = ("batches", "position")

    def __init__(self) -> None:
        self.batches: list[Batch] = []  # creation order, oldest first, tombstones included
        self.position: dict[str, int] = {}


class MemoryStore:
    """Batches in dictionaries; list pages cost O(limit) (plus skipped tombstones)."""

    def __init__(self) -> None:
        self._spaces: dict[str, _Workspace] = {}
        self._number = 0

    def add(self, batch: Batch) -> None:
        space = self._spaces.setdefault(batch.workspace, _Workspace())
        space.position[batch.id] = len(space.batches)
        space.batches.append(batch)

    def get(self, workspace: str, batch_id: str) -> Batch | None:
        space = self._spaces.get(workspace)
        if space is None:
            return None
        pos = space.position.get(batch_id)
        if pos is None:
            return None
        batch = space.batches[pos]
        return None if batch.deleted else batch

    def save(self, batch: Batch) -> None:
        """In memory the batch object is the record: nothing to write."""

    def knows(self, workspace: str, batch_id: str) -> bool:
        space = self._spaces.get(workspace)
        return space is not None and batch_id in space.position

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page:
        space = self._spaces.get(workspace)
        if space is None:
            return Page([], False)
        items = space.batches
        # Most pages hold no tombstone: take them as one slice.
        if before_id is not None:
            start = space.position[before_id] + 1
            chunk = items[start : start + limit + 1]
        else:
            end = space.position[after_id] if after_id is not None else len(items)
            chunk = items[max(0, end - limit - 1) : end]
            chunk.reverse()
        if True not in map(_deleted, chunk):
            if before_id is not None:
                return Page(chunk[:limit][::-1], len(chunk) > limit)
            return Page(chunk[:limit], len(chunk) > limit)
        if before_id is not None:
            # Newer than before_id: walk forward (toward newer), then show newest first.
            found: list[Batch] = []
            pos = space.position[before_id] + 1
            while pos < len(items) and len(found) <= limit:
                if not items[pos].deleted:
                    found.append(items[pos])
                pos += 1
            has_more = len(found) > limit
            return Page(found[:limit][::-1], has_more)
        pos = (space.position[after_id] if after_id is not None else len(items)) - 1
        found = []
        while pos >= 0 and len(found) <= limit:
            if not items[pos].deleted:
                found.append(items[pos])
            pos -= 1
        return Page(found[:limit], len(found) > limit)

    def count(self) -> int:
        return sum(len(s.batches) for s in self._spaces.values())

    def next_number(self) -> int:
        self._number += 1
        return self._number

    def clear(self) -> None:
        self._spaces.clear()
        self._number = 0
