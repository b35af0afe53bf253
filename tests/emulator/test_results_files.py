"""Results files: large batches get their results written ahead in the background; every
download reads the file, byte-identical to results generated at download time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import stat
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anthropic
import pytest

from batchsim import Emulator, Scenario
from batchsim._anthropic import api
from batchsim._storage import results_files
from batchsim._storage.results_files import ResultsFileStore

from .conftest import make_requests

N = api.FILE_MIN_REQUESTS + 200


@pytest.fixture
def files_for_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results files for batches of any size (they are kept for 1,000+ requests)."""
    monkeypatch.setattr(api, "FILE_MIN_REQUESTS", 1)


def _download(sim: Emulator, batch_id: str) -> bytes:
    return sim.client().messages.batches.with_raw_response.results(batch_id).http_response.read()


def _ended_batch(sim: Emulator, n: int = N) -> str:
    batch = sim.client().messages.batches.create(requests=make_requests(n))  # type: ignore[arg-type]
    sim.advance(days=1)
    return batch.id


def _results_generated_at_download(monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(api, "FILE_MIN_REQUESTS", 10**9)
        sim = Emulator(scenario)
        return _download(sim, _ended_batch(sim))


SCENARIOS = [Scenario(), Scenario.of(outcomes={"errored": 0.2, "expired": 0.1}), Scenario.of(timing={"jitter": 0.5})]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=["default", "outcomes", "jitter"])
def test_results_written_ahead_are_the_results_generated_at_download(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    expected = _results_generated_at_download(monkeypatch, scenario)
    sim = Emulator(scenario)
    batch_id = _ended_batch(sim)  # downloaded at once: the download may follow the writer
    first, second = _download(sim, batch_id), _download(sim, batch_id)
    assert first == expected
    assert second == expected
    assert expected.count(b"\n") == N
    assert sim.results_files.file_count() == 1


def test_a_writer_process_writes_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _results_generated_at_download(monkeypatch, SCENARIOS[1])
    sim = Emulator(SCENARIOS[1], results_writer="process")
    try:
        batch_id = _ended_batch(sim)
        assert _download(sim, batch_id) == expected
        assert _download(sim, batch_id) == expected
    finally:
        sim.close()


def test_cancel_during_write_ahead_gives_the_canceled_results() -> None:
    sim = Emulator(Scenario.of(timing={"per_request": 1, "concurrency": 100}))
    client = sim.client()
    batch = client.messages.batches.create(requests=make_requests(N))  # type: ignore[arg-type]
    sim.advance(2.5)
    client.messages.batches.cancel(batch.id)
    sim.advance(days=1)
    ended = client.messages.batches.retrieve(batch.id)
    results = list(client.messages.batches.results(batch.id))
    kinds = [r.result.type for r in results]
    assert len(results) == N
    assert kinds.count("canceled") == ended.request_counts.canceled > 0
    assert kinds.count("succeeded") == ended.request_counts.succeeded > 0


@pytest.mark.usefixtures("files_for_small_batches")
def test_a_download_cut_short_leaves_the_next_one_whole() -> None:
    sim = Emulator()
    client = sim.client()
    batch = client.messages.batches.create(requests=make_requests(50))
    sim.advance(days=1)
    with client.messages.batches.with_streaming_response.results(batch.id) as response:
        first = next(response.iter_bytes(64))
    assert first.startswith(b'{"custom_id":')
    whole = _download(sim, batch.id)
    assert whole.count(b"\n") == 50
    assert {line.split(b'"')[3] for line in whole.splitlines()} == {f"req-{i}".encode() for i in range(50)}


@pytest.mark.usefixtures("files_for_small_batches")
def test_results_files_dropped_past_the_limit_are_written_again() -> None:
    sim = Emulator()
    sim.results_files.max_files = 1
    first_id, second_id = _ended_batch(sim, 30), _ended_batch(sim, 40)
    first, second = _download(sim, first_id), _download(sim, second_id)  # the second drops the first
    assert sim.results_files.file_count() == 1
    assert _download(sim, first_id) == first
    assert _download(sim, second_id) == second
    assert (first.count(b"\n"), second.count(b"\n")) == (30, 40)


def _files_on_disk(sim: Emulator) -> list[str]:
    folder = sim.results_files._dir
    return os.listdir(folder) if folder is not None else []


@pytest.mark.usefixtures("files_for_small_batches")
def test_deleting_a_batch_deletes_its_results_file() -> None:
    sim = Emulator()
    batch_id = _ended_batch(sim, 20)
    _download(sim, batch_id)
    assert len(_files_on_disk(sim)) == 1
    sim.client().messages.batches.delete(batch_id)
    assert _files_on_disk(sim) == []


@pytest.mark.usefixtures("files_for_small_batches")
def test_reset_deletes_every_results_file() -> None:
    sim = Emulator()
    _download(sim, _ended_batch(sim, 20))
    _download(sim, _ended_batch(sim, 30))
    assert len(_files_on_disk(sim)) == 2
    sim.reset()
    assert _files_on_disk(sim) == []
    assert sim.results_pending() == 0


def test_two_emulators_keep_their_own_results_files() -> None:
    one, two = Emulator(), Emulator(Scenario(seed=5))
    one_id = _ended_batch(one)
    two_id = _ended_batch(two, N + 1)
    assert _download(one, one_id).count(b"\n") == N
    assert _download(two, two_id).count(b"\n") == N + 1
    assert one.results_files._dir != two.results_files._dir
    one.reset()
    assert one.results_files.file_count() == 0
    assert two.results_files.file_count() == 1
    assert _download(two, two_id).count(b"\n") == N + 1


def test_health_reports_its_own_results_being_written() -> None:
    sim, other = Emulator(), Emulator()
    _ended_batch(other)
    health = sim.client().get("/_batchsim/health", cast_to=object)
    assert health == {"status": "ok", "results_pending": 0}  # the other emulator's writing is not ours
    assert isinstance(other.client().get("/_batchsim/health", cast_to=object), dict)


def test_a_deleted_batch_is_freed_in_memory() -> None:
    sim = Emulator(journal=False)
    client = sim.client()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        batch = client.messages.batches.create(requests=make_requests(5000))  # type: ignore[arg-type]
        sim.advance(days=1)
        held = tracemalloc.get_traced_memory()[0] - before
        client.messages.batches.delete(batch.id)
        assert sim.results_files.wait_written(timeout=60), "the writer never let the deleted batch go"
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held > 1_000_000  # the batch's requests and plan
    assert after < held / 10  # all gone but its id


def _with_invalid(n: int) -> list[dict[str, object]]:
    requests: list[dict[str, object]] = list(make_requests(n))
    requests[7] = {"custom_id": "no-model", "params": {"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}}
    requests[n - 1] = {"custom_id": "zero-tokens", "params": {**make_requests(1)[0]["params"], "max_tokens": 0}}
    return requests


def _errored(sim: Emulator, batch_id: str) -> dict[str, str]:
    return {
        r.custom_id: r.result.error.error.message
        for r in sim.client().messages.batches.results(batch_id)
        if r.result.type == "errored"
    }


def test_params_checked_after_the_answer_still_end_errored() -> None:
    sim = Emulator()
    batch = sim.client().messages.batches.create(requests=_with_invalid(N))  # type: ignore[arg-type]
    sim.advance(days=1)
    ended = sim.client().messages.batches.retrieve(batch.id)
    assert ended.request_counts.errored == 2
    assert _errored(sim, batch.id) == {
        "no-model": "model: Field required",
        "zero-tokens": "max_tokens: Input should be greater than or equal to 1",
    }


def test_params_are_checked_when_the_create_answer_is_lost() -> None:
    sim = Emulator(Scenario.of(faults=[{"endpoint": "create", "kind": "lost", "times": 1}]))
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.create(requests=_with_invalid(20))  # type: ignore[arg-type]
    (batch,) = client.messages.batches.list().data
    sim.advance(days=1)
    assert client.messages.batches.retrieve(batch.id).request_counts.errored == 2
    assert set(_errored(sim, batch.id)) == {"no-model", "zero-tokens"}


# -- a file being read ---------------------------------------------------------------------------------


def _paused_lines(chunks: int, pause_after: int, resume: threading.Event) -> Callable[[], Iterator[bytes]]:
    """Results lines whose writer stops after ``pause_after`` chunks until ``resume`` is set."""

    def lines() -> Iterator[bytes]:
        for n in range(chunks):
            if n == pause_after:
                assert resume.wait(60), "the test never let the writer go on"
            yield b"%d\n" % n * 100

    return lines


def _expected(chunks: int) -> bytes:
    return b"".join(b"%d\n" % n * 100 for n in range(chunks))


async def _read(download: AsyncIterator[bytes], first: asyncio.Event | None = None) -> bytes:
    parts = []
    async for chunk in download:
        parts.append(chunk)
        if first is not None:
            first.set()
    return b"".join(parts)


def test_a_file_being_written_and_read_is_never_dropped_under_its_reader() -> None:
    """Other files asking for room drop those nobody reads; the one being read stays (counted
    against the bounds) and its download ends whole, however many files come after it."""
    store = ResultsFileStore(max_files=2)
    resume = threading.Event()
    try:

        async def scenario() -> bytes:
            first = asyncio.Event()
            reading = asyncio.ensure_future(_read(store.stream("big", _paused_lines(300, 5, resume)), first))
            await asyncio.wait_for(first.wait(), 60)  # the download has its first bytes; the writer waits
            for n in range(6):  # each asks for room; only files nobody reads may go
                store.write_ahead(f"other-{n}", _paused_lines(3, 10, resume))
            assert store.file_count() <= 2
            resume.set()
            return await asyncio.wait_for(reading, 60)

        assert asyncio.run(scenario()) == _expected(300)
        assert store.reading() == 0
        assert store.wait_written(timeout=60)
    finally:
        resume.set()
        store.close()


def test_a_file_deleted_while_it_is_read_goes_when_its_reader_is_done() -> None:
    store = ResultsFileStore()
    resume = threading.Event()
    try:

        async def scenario() -> tuple[bytes, list[str]]:
            first = asyncio.Event()
            reading = asyncio.ensure_future(_read(store.stream("b", _paused_lines(100, 5, resume)), first))
            await asyncio.wait_for(first.wait(), 60)
            store.drop("b")  # the batch is deleted while its results are downloaded
            kept = _files(store)
            resume.set()
            return await asyncio.wait_for(reading, 60), kept

        whole, kept_while_read = asyncio.run(scenario())
        assert whole == _expected(100)
        assert len(kept_while_read) == 1  # still on disk, still counted, while it is read
        assert _files(store) == [] and store.file_count() == 0
    finally:
        resume.set()
        store.close()


def _files(store: ResultsFileStore) -> list[str]:
    return os.listdir(store._dir) if store._dir is not None else []


def test_a_file_nobody_reads_holds_no_descriptor() -> None:
    sim = Emulator()
    before = _open_results_files()
    batch_id = _ended_batch(sim)
    _download(sim, batch_id)  # followed the file to its end: its writer is done with it
    assert sim.results_files.file_count() == 1
    assert _open_results_files() == before


def _open_results_files() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += "batchsim-results-" in os.readlink(f"/proc/self/fd/{fd}")
    return count


def test_a_writer_process_gets_its_jobs_through_a_private_folder_deleted_on_close() -> None:
    sim = Emulator(results_writer="process")
    try:
        _download(sim, _ended_batch(sim))
        writer = sim.results_files._writer
        assert isinstance(writer, results_files._ProcessWriter)
        folder = writer._folder
        assert os.path.basename(folder).startswith(f"batchsim-jobs-{os.getpid()}-")
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    finally:
        sim.close()
    assert not os.path.exists(folder)


def test_jobs_folders_of_processes_that_are_gone_are_swept(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"batchsim-jobs-{gone.pid}-abc"
    stale.mkdir()
    (stale / "results-x.jsonl.job").write_bytes(b"pickled prompts")
    live = tmp_path / f"batchsim-jobs-{os.getpid()}-def"
    live.mkdir()
    assert results_files.sweep_stale_roots(str(tmp_path), jobs=str(tmp_path)) == 1
    assert not stale.exists() and live.exists()


def test_a_download_waiting_for_the_writer_under_autoadvance_leaves_the_clock_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under ``autoadvance`` sleeping moves the virtual clock: a download that has read all the
    writer wrote so far waits for the writer's signal, not in a sleep loop."""
    gate = threading.Event()
    generate = api.result_chunks

    def held_back(*args: object, **kwargs: object) -> Iterator[bytes]:
        chunks = generate(*args, **kwargs)  # type: ignore[arg-type]
        yield next(chunks)
        gate.wait(30)  # the rest comes once the download is waiting for it
        yield from chunks

    monkeypatch.setattr(api, "result_chunks", held_back)
    sim = Emulator()
    batch_id = _ended_batch(sim, 5 * N)
    assert sim.results_pending() == 1
    threading.Timer(0.3, gate.set).start()
    with sim.autoadvance():
        before = sim.now()
        body = _download(sim, batch_id)
        assert sim.now() == before
    assert body.count(b"\n") == 5 * N


def test_a_promised_write_ahead_counts_as_pending_until_it_starts() -> None:
    """A create answers before it starts its results file: health counts that file from the
    answer on, so waiting for ``results_pending == 0`` never ends before the write begins."""
    store = ResultsFileStore()
    try:
        started = store.promise()
        assert store.pending() == 1
        assert store.wait_written(timeout=0.05) is False
        threading.Timer(0.05, started).start()
        assert store.wait_written(timeout=60) is True
        started()  # ending it twice changes nothing
        assert store.pending() == 0
    finally:
        store.close()
