"""Results files: the encoded results JSONL of ended batches, kept on disk, not in memory.

A batch's results are a pure function of the batch, so those of a large batch are written once to
an unnamed temporary file (a :class:`Spool`) and every download reads that file back, at the
speed of the disk cache. Readers may follow a spool while it is still being written.

Large batches get their spool written *ahead*, by one background thread, right after their
create (see :func:`write_ahead`): by the time such a batch has ended, its first download reads a
finished file. Spools are dropped (their files deleted) least recently used first once there are
more than :data:`MAX_SPOOLS` of them or they hold more than :data:`MAX_SPOOL_BYTES`; a batch whose
spool was dropped writes a new one on its next download.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Protocol

__all__ = [
    "FILE_MIN_REQUESTS",
    "MAX_SPOOLS",
    "MAX_SPOOL_BYTES",
    "Spool",
    "SpoolFailedError",
    "keep",
    "pending",
    "write_ahead",
]

FILE_MIN_REQUESTS = 1000
"""Batches with fewer requests generate their results at each download (a few milliseconds at
most) instead of keeping a file."""
MAX_SPOOLS = 256
MAX_SPOOL_BYTES = 4 * 1024**3
_READ_SIZE = 1 << 20
_PREAD = hasattr(os, "pread")  # not on Windows


class SpoolFailedError(RuntimeError):
    """The spool a reader followed was abandoned before it was complete."""


class Spool:
    """An append-only unnamed temporary file; one writer, any number of readers."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="batchsim-results-")  # noqa: SIM115 (closed by close())
        self._fd = self._file.fileno()
        self._seek_lock = threading.Lock()  # where there is no pread: reads move the file position
        self.size = 0  # bytes written and readable
        self.complete = False
        self.failed = False

    def append(self, data: bytes) -> None:
        with self._seek_lock:
            if not _PREAD:
                os.lseek(self._fd, self.size, os.SEEK_SET)
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        self.size += len(data)  # after the write: readers never see more than was written

    def finish(self) -> None:
        self.complete = True

    def fail(self) -> None:
        self.failed = True

    def read(self, offset: int, size: int) -> bytes:
        if _PREAD:
            return os.pread(self._fd, size, offset)
        with self._seek_lock:
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, size)

    def follow(self) -> Iterator[bytes]:
        """The file's content in large chunks; an empty chunk means "not written yet: ask again
        in a moment" (the writer is another thread). Raises :class:`SpoolFailedError` if the
        writer gave up."""
        offset = 0
        while True:
            size = self.size
            if offset < size:
                data = self.read(offset, min(_READ_SIZE, size - offset))
                offset += len(data)
                yield data
            elif self.complete:
                return
            elif self.failed:
                raise SpoolFailedError("the results file was abandoned while it was written")
            else:
                yield b""

    def close(self) -> None:
        self._file.close()

    __del__ = close


class _Owner(Protocol):
    spool: Spool | None


class _Kept:
    """The spools in use, least recently used first, within :data:`MAX_SPOOLS` and
    :data:`MAX_SPOOL_BYTES`. Only weak references: a spool whose owner lets it go (a freed or
    deleted batch) is closed at once, its file deleted."""

    def __init__(self) -> None:
        self._spools: OrderedDict[int, tuple[weakref.ref[_Owner], weakref.ref[Spool]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, owner: _Owner, spool: Spool) -> None:
        with self._lock:
            self._spools[id(spool)] = (weakref.ref(owner), weakref.ref(spool))
            self._trim()

    def touch(self, spool: Spool) -> None:
        with self._lock:
            if id(spool) in self._spools:
                self._spools.move_to_end(id(spool))
                self._trim()

    def _trim(self) -> None:
        live: list[tuple[_Owner, Spool]] = []
        for key, (owner_ref, spool_ref) in list(self._spools.items()):
            owner, spool = owner_ref(), spool_ref()
            if owner is None or spool is None or owner.spool is not spool:
                del self._spools[key]
            else:
                live.append((owner, spool))
        total = sum(spool.size for _, spool in live)
        for owner, spool in live:  # oldest first
            if len(self._spools) <= MAX_SPOOLS and (total <= MAX_SPOOL_BYTES or len(self._spools) == 1):
                break
            del self._spools[id(spool)]
            owner.spool = None  # the file goes once its last reader is done
            total -= spool.size


keep = _Kept()


class _Worker:
    """One daemon thread running write-ahead jobs in order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.pending = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self.pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="batchsim-write-ahead", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # the spool is left failed: the next download writes it again
                logging.getLogger("batchsim").exception("writing results ahead failed")
            finally:
                with self._lock:
                    self.pending -= 1
                time.sleep(0)


_worker = _Worker()


def write_ahead(job: Callable[[], None]) -> None:
    """Run ``job`` (writing one batch's results) on the background thread."""
    _worker.submit(job)


def pending() -> int:
    """Write-ahead jobs not finished yet."""
    return _worker.pending
