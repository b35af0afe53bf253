"""The steps of a job on their own: submit, wait, results, retry."""

from __future__ import annotations

from pathlib import Path

import pytest
from serverproc import ServerProcess

from batchclient import JobTimeoutError

from .conftest import created_ids, make_runner, requests_for, write_jsonl

pytestmark = pytest.mark.server


def test_submit_wait_results_retry(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control(
        "PUT",
        "scenario",
        json={
            "rules": [
                {"custom_id": "^bad", "result": "errored", "error_type": "invalid_request_error"},
                {"custom_id": "^late", "result": "expired"},
            ]
        },
    ).raise_for_status()
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "bad-1", "late-1", "b", "c"]))
    runner = make_runner(sim, max_batch_requests=3)

    batch_ids = runner.submit(source)
    assert len(batch_ids) == 2
    ended = runner.wait(batch_ids)
    assert [b.processing_status for b in ended] == ["ended", "ended"]
    results = {line["custom_id"]: line["result"]["type"] for bid in batch_ids for line in runner.results(bid)}
    assert results == {"a": "succeeded", "bad-1": "errored", "late-1": "expired", "b": "succeeded", "c": "succeeded"}

    sim.control("PUT", "scenario", json={}).raise_for_status()
    again = runner.retry(source, batch_ids)  # only the expired one: invalid requests are not retried
    assert len(again) == 1
    runner.wait(again)
    assert [line["custom_id"] for line in runner.results(again[0])] == ["late-1"]
    assert created_ids(sim) == {"a": 1, "bad-1": 1, "late-1": 2, "b": 1, "c": 1}
    assert runner.retry(source, again) == []


def test_wait_gives_up_after_max_wait(fresh_server: ServerProcess) -> None:
    runner = make_runner(fresh_server)  # virtual clock: nothing ends unless the test advances it
    (batch_id,) = runner.submit(requests_for(["a"]))
    with pytest.raises(JobTimeoutError, match="max wait"):
        runner.wait([batch_id], max_wait=0.1)


def test_cancel_of_a_finished_job_changes_nothing(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control("PUT", "scenario", json={"rules": [{"custom_id": "^flaky", "result": "errored"}]})
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "flaky-1"]))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    make_runner(sim).run(source, out, state=state, retries=0)
    assert make_runner(sim).cancel(state) == []
    assert make_runner(sim).run(source, out, state=state, retries=1).report.rounds == 2  # still continues
