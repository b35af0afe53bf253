"""A resumable job: input -> batches -> results file, through crashes and retry rounds.

Files of a job with state file ``S``: ``S`` itself (JSON, see :mod:`._state`) and the folder
``S.d/`` with the work store (``work.sqlite``) and, when the input was an iterable, the spooled
input (``input.jsonl``). The output file is written only at the end (temp file + rename).

**No batch is submitted twice.** Before ``create``, the state records an *intent* for the batch
together with a *watermark*: the newest batch of the workspace at that moment (``list`` with
``limit=1``). The batch id is recorded as soon as ``create`` returns. If the job stops between
the two (a crash, Ctrl-C, SIGKILL) or ``create`` fails in a way that may have created the batch
anyway (timeout, dropped connection, 5xx), the job lists the workspace's batches newest first,
down to the watermark, and adopts a batch that

* is newer than the watermark (listed before it; created at or after its ``created_at``),
* is not already one of this job's batches, and
* has exactly as many requests as the planned batch.

No match: ``create`` never reached the API, the batch is submitted now. More than one match:
the job stops with :class:`StateError` rather than guess. Limits: the API has no idempotency
key, so another program creating a batch of the very same size in the same workspace between
the intent and the crash can be mistaken for ours, and a batch that ``list`` does not show yet
(the real API is eventually consistent) is missed. Keep one job per workspace (API key) at a
time if that matters.

**No result is lost.** A batch's results go into the work store in one transaction; only then
does the state mark the batch ``saved``. A crash in between means downloading the results again,
which replaces rows and never duplicates them.

**No one else's batch is taken for ours.** A server that lost the job's batches (restarted
without ``--db``, reset) may give the recorded id to another client's batch. Each batch the job
retrieves must have the ``created_at`` recorded when it was created and as many requests as were
submitted, and its results only the job's custom_ids (:func:`check_ours`); otherwise the job
stops with :class:`StateError`, nothing written.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
from anthropic.types.messages import MessageBatch

from ._api import Api
from ._errors import BatchClientError, JobTimeoutError, StateError
from ._input import file_digest, read_entries, spool
from ._progress import Progress
from ._report import Price, Report, build_report
from ._state import ChunkState, JobState, load_state, save_state
from ._store import ForeignLineError, WorkStore

__all__ = [
    "VIRTUAL_CLOCK_HINT",
    "Job",
    "JobSettings",
    "StallHint",
    "batch_total",
    "check_ours",
    "check_writable",
    "default_state_path",
    "open_existing",
    "poll",
    "recorded_batch",
]


@dataclass(frozen=True)
class JobSettings:
    """How a job cuts batches, waits for them and prices them (see :class:`BatchRunner`)."""

    max_batch_requests: int
    max_batch_bytes: int
    poll_interval: float
    max_poll_interval: float
    max_wait: float | None
    prices: Mapping[str, Price] | None


def batch_total(batch: MessageBatch) -> int:
    c = batch.request_counts
    return c.processing + c.succeeded + c.errored + c.canceled + c.expired


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def work_dir(state_path: Path) -> Path:
    """``job.json`` -> ``job.d/``; any other name gets ``.d`` appended."""
    if state_path.suffix == ".json":
        return state_path.with_suffix(".d")
    return state_path.with_name(state_path.name + ".d")


def default_state_path(output: Path) -> Path:
    """Where a job keeps its state when no state file is given: ``OUT.job.json`` beside ``OUT``."""
    return output.with_name(output.name + ".job.json")


def check_writable(path: Path, what: str) -> None:
    """Fail now, before anything is submitted, when ``path`` cannot be written; its missing parent
    folders are created. An existing file is opened for appending (not changed), a new one is
    created and removed again."""
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise BatchClientError(f"cannot write {what} {path}: {existing} is not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise BatchClientError(f"cannot write {what} {path}: it is a folder")
        if path.exists():
            path.open("ab").close()
        else:
            path.open("xb").close()
            path.unlink()
    except OSError as exc:
        raise BatchClientError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


@contextmanager
def recorded_batch(api: Api, state_path: Path, batch_id: str) -> Iterator[None]:
    """Calls about a batch the job state records: a 404 becomes a :class:`StateError` that says
    the server does not know the job's batches and what to do."""
    try:
        yield
    except anthropic.NotFoundError:
        raise StateError(
            f"the job state {state_path} records batch {batch_id}, which {api.client.base_url} does not know:"
            " the job ran on another server, or this one lost its batches (restarted without --db, reset)."
            f" Point the base URL at the server that ran it, or delete {state_path} to start over"
            " (every request is submitted again)"
        ) from None


def check_ours(api: Api, state_path: Path, chunk: ChunkState, batch: MessageBatch) -> None:
    """Raise :class:`StateError` when ``batch``, retrieved by the id the job state records for
    ``chunk``, is not the batch the job created: another ``created_at``, or another number of
    requests."""
    found = []
    if chunk.created_at is not None and datetime.fromisoformat(chunk.created_at) != batch.created_at:
        found.append(f"created at {_iso(batch.created_at)}, not {chunk.created_at}")
    total = batch_total(batch)
    if total != chunk.requests:
        found.append(f"{total:,} requests, not {chunk.requests:,}")
    if found:
        raise foreign_batch(api, state_path, batch.id, "; ".join(found))


def foreign_batch(api: Api, state_path: Path, batch_id: str, why: str) -> StateError:
    """The error for a batch that has the recorded id but is not the job's."""
    return StateError(
        f"batch {batch_id} at {api.client.base_url} is not the one the job state {state_path} records ({why}):"
        " the server lost the job's batches (restarted without --db, reset) and gave the id to another batch."
        f" Nothing was written; delete {state_path} to start over (every request is submitted again)"
    )


VIRTUAL_CLOCK_HINT = (
    "the server is batchsim on a virtual clock: nothing moves until you run `batchsim advance 1h`"
    " (or serve it with --clock scaled:3600)"
)


def progress_of(batch: MessageBatch) -> tuple[object, ...]:
    """What changes while a batch moves: its status, counts and end."""
    c = batch.request_counts
    return (batch.processing_status, c.processing, c.succeeded, c.errored, c.canceled, c.expired, batch.ended_at)


class StallHint:
    """Watches the batches a wait polls. Once they have not moved for ``polls`` polls in a row,
    asks the server, once, whether it is batchsim on a virtual clock (which moves only when told)
    and if so logs :data:`VIRTUAL_CLOCK_HINT`. Against production (no such route) it stays silent."""

    def __init__(self, api: Api, progress: Progress, polls: int = 3) -> None:
        self.api = api
        self.progress = progress
        self.polls = polls
        self._last: object = None
        self._still = 0
        self._asked = False

    def observe(self, state: object) -> None:
        """``state``: what the latest poll saw of every batch waited for."""
        if self._asked:
            return
        if state != self._last:
            self._last, self._still = state, 0
            return
        self._still += 1
        if self._still >= self.polls:
            self._asked = True
            if self.api.virtual_clock():
                self.progress.log(VIRTUAL_CLOCK_HINT)


def poll(check: Callable[[], bool], settings: JobSettings, max_wait: float | None, what: str) -> None:
    """Call ``check`` until it returns True, sleeping between calls with exponential backoff
    (``poll_interval`` growing 1.5x up to ``max_poll_interval``, +-20% jitter). Raises
    :class:`JobTimeoutError` once ``max_wait`` seconds have passed."""
    deadline = None if max_wait is None else time.monotonic() + max_wait
    interval = settings.poll_interval
    while not check():
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeoutError(f"max wait of {max_wait:g}s reached with {what} still running; run again to continue")
        pause = interval * random.uniform(0.8, 1.2)
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(pause)
        interval = min(settings.max_poll_interval, interval * 1.5)


class Job:
    """One job, opened from its state file (created on first use)."""

    def __init__(
        self,
        api: Api,
        settings: JobSettings,
        progress: Progress,
        state_path: Path,
        state: JobState,
        store: WorkStore,
        input_path: Path,
    ) -> None:
        self.api = api
        self.settings = settings
        self.progress = progress
        self.state_path = state_path
        self.state = state
        self.store = store
        self.input_path = input_path

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        api: Api,
        settings: JobSettings,
        progress: Progress,
        source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
        output: Path,
        state_path: Path,
    ) -> Job:
        """Open (or start) the job; check and index the input on first use."""
        check_writable(output, "the output")
        check_writable(state_path, "the job state")
        folder = work_dir(state_path)
        folder.mkdir(parents=True, exist_ok=True)
        is_file = isinstance(source, str | os.PathLike)
        if isinstance(source, str | os.PathLike):
            input_path = fresh = Path(source).resolve()
            digest = file_digest(input_path)
        else:
            input_path, fresh = folder / "input.jsonl", folder / "input.new.jsonl"
            digest = spool(source, fresh)
        if state_path.exists():
            state = load_state(state_path)
            if state.input_sha256 != digest:
                if not is_file:
                    fresh.unlink()
                raise StateError(
                    f"{state_path} belongs to a job with another input ({state.input_path or 'an iterable'});"
                    " give another --state, or delete it to start over"
                )
            if state.output != str(output.resolve()):
                raise StateError(f"{state_path} belongs to a job writing {state.output}, not {output}")
        else:
            for stale in folder.glob("work.sqlite*"):  # a work store without its state is stale
                stale.unlink()
            state = JobState(digest, str(input_path) if is_file else None, str(output.resolve()))
        if not is_file:
            os.replace(fresh, input_path)
        job = cls(api, settings, progress, state_path, state, WorkStore(folder / "work.sqlite"), input_path)
        if not state.indexed:
            state.requests = job.store.index(read_entries(input_path))
            state.indexed = True
            job.save()
        return job

    def save(self) -> None:
        save_state(self.state_path, self.state)

    def close(self) -> None:
        self.store.close()

    # -- running --------------------------------------------------------------------------------

    def run(self, retries: int) -> Report:
        """Run (or continue) the job to the end and write the output file."""
        state = self.state
        if state.rounds == 0:
            self._plan(0)
        while True:
            round_ = state.rounds - 1
            if not state.canceled:
                for chunk in state.round_chunks(round_):
                    self._submit(chunk)
            self._wait(round_)
            if state.canceled or round_ >= retries or not self._plan(round_ + 1):
                break
        self.progress.close()
        self._write_output()
        state.finished = True
        self.save()
        return self.report()

    def report(self) -> Report:
        return build_report(
            self.store,
            self.settings.prices,
            batches=len(self.state.batch_ids()),
            rounds=self.state.rounds,
            output=self.state.output,
        )

    def submit_round(self, round_: int) -> list[str]:
        """Plan round ``round_`` and submit its batches; their ids."""
        self._plan(round_)
        chunks = self.state.round_chunks(round_)
        for chunk in chunks:
            self._submit(chunk)
        return [c.batch_id for c in chunks if c.batch_id is not None]

    def _plan(self, round_: int) -> bool:
        s = self.settings
        plans = self.store.plan_round(round_, s.max_batch_requests, s.max_batch_bytes)
        if not plans:
            return False
        self.state.chunks = [c for c in self.state.chunks if c.round < round_]
        self.state.chunks += [ChunkState(round_, i, p.requests, p.bytes, p.ids_sha256) for i, p in enumerate(plans)]
        self.state.rounds = round_ + 1
        self.save()
        total = sum(p.requests for p in plans)
        what = "requests" if round_ == 0 else "requests to retry"
        self.progress.log(f"round {round_}: {total:,} {what} in {len(plans)} batch(es)")
        return True

    def _submit(self, chunk: ChunkState) -> None:
        if chunk.batch_id is not None:
            return
        if chunk.intent_at is not None:
            found = self._find(chunk)
            if found is not None:
                self.progress.log(f"batch {found.id} was created before the interruption: using it")
                self._record(chunk, found)
                return
        else:
            newest = self.api.newest()
            chunk.watermark = None if newest is None else {"id": newest.id, "created_at": _iso(newest.created_at)}
            chunk.intent_at = _iso(datetime.now(UTC))
            self.save()
        batch = self.api.create(self._body(chunk), find=lambda: self._find(chunk))
        self._record(chunk, batch)

    def _record(self, chunk: ChunkState, batch: MessageBatch) -> None:
        chunk.batch_id = batch.id
        chunk.created_at = _iso(batch.created_at)
        self.save()
        self.progress.log(
            f"submitted batch {batch.id}: {chunk.requests:,} requests (round {chunk.round}, batch {chunk.chunk})"
        )

    def _find(self, chunk: ChunkState) -> MessageBatch | None:
        """The batch an interrupted or ambiguous create made for ``chunk``, if any (rule in the
        module docstring)."""
        mark = chunk.watermark
        mark_time = datetime.fromisoformat(mark["created_at"]) if mark else None
        known = set(self.state.batch_ids())
        found: list[MessageBatch] = []
        for batch in self.api.batches():
            if mark is not None and batch.id == mark["id"]:
                break
            if mark_time is not None and batch.created_at < mark_time:
                break
            if batch.id not in known and batch_total(batch) == chunk.requests:
                found.append(batch)
        if len(found) > 1:
            ids = ", ".join(b.id for b in found)
            raise StateError(
                f"cannot tell which of these batches is round {chunk.round} batch {chunk.chunk} "
                f"({chunk.requests} requests): {ids}. Cancel the ones that are not yours, then run again."
            )
        return found[0] if found else None

    def _body(self, chunk: ChunkState) -> bytes:
        """The chunk's create body, built from the original input lines (params unchanged)."""
        digest = hashlib.sha256()
        body = bytearray(b'{"requests":[')
        with self.input_path.open("rb") as f:
            for n, (cid, offset, length) in enumerate(self.store.members(chunk.round, chunk.chunk)):
                f.seek(offset)
                if n:
                    body += b","
                body += f.read(length).strip()
                digest.update(cid.encode() + b"\n")
        body += b"]}"
        if digest.hexdigest() != chunk.ids_sha256:
            raise StateError(f"round {chunk.round} batch {chunk.chunk}: the work store does not match the state")
        return bytes(body)

    def _wait(self, round_: int) -> None:
        chunks = self.state.round_chunks(round_)
        total = sum(c.requests for c in chunks)
        stall = StallHint(self.api, self.progress)

        def check() -> bool:
            seen = [self._check(chunk) for chunk in chunks if chunk.batch_id is not None and not chunk.saved]
            stall.observe(seen)
            done = sum(c.requests for c in chunks if c.ended)
            shown = [(c.batch_id or "-", c.requests if c.ended else 0, c.requests) for c in chunks]
            self.progress.status(round_, shown, done, total)
            return all(c.saved or c.batch_id is None for c in chunks)

        try:
            poll(check, self.settings, self.settings.max_wait, "batches")
        except JobTimeoutError:
            self.progress.close()
            raise

    def _check(self, chunk: ChunkState) -> object:
        """Look at a batch of the job, saving its results once it has ended; what was seen of it
        (:func:`progress_of`), or ``None`` when it had ended already."""
        assert chunk.batch_id is not None
        batch_id = chunk.batch_id
        seen = None
        with recorded_batch(self.api, self.state_path, batch_id):
            if not chunk.ended:
                batch = self.api.retrieve(batch_id)
                check_ours(self.api, self.state_path, chunk, batch)
                seen = progress_of(batch)
                if batch.processing_status != "ended":
                    return seen
                chunk.ended = True
                self.save()

            def download() -> dict[str, int]:
                with self.api.result_lines(batch_id) as lines:
                    return self.store.save_results(chunk.round, chunk.chunk, lines)

            try:
                chunk.counts = self.api.call(f"results of {batch_id}", download)
            except ForeignLineError as exc:  # nothing of it was saved: the transaction was rolled back
                why = f"its results hold custom_id {exc.custom_id!r}, which the job did not submit in it"
                raise foreign_batch(self.api, self.state_path, batch_id, why) from None
        chunk.saved = True
        self.save()
        counts = ", ".join(f"{n:,} {k}" for k, n in sorted(chunk.counts.items()))
        self.progress.log(f"batch {batch_id} ended: {counts}; results saved")
        return seen

    def _write_output(self) -> None:
        output = Path(self.state.output)
        tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for line in self.store.output_lines():
                f.write(line)
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)

    # -- cancel ---------------------------------------------------------------------------------

    def cancel(self) -> list[str]:
        """Stop the job: no new batch is submitted, live batches are canceled. Returns their ids.

        Running the job again afterwards collects what the canceled batches finished. A job
        that has finished is left as it is.
        """
        if self.state.finished:
            return []
        self.state.canceled = True
        self.save()
        canceled = []
        for chunk in self.state.chunks:
            if chunk.batch_id is not None and not chunk.ended:
                with recorded_batch(self.api, self.state_path, chunk.batch_id):
                    batch = self.api.retrieve(chunk.batch_id)
                    check_ours(self.api, self.state_path, chunk, batch)  # never cancel another's batch
                    if batch.processing_status == "in_progress":
                        try:
                            self.api.cancel(chunk.batch_id)
                        except anthropic.BadRequestError:  # it ended in the meantime
                            continue
                        canceled.append(chunk.batch_id)
        return canceled


def open_existing(api: Api, settings: JobSettings, progress: Progress, state_path: Path) -> Job:
    """Open a job from its state file alone (for status, results and cancel)."""
    state = load_state(state_path)
    folder = work_dir(state_path)
    input_path = Path(state.input_path) if state.input_path else folder / "input.jsonl"
    return Job(api, settings, progress, state_path, state, WorkStore(folder / "work.sqlite"), input_path)
