"""Results files: the encoded results JSONL of ended batches, kept on disk, not in memory.

A batch's results are a pure function of the batch, so those of a large batch are written once
to a file and every download reads that file back, at the speed of the disk cache. Files are
written by a background *writer*: a separate process (``writer="process"``, what ``batchsim
serve`` uses, so that generating results never competes with the API for the interpreter) or a
thread (``writer="thread"``, the in-process default: no process to start). Downloads follow a file
while it is being written, so a download never generates results itself.

Each :class:`ResultsFileStore` owns its folder, its files and its writer: two emulators in one
process share nothing. Files are dropped (deleted) least recently used first once there are
more than ``max_files`` of them or they hold more than ``max_bytes``; a dropped file is written
again on its next download. A file being read when it is dropped stays readable until its last
reader is done.

Bounds: one file holds at most ``max_file_bytes``, and a writer never lets the files under the
store's *root* pass ``max_bytes``, checked before each chunk under a lock file in the root. The
workers of one ``batchsim serve`` share one root (each store keeps its files in a folder of its
own inside it, named after its process), so the bounds hold for the server as a whole. When a
file cannot grow (or no file can be added), the download reads what the file has and generates
the rest of its lines itself: the same bytes, only slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Literal, NamedTuple

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_ONE_FILE_BYTES",
    "ResultsFileError",
    "ResultsFileStore",
    "sweep_stale_roots",
]

MAX_FILES = 256
MAX_FILE_BYTES = 4 * 1024**3
"""What all results files may hold together (under one root)."""
MAX_ONE_FILE_BYTES = 1024**3
"""What one results file may hold."""
_FULL = -2  # a writer's answer: the file stopped at a bound; downloads generate the rest
_READ_SIZE = 1 << 20
_POLL = 0.002  # seconds between looks at a file being written
_CHECK_EVERY = 64  # chunks between a writer's looks at whether its file was dropped

log = logging.getLogger("batchsim")

Lines = Callable[[], Iterator[bytes]]


class ResultsFileError(RuntimeError):
    """The file a download followed was abandoned before it was complete."""


class _Bounds(NamedTuple):
    root: str
    max_bytes: int
    max_file_bytes: int


@contextlib.contextmanager
def _locked(root: str) -> Iterator[None]:
    """The root's lock file, held (every writer and store of the root take it to count)."""
    fd = os.open(os.path.join(root, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _usage(root: str) -> tuple[int, int]:
    """``(files, bytes)`` of the results files under ``root`` (call with the lock held). The folder
    of a store whose process is gone (a worker killed and replaced) is deleted on the way."""
    files = total = 0
    with os.scandir(root) as folders:
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False):
                continue
            pid = folder.name.partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder.path, ignore_errors=True)
                continue
            with contextlib.suppress(FileNotFoundError), os.scandir(folder.path) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):
                        total += entry.stat(follow_symlinks=False).st_size
                        files += 1
    return files, total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_ROOT_PREFIX = "batchsim-results-"
_EMPTY_ROOT_AGE = 24 * 3600.0


def sweep_stale_roots(folder: str | None = None) -> int:
    """Delete the results folders that servers killed outright (``kill -9``, a crash) left in
    ``folder`` (the temporary folder by default): those whose every store belongs to a process
    that is gone, and empty ones older than a day. Returns how many were deleted. A server runs
    this as it starts, so restarts do not pile up results files."""
    folder = folder or tempfile.gettempdir()
    swept = 0
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith(_ROOT_PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                pids = [int(p.name.partition("-")[0]) for p in os.scandir(entry.path) if p.is_dir()]
                age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            except (OSError, ValueError):
                continue  # not a folder of ours, or going away
            stale = not any(_alive(pid) for pid in pids) if pids else age > _EMPTY_ROOT_AGE
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                swept += 1
    return swept


def _write_file(path: str, lines: Lines, bounds: _Bounds) -> int:
    """Write ``lines()`` to ``path`` (created empty by the owner); the size written, -1 if the
    owner dropped the file meanwhile, or ``_FULL`` if a bound stopped it. Runs in the writer
    (thread or process)."""
    size = 0
    try:  # never created again here: a file dropped before its writer started stays gone
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return -1
    with open(fd, "ab", buffering=0) as out:
        for n, chunk in enumerate(lines(), 1):
            if size + len(chunk) > bounds.max_file_bytes:
                return _FULL
            with _locked(bounds.root):
                if _usage(bounds.root)[1] + len(chunk) > bounds.max_bytes:
                    return _FULL
                view = memoryview(chunk)
                while view:
                    view = view[out.write(view) :]
            size += len(chunk)
            if n % _CHECK_EVERY == 0 and not os.path.exists(path):
                return -1  # dropped: nobody will read it
    return size


class _File:
    """One results file: written by the writer, read by any number of downloads."""

    __slots__ = ("__weakref__", "done", "fd", "lines", "path")

    def __init__(self, path: str, done: Future[int], lines: Lines) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.done = done
        self.lines = lines

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def failed(self) -> bool:
        done = self.done
        return done.done() and (done.cancelled() or done.exception() is not None or done.result() == -1)

    async def follow(self) -> AsyncIterator[bytes]:
        offset = 0
        fd, done = self.fd, self.done
        while True:
            size = os.fstat(fd).st_size
            if offset < size:
                data = os.pread(fd, min(_READ_SIZE, size - offset), offset)
                offset += len(data)
                yield data
            elif done.done():
                if self.failed():
                    raise ResultsFileError("the results file was abandoned while it was written")
                if done.result() == _FULL:  # stopped at a bound: the rest is generated here
                    async for chunk in _generated(self.lines, skip=offset):
                        yield chunk
                    return
                if offset >= done.result():
                    return
            else:
                await asyncio.sleep(_POLL)

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


async def _generated(lines: Lines, skip: int = 0) -> AsyncIterator[bytes]:
    """``lines()`` without its first ``skip`` bytes, letting other requests in between chunks."""
    for chunk in lines():
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:] if skip else chunk
        skip = 0
        await asyncio.sleep(0)


class _ThreadWriter:
    """One daemon thread running write jobs in order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[int], str, Lines, _Bounds] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="batchsim-results-writer", daemon=True)
        self._thread.start()

    def submit(self, path: str, lines: Lines, bounds: _Bounds) -> Future[int]:
        future: Future[int] = Future()
        self._jobs.put((future, path, lines, bounds))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, path, lines, bounds = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                size = _write_file(path, lines, bounds)
            except BaseException as exc:  # the file is left failed: the next download writes it again
                log.exception("writing a results file failed")
                del job, lines
                future.set_exception(exc)
                continue
            del job, lines  # the batch is let go before anyone hears the file is written
            future.set_result(size)

    def close(self) -> None:
        self._jobs.put(None)


class _ProcessWriter:
    """One child process (started on first use) running write jobs in order."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_writer_process_started,
            initargs=(os.getpid(),),
        )

    def submit(self, path: str, lines: Lines, bounds: _Bounds) -> Future[int]:
        # The job (a batch: tens of megabytes pickled) goes through a file, streamed out by
        # pickle, rather than through the pool's pipe: pickling it into one message grows
        # buffers in the pool's feeder thread that its allocator keeps (a 100,000-request batch
        # then cost the server twice its size for good). The file is in memory (tmpfs) where
        # there is one, so writing it is a copy, not disk traffic competing with the API.
        job = os.path.join(_JOBS if _JOBS is not None else os.path.dirname(path), f"{os.path.basename(path)}.job")
        with open(job, "wb") as out:
            pickle.dump(lines, out, protocol=pickle.HIGHEST_PROTOCOL)
        done = self._pool.submit(_write_file_from_job, path, job, bounds)
        done.add_done_callback(lambda _: _unlink(job))  # the writer deletes it once read; or if it never ran
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)  # its job stops soon: its file is gone


def _jobs_folder() -> str | None:
    """A folder in memory (tmpfs) for write jobs, if this system has a usable one."""
    folder = "/dev/shm"
    return folder if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK) else None


_JOBS = _jobs_folder()


def _write_file_from_job(path: str, job: str, bounds: _Bounds) -> int:
    """:func:`_write_file` with the ``lines`` pickled in the file ``job`` (deleted once read)."""
    try:
        with open(job, "rb") as source:
            lines: Lines = pickle.load(source)
    finally:
        _unlink(job)
    return _write_file(path, lines, bounds)


def _writer_process_started(parent: int) -> None:
    """In the writer process: print nowhere (its parent reports its failures) and stop as soon as
    its parent is gone, even after a ``kill -9`` (no orphan holding the parent's output open)."""
    with contextlib.suppress(OSError):
        os.nice(10)  # background work: the API's processes come first
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="batchsim-parent-watch", daemon=True).start()


class ResultsFileStore:
    """The results files of one emulator (see the module docstring)."""

    def __init__(
        self,
        *,
        writer: Literal["thread", "process"] = "thread",
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_FILE_BYTES,
        max_file_bytes: int = MAX_ONE_FILE_BYTES,
        root: str | None = None,
    ) -> None:
        """``root``: a folder shared with other stores (the workers of one server), whose files
        count together against ``max_files`` and ``max_bytes``; by default a folder of its own."""
        self.writer_kind = writer
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes
        self.root = root
        self._dir: str | None = None
        self._bounds: _Bounds | None = None
        self._files: OrderedDict[object, _File] = OrderedDict()
        self._lock = threading.Lock()
        self._writer: _ThreadWriter | _ProcessWriter | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._writing: set[Future[int]] = set()  # dropped files included, until their writer stops

    # -- the port ---------------------------------------------------------------------------------

    def stream(self, key: object, lines: Lines) -> AsyncIterator[bytes]:
        file = self._file(key, lines)
        return _generated(lines) if file is None else file.follow()

    def write_ahead(self, key: object, lines: Lines) -> None:
        self._file(key, lines)

    def drop(self, key: object) -> None:
        with self._lock:
            file = self._files.pop(key, None)
        if file is not None:
            _unlink(file.path)

    def pending(self) -> int:
        with self._lock:
            return len(self._writing)

    def size(self, key: object) -> int | None:
        with self._lock:
            file = self._files.get(key)
        if file is None or not file.done.done() or file.failed() or file.done.result() < 0:
            return None
        return file.done.result()

    def clear(self) -> None:
        with self._lock:
            files = list(self._files.values())
            self._files.clear()
        for file in files:
            _unlink(file.path)

    def close(self) -> None:
        """Delete every file and stop the writer."""
        self.clear()
        if self._finalizer is not None:
            self._finalizer()

    def file_count(self) -> int:
        with self._lock:
            return len(self._files)

    # -- inside -----------------------------------------------------------------------------------

    def _file(self, key: object, lines: Lines) -> _File | None:
        """The file of ``key``, started if need be; ``None`` when no file can be added (every
        file under the root that is not this store's to drop keeps it full)."""
        with self._lock:
            file = self._files.get(key)
            if file is not None and not file.failed():
                self._files.move_to_end(key)
                return file
            if self._writer is None:
                self._start()
            assert self._dir is not None and self._writer is not None and self._bounds is not None
            old = self._files.pop(key, None)
            if old is not None:
                _unlink(old.path)
            with _locked(self._bounds.root):
                room = self._make_room()
                if room:
                    fd, path = tempfile.mkstemp(prefix="results-", suffix=".jsonl", dir=self._dir)
                    os.close(fd)
            if room:
                done = self._writer.submit(path, lines, self._bounds)
                self._writing.add(done)
                file = self._files[key] = _File(path, done, lines)
        if not room:
            return None
        done.add_done_callback(self._written)
        return file

    def _written(self, done: Future[int]) -> None:
        with self._lock:
            self._writing.discard(done)

    def _start(self) -> None:
        root = self.root
        own_root = root is None
        if root is None:
            root = tempfile.mkdtemp(prefix=_ROOT_PREFIX)
        self._dir = tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root)
        self._bounds = _Bounds(root, self.max_bytes, self.max_file_bytes)
        self._writer = _ProcessWriter() if self.writer_kind == "process" else _ThreadWriter()
        self._finalizer = weakref.finalize(self, _shut, self._writer, root if own_root else self._dir)

    def _make_room(self) -> bool:
        """Drop files of this store, least recently used first, until one more file fits the
        bounds of the root; whether it then fits (under both locks)."""
        assert self._bounds is not None
        files = self._files
        count, total = _usage(self._bounds.root)
        while files and (count >= self.max_files or total >= self.max_bytes):
            _, old = files.popitem(last=False)
            _unlink(old.path)  # gone from the count at once; its readers keep their descriptor
            count -= 1
            total -= old.size()
        return count < self.max_files and total < self.max_bytes


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _shut(writer: _ThreadWriter | _ProcessWriter, folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # first: a job writing a file stops once it is gone
    writer.close()
