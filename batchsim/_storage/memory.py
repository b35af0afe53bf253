""":class:`MemoryStore`: batches in this process's memory (the default for tests, in-process
use and ``batchsim serve`` without ``--db``).

A deleted batch leaves only its id behind, so a list cursor naming it keeps working; its
requests and plan are freed at once (a long-running server does not grow with every batch it
ever held, only by an id per deleted batch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .._engine.batch import Batch
from .._engine.ports import Entry, Page

__all__ = ["MemoryStore"]


class _Workspace:
    __slots__ = ("entries", "live", "position")

    def __init__(self) -> None:
        self.entries: list[Entry | None] = []  # creation order, oldest first; None: deleted
        self.position: dict[str, int] = {}
        self.live = 0


class MemoryStore:
    """Batches in dictionaries; list pages cost O(limit) (plus skipped deleted ones)."""

    durable = False

    def __init__(self) -> None:
        self._spaces: dict[str, _Workspace] = {}
        self._number = 0
        self._lock = threading.Lock()
        self.changes = 0
        """How many times a batch was added, changed or deleted, or the store cleared: what a
        list answer built from it may be kept by."""

    def add(self, batch: Batch) -> Batch:
        with self._lock:
            space = self._spaces.get(batch.workspace)
            if space is None:
                space = self._spaces[batch.workspace] = _Workspace()
            space.position[batch.id] = len(space.entries)
            space.entries.append(Entry(batch))
            space.live += 1
            self.changes += 1
        return batch

    def get(self, workspace: str, batch_id: str) -> Entry | None:
        space = self._spaces.get(workspace)
        if space is None:
            return None
        pos = space.position.get(batch_id)
        return None if pos is None else space.entries[pos]

    def update(self, workspace: str, batch_id: str, change: Callable[[Entry], Entry]) -> Entry | None:
        with self._lock:
            space = self._spaces.get(workspace)
            pos = None if space is None else space.position.get(batch_id)
            if space is None or pos is None:
                return None
            entry = space.entries[pos]
            if entry is None:
                return None
            new = change(entry)
            self.changes += 1
            if entry.cancel_initiated_at is not None:  # the first cancel time recorded wins
                new = new._replace(cancel_initiated_at=entry.cancel_initiated_at)
            if new.deleted:
                space.entries[pos] = None
                space.live -= 1
            else:
                space.entries[pos] = Entry(entry.batch, new.cancel_initiated_at, False)
            return new

    def knows(self, workspace: str, batch_id: str) -> bool:
        space = self._spaces.get(workspace)
        return space is not None and batch_id in space.position

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page:
        space = self._spaces.get(workspace)
        if space is None:
            return Page([], False)
        items = space.entries
        # Most pages hold no deleted batch: take them as one slice.
        if before_id is not None:
            start = space.position[before_id] + 1
            chunk = items[start : start + limit + 1]
        else:
            end = space.position[after_id] if after_id is not None else len(items)
            chunk = items[max(0, end - limit - 1) : end]
            chunk.reverse()
        if None not in chunk:
            found: list[Entry] = chunk  # type: ignore[assignment]
            if before_id is not None:
                return Page(found[:limit][::-1], len(found) > limit)
            return Page(found[:limit], len(found) > limit)
        found = []
        if before_id is not None:
            # Newer than before_id: walk forward (toward newer), then show newest first.
            pos = space.position[before_id] + 1
            while pos < len(items) and len(found) <= limit:
                entry = items[pos]
                if entry is not None:
                    found.append(entry)
                pos += 1
            return Page(found[:limit][::-1], len(found) > limit)
        pos = (space.position[after_id] if after_id is not None else len(items)) - 1
        while pos >= 0 and len(found) <= limit:
            entry = items[pos]
            if entry is not None:
                found.append(entry)
            pos -= 1
        return Page(found[:limit], len(found) > limit)

    def workspaces(self) -> list[str]:
        return [name for name, space in self._spaces.items() if space.live]

    def next_number(self) -> int:
        with self._lock:
            self._number += 1
            return self._number

    def clear(self) -> None:
        with self._lock:
            self._spaces.clear()
            self._number = 0
            self.changes += 1
