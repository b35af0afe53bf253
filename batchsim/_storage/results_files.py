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
again on its next download. A file being read is never dropped to make room: it stays, counted
against the bounds, until its last reader is done, and others go first; a file deleted with its
batch (or by a reset) while it is read goes when its last reader is done. A file holds no
descriptor of the server's while nobody reads it.

A download waits for the writer to write more (a thread writer signals each chunk it writes;
a writer process is looked at every few milliseconds by a timer on the event loop), never with
``asyncio.sleep``: a virtual clock that sleeping moves (``autoadvance``) stays where it is.

A writer process gets its jobs (a batch, pickled: its prompts included) through files in a
folder of the server's own, private to its user (``/dev/shm`` where there is one), deleted when
the store closes; a server killed outright leaves it for the next one to delete as it starts
(:func:`sweep_stale_roots`).

Bounds: one file holds at most ``max_file_bytes``, and a writer never lets the files under the
store's *root* pass ``max_bytes``, checked before each chunk under a lock file in the root. The
workers of one ``batchsim serve`` share one root (each store keeps its files in a folder of its
own inside it, named after its process), so the bounds hold for the server as a whole. When a
file cannot grow (or no file can be added), the download reads what the file has and generates
the rest of its lines itself: the same bytes, only slower.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
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

from .._engine.collector import release_memory

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
_READ_SIZE = 256 * 1024  # what one send of a download holds (a stalled one holds about twice that)
_POLL = 0.002  # seconds between looks at a file a writer process is writing
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
_JOBS_PREFIX = "batchsim-jobs-"
_EMPTY_ROOT_AGE = 24 * 3600.0


def sweep_stale_roots(folder: str | None = None, jobs: str | None = None) -> int:
    """Delete what servers killed outright (``kill -9``, a crash) left behind: results folders in
    ``folder`` (the temporary folder by default) whose every store belongs to a process that is
    gone, and empty ones older than a day; write-job folders (``batchsim-jobs-PID-…``, in
    ``jobs``: ``/dev/shm`` where usable, and in ``folder``) of processes that are gone. Returns
    how many were deleted. A server runs this as it starts, so restarts do not pile them up."""
    folder = folder or tempfile.gettempdir()
    swept = 0
    for parent in dict.fromkeys((jobs or _jobs_parent(), folder)):
        with contextlib.suppress(OSError), os.scandir(parent) as entries:
            for entry in entries:
                pid = entry.name.removeprefix(_JOBS_PREFIX).partition("-")[0]
                if entry.name.startswith(_JOBS_PREFIX) and pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    swept += 1
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


def _write_file(path: str, lines: Lines, bounds: _Bounds, progress: Callable[[], None] | None = None) -> int:
    """Write ``lines()`` to ``path`` (created empty by the owner); the size written, -1 if the
    owner dropped the file meanwhile, or ``_FULL`` if a bound stopped it. Runs in the writer
    (thread or process); ``progress`` is called after each chunk."""
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
            if progress is not None:
                progress()
            if n % _CHECK_EVERY == 0 and not os.path.exists(path):
                return -1  # dropped: nobody will read it
    return size


class _File:
    """One results file: written by the writer, read by any number of downloads. Its ``readers``
    are counted under the store's lock; its waiters (downloads that read all there was) are
    woken by :meth:`notify`, from any thread."""

    __slots__ = ("__weakref__", "_lock", "_version", "_waiters", "done", "lines", "path", "polled", "readers")

    def __init__(self, path: str, lines: Lines, polled: bool) -> None:
        self.path = path
        self.lines = lines
        self.polled = polled
        """No signal comes per chunk (a writer process): waiting downloads look again every _POLL s."""
        self.done: Future[int] = Future()  # replaced by the writer's
        self.readers = 0
        self._lock = threading.Lock()
        self._version = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def failed(self) -> bool:
        done = self.done
        return done.done() and (done.cancelled() or done.exception() is not None or done.result() == -1)

    def notify(self, *_: object) -> None:
        """The file grew, or its writer is done: wake the downloads waiting for it."""
        with self._lock:
            self._version += 1
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there
                loop.call_soon_threadsafe(_wake, waiter)

    async def _changed(self, seen: int) -> None:
        """Return once :meth:`notify` was called after ``seen`` was read (or, for a polled
        file, after _POLL seconds): a timer or a signal, never ``asyncio.sleep``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._version != seen:
                return
            self._waiters.append((loop, waiter))
        timer = loop.call_later(_POLL, _wake, waiter) if self.polled else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, waiter))

    async def follow(self, fd: int) -> AsyncIterator[bytes]:
        """The file's bytes, read through ``fd`` as the writer writes them."""
        offset = 0
        done = self.done
        while True:
            seen = self._version  # before looking: a chunk written after this wakes the wait below
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
                await self._changed(seen)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _generated(lines: Lines, skip: int = 0) -> AsyncIterator[bytes]:
    """``lines()`` without its first ``skip`` bytes, letting other requests in between chunks."""
    for chunk in lines():
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:] if skip else chunk
        skip = 0
        await asyncio.sleep(0)


_Job = tuple[Future[int], str, Lines, _Bounds, Callable[[], None]]


class _ThreadWriter:
    """One daemon thread running write jobs in order; it signals each chunk it writes."""

    polled = False

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="batchsim-results-writer", daemon=True)
        self._thread.start()

    def submit(self, path: str, lines: Lines, bounds: _Bounds, progress: Callable[[], None]) -> Future[int]:
        future: Future[int] = Future()
        self._jobs.put((future, path, lines, bounds, progress))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, path, lines, bounds, progress = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                size = _write_file(path, lines, bounds, progress)
            except BaseException as exc:  # the file is left failed: the next download writes it again
                log.exception("writing a results file failed")
                del job, lines, progress
                future.set_exception(exc)
                continue
            del job, lines, progress  # the batch is let go before anyone hears the file is written
            release_memory()  # what generating the results took, from this thread's own heap
            future.set_result(size)

    def close(self) -> None:
        self._jobs.put(None)


class _ProcessWriter:
    """One child process (started on first use) running write jobs in order. It signals only
    when a job is done: downloads look at a file it writes every _POLL seconds."""

    polled = True

    def __init__(self) -> None:
        # The folder the jobs go through: only this user may list or read it.
        self._folder = tempfile.mkdtemp(prefix=f"{_JOBS_PREFIX}{os.getpid()}-", dir=_jobs_parent())
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_writer_process_started,
            initargs=(os.getpid(),),
        )

    def submit(self, path: str, lines: Lines, bounds: _Bounds, progress: Callable[[], None]) -> Future[int]:
        # The job (a batch: tens of megabytes pickled) goes through a file, streamed out by
        # pickle, rather than through the pool's pipe: pickling it into one message grows
        # buffers in the pool's feeder thread that its allocator keeps (a 100,000-request batch
        # then cost the server twice its size for good). The file is in memory (tmpfs) where
        # there is one, so writing it is a copy, not disk traffic competing with the API.
        job = os.path.join(self._folder, f"{os.path.basename(path)}.job")
        with open(os.open(job, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            pickle.dump(lines, out, protocol=pickle.HIGHEST_PROTOCOL)
        done = self._pool.submit(_write_file_from_job, path, job, bounds)
        done.add_done_callback(lambda _: _unlink(job))  # the writer deletes it once read; or if it never ran
        return done

    def close(self) -> None:
        # The jobs' folder goes first: on a loaded machine the pool may take a while to let its
        # process go (one still starting must finish starting), and a server stopped meanwhile
        # must not leave prompts behind. A job already reading its file reads on.
        shutil.rmtree(self._folder, ignore_errors=True)
        self._pool.shutdown(wait=True, cancel_futures=True)  # its job stops soon: its file is gone
        shutil.rmtree(self._folder, ignore_errors=True)  # a job written while it shut down


def _jobs_parent() -> str:
    """Where write-job folders go: memory (tmpfs) where this system has a usable one."""
    folder = "/dev/shm"
    usable = os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
    return folder if usable else tempfile.gettempdir()


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
        self._retired: set[_File] = set()  # dropped while read: deleted when their last reader is done
        self._lock = threading.Lock()
        self._writer: _ThreadWriter | _ProcessWriter | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._writing: set[Future[int]] = set()  # dropped files included, until their writer stops

    # -- the port ---------------------------------------------------------------------------------

    def stream(self, key: object, lines: Lines) -> AsyncIterator[bytes]:
        return self._download(key, lines)

    def write_ahead(self, key: object, lines: Lines) -> None:
        self._file(key, lines, read=False)

    def drop(self, key: object) -> None:
        with self._lock:
            file = self._files.pop(key, None)
            if file is not None:
                self._retire(file)

    def pending(self) -> int:
        with self._lock:
            return len(self._writing)

    def wait_written(self, timeout: float | None = None) -> bool:
        """Wait until no file is being written (dropped ones included) or ``timeout`` seconds
        passed; whether none is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                writing = {done for done in self._writing if not done.done()}
            if not writing:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            concurrent.futures.wait(writing, left)

    def size(self, key: object) -> int | None:
        with self._lock:
            file = self._files.get(key)
        if file is None or not file.done.done() or file.failed() or file.done.result() < 0:
            return None
        return file.done.result()

    def clear(self) -> None:
        with self._lock:
            for file in self._files.values():
                self._retire(file)
            self._files.clear()

    def close(self) -> None:
        """Delete every file and stop the writer."""
        self.clear()
        if self._finalizer is not None:
            self._finalizer()

    def file_count(self) -> int:
        with self._lock:
            return len(self._files)

    def reading(self) -> int:
        """Downloads reading one of this store's files now."""
        with self._lock:
            return sum(f.readers for f in (*self._files.values(), *self._retired))

    # -- inside -----------------------------------------------------------------------------------

    async def _download(self, key: object, lines: Lines) -> AsyncIterator[bytes]:
        # The file is taken when the download starts, not when its answer is built: a download
        # that never starts holds nothing.
        taken = self._file(key, lines, read=True)
        if taken is None:
            async for chunk in _generated(lines):
                yield chunk
            return
        file, fd = taken
        try:
            async for chunk in file.follow(fd):
                yield chunk
        finally:
            os.close(fd)
            self._release(file)

    def _file(self, key: object, lines: Lines, *, read: bool) -> tuple[_File, int] | None:
        """The file of ``key``, started if need be, with a descriptor to read it (``read``: the
        caller is a reader until :meth:`_release`); ``None`` when no file can be added (every
        file under the root that is not this store's to drop keeps it full)."""
        started: _File | None = None
        with self._lock:
            file = self._files.get(key)
            if file is not None and not file.failed():
                self._files.move_to_end(key)
            else:
                if file is not None:
                    del self._files[key]
                    self._retire(file)
                file = started = self._start_file(key, lines)
                if file is None:
                    return None
            fd = -1
            if read:
                try:
                    fd = os.open(file.path, os.O_RDONLY)
                except OSError:  # gone from under us (its folder deleted): generate instead
                    read = False
                else:
                    file.readers += 1
        if started is not None:  # outside the lock: the callback takes it, and may run at once
            started.done.add_done_callback(functools.partial(_written, weakref.ref(self), weakref.ref(started)))
        return (file, fd) if read else None

    def _start_file(self, key: object, lines: Lines) -> _File | None:
        """A new file for ``key`` given to the writer, if one fits the bounds (under the lock)."""
        if self._writer is None:
            self._start()
        assert self._dir is not None and self._writer is not None and self._bounds is not None
        with _locked(self._bounds.root):
            if not self._make_room():
                return None
            fd, path = tempfile.mkstemp(prefix="results-", suffix=".jsonl", dir=self._dir)
            os.close(fd)
        file = _File(path, lines, self._writer.polled)
        file.done = self._writer.submit(path, lines, self._bounds, file.notify)
        self._writing.add(file.done)
        self._files[key] = file
        return file

    def _release(self, file: _File) -> None:
        with self._lock:
            file.readers -= 1
            if file.readers == 0 and file in self._retired:
                self._retired.discard(file)
                _unlink(file.path)

    def _retire(self, file: _File) -> None:
        """Delete a file taken out of the map, once nobody reads it (under the lock)."""
        if file.readers:
            self._retired.add(file)
        else:
            _unlink(file.path)  # its writer, if any, stops: nobody will read it

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
        """Drop files of this store that nobody reads, least recently used first, until one more
        file fits the bounds of the root; whether it then fits (under both locks). Files being
        read stay and count."""
        assert self._bounds is not None
        files = self._files
        count, total = _usage(self._bounds.root)
        for key in [k for k, f in files.items() if not f.readers]:
            if count < self.max_files and total < self.max_bytes:
                break
            old = files.pop(key)
            total -= old.size()
            count -= 1
            _unlink(old.path)
        return count < self.max_files and total < self.max_bytes


def _written(store: weakref.ref[ResultsFileStore], file: weakref.ref[_File], done: Future[int]) -> None:
    """A writer finished a file: it is no longer pending, and its waiting downloads wake."""
    owner = store()
    if owner is not None:
        with owner._lock:
            owner._writing.discard(done)
    written = file()
    if written is not None:
        written.notify()


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _shut(writer: _ThreadWriter | _ProcessWriter, folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # first: a job writing a file stops once it is gone
    writer.close()
