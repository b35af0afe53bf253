"""Sleep auto-advance: ``time.sleep``/``asyncio.sleep`` in the code under test move the virtual clock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from batchsim.pytest_plugin import BatchsimFixture

from ._support import INNER_HEADER, requests


def _poll_until_ended(batchsim: BatchsimFixture, every: float) -> tuple[str, int]:
    client = batchsim.client()
    batch = client.messages.batches.create(requests=requests(5))  # type: ignore[arg-type]
    polls = 0
    while batch.processing_status != "ended":
        time.sleep(every)
        polls += 1
        batch = client.messages.batches.retrieve(batch.id)
    assert batch.ended_at is not None
    return batch.id, polls


@pytest.mark.batchsim(autoadvance=True, timing={"per_request": 600.0, "concurrency": 1})
def test_marker_option_turns_polling_into_clock_moves(batchsim: BatchsimFixture) -> None:
    start = batchsim.clock.now()
    batch_id, polls = _poll_until_ended(batchsim, every=60)
    # Five requests of ten simulated minutes each, polled every simulated minute.
    assert polls == 51
    assert (batchsim.clock.now() - start) == 51 * 60 * 1_000_000
    batch = batchsim.client().messages.batches.retrieve(batch_id)
    assert batch.ended_at is not None
    assert (batch.ended_at - batch.created_at).total_seconds() == 3001.0


def test_fixture_method_as_a_block(batchsim: BatchsimFixture) -> None:
    real = time.sleep
    with batchsim.autoadvance():
        assert time.sleep is not real
        time.sleep(90)
        time.sleep(0)
    assert time.sleep is real
    assert batchsim.now().isoformat() == "2026-01-01T00:01:30+00:00"
    with pytest.raises(ValueError, match="non-negative"), batchsim.autoadvance():
        time.sleep(-1)


def test_asyncio_sleep_advances_and_still_yields(batchsim: BatchsimFixture) -> None:
    batchsim.autoadvance()
    order: list[str] = []

    async def other() -> None:
        order.append("other ran")

    async def main() -> str:
        client = batchsim.async_client()
        batch = await client.messages.batches.create(requests=requests(3))  # type: ignore[arg-type]
        task = asyncio.ensure_future(other())
        value = await asyncio.sleep(30, result="slept")
        order.append(value)
        await task
        while batch.processing_status != "ended":
            await asyncio.sleep(5)
            batch = await client.messages.batches.retrieve(batch.id)
        return batch.processing_status

    assert asyncio.run(main()) == "ended"
    assert order == ["other ran", "slept"]
    assert batchsim.now().isoformat() == "2026-01-01T00:00:35+00:00"


def test_other_threads_sleep_for_real(batchsim: BatchsimFixture) -> None:
    batchsim.autoadvance()
    before = batchsim.clock.now()
    worker = threading.Thread(target=time.sleep, args=(0.001,))
    worker.start()
    worker.join()
    assert batchsim.clock.now() == before


def test_sleep_is_restored_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        INNER_HEADER
        + """
REAL_SLEEP, REAL_ASYNC_SLEEP = time.sleep, asyncio.sleep

@pytest.mark.batchsim(autoadvance=True)
def test_patched(batchsim):
    assert time.sleep is not REAL_SLEEP and asyncio.sleep is not REAL_ASYNC_SLEEP
    time.sleep(3600)
    assert batchsim.now().hour == 1

def test_restored():
    assert time.sleep is REAL_SLEEP and asyncio.sleep is REAL_ASYNC_SLEEP

@pytest.mark.batchsim(autoadvance=True)
def test_patched_then_failing(batchsim):
    raise RuntimeError("boom")

def test_restored_after_failure():
    assert time.sleep is REAL_SLEEP and asyncio.sleep is REAL_ASYNC_SLEEP
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3, failed=1)


def test_needs_a_virtual_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.batchsim(clock="real", autoadvance=True)
def test_marker(batchsim):
    pass

@pytest.mark.batchsim(clock="scaled:10")
def test_method(batchsim):
    batchsim.autoadvance()
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "batchsim.autoadvance() needs the virtual clock; this emulator's clock is real",
            "*batchsim.autoadvance() needs the virtual clock; this emulator's clock is scaled:10",
        ]
    )


@pytest.mark.batchsim(autoadvance=True)
def test_a_results_download_waits_on_the_writer_not_on_the_clock(batchsim: BatchsimFixture) -> None:
    """A download following a results file still being written waits for the writer; under
    autoadvance that wait must not move the virtual clock (it is no sleep of the code under test)."""
    client = batchsim.client()
    client.messages.batches.create(requests=requests(50_000, "first"))  # type: ignore[arg-type]
    second = client.messages.batches.create(requests=requests(2_000, "second"))  # type: ignore[arg-type]
    batchsim.advance(days=1)
    assert batchsim.results_pending() > 0  # written in order: the first still keeps the writer busy
    before = batchsim.clock.now()
    results = list(client.messages.batches.results(second.id))
    assert len(results) == 2_000
    assert batchsim.clock.now() == before
