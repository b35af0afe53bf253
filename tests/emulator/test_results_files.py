"""Results files: large batches get their results written ahead in the background; every
download reads the file, byte-identical to results generated at download time."""

from __future__ import annotations

import weakref

import anthropic
import pytest

from batchsim import Emulator, Scenario, _service, _spool

from .conftest import make_requests

N = _service.WRITE_AHEAD_MIN + 200


@pytest.fixture
def files_for_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results files for batches of any size (they are kept for 1,000+ requests)."""
    monkeypatch.setattr(_spool, "FILE_MIN_REQUESTS", 1)


def _download(sim: Emulator, batch_id: str) -> bytes:
    return sim.client().messages.batches.with_raw_response.results(batch_id).http_response.read()


def _ended_batch(sim: Emulator, n: int = N) -> str:
    batch = sim.client().messages.batches.create(requests=make_requests(n))  # type: ignore[arg-type]
    sim.advance(days=1)
    return batch.id


def _results_written_at_download(monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(_service, "WRITE_AHEAD_MIN", 10**9)
        sim = Emulator(scenario)
        return _download(sim, _ended_batch(sim))


@pytest.mark.parametrize(
    "scenario",
    [Scenario(), Scenario.of(outcomes={"errored": 0.2, "expired": 0.1}), Scenario.of(timing={"jitter": 0.5})],
    ids=["default", "outcomes", "jitter"],
)
def test_results_written_ahead_are_the_results_written_at_download(
    monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    expected = _results_written_at_download(monkeypatch, scenario)
    sim = Emulator(scenario)
    batch_id = _ended_batch(sim)  # downloaded at once: the download may follow the writer
    first, second = _download(sim, batch_id), _download(sim, batch_id)
    assert first == expected
    assert second == expected
    assert expected.count(b"\n") == N


def test_cancel_during_write_ahead_gives_the_canceled_results(monkeypatch: pytest.MonkeyPatch) -> None:
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
    batch = client.messages.batches.create(requests=make_requests(50))  # written at download
    sim.advance(days=1)
    with client.messages.batches.with_streaming_response.results(batch.id) as response:
        first = next(response.iter_bytes(64))
    assert first.startswith(b'{"custom_id":')
    whole = _download(sim, batch.id)
    assert whole.count(b"\n") == 50
    assert {line.split(b'"')[3] for line in whole.splitlines()} == {f"req-{i}".encode() for i in range(50)}


@pytest.mark.usefixtures("files_for_small_batches")
def test_results_files_dropped_past_the_limit_are_written_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_spool, "MAX_SPOOLS", 1)
    sim = Emulator()
    first_id, second_id = _ended_batch(sim, 30), _ended_batch(sim, 40)
    first, second = _download(sim, first_id), _download(sim, second_id)  # the second drops the first
    assert _download(sim, first_id) == first
    assert _download(sim, second_id) == second
    assert (first.count(b"\n"), second.count(b"\n")) == (30, 40)


@pytest.mark.usefixtures("files_for_small_batches")
def test_deleting_a_batch_lets_its_results_file_go() -> None:
    sim = Emulator()
    batch_id = _ended_batch(sim, 20)
    _download(sim, batch_id)
    batch = sim.batches()[0]
    spool = batch._final_state().spool
    assert spool is not None and spool.complete
    gone = weakref.ref(spool)
    del spool
    sim.client().messages.batches.delete(batch_id)
    assert batch._final_state().spool is None
    assert gone() is None  # closed, its file deleted, right away


def test_health_reports_results_being_written() -> None:
    sim = Emulator()
    _ended_batch(sim)
    health = sim.client().get("/_batchsim/health", cast_to=object)
    assert isinstance(health, dict)
    assert health["status"] == "ok"
    assert isinstance(health["results_pending"], int)
    assert health["results_pending"] >= 0


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


@pytest.mark.usefixtures("files_for_small_batches")
def test_no_write_ahead_competes_with_a_download_writing_the_file() -> None:
    sim = Emulator()
    batch_id = _ended_batch(sim, 600)  # under the write-ahead size: the download writes the file
    batch = sim.batches()[0]
    download = batch.result_lines()
    first = next(download)
    batch.write_results_ahead()  # a download is writing: this does nothing
    assert batch._final_state().spool is None
    rest = b"".join(download)
    spool = batch._final_state().spool
    assert spool is not None and spool.complete
    assert first + rest == _download(sim, batch_id)


@pytest.mark.usefixtures("files_for_small_batches")
def test_results_files_work_without_pread(monkeypatch: pytest.MonkeyPatch) -> None:
    with_pread = Emulator()
    expected = _download(with_pread, _ended_batch(with_pread, 300))
    monkeypatch.setattr(_spool, "_PREAD", False)
    sim = Emulator()  # the same seed: the same batch
    batch_id = _ended_batch(sim, 300)
    assert _download(sim, batch_id) == expected  # the file written with seek and write
    assert _download(sim, batch_id) == expected  # and read back with seek and read
