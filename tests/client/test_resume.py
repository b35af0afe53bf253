"""Crashes and interruptions: SIGKILL part-way, Ctrl-C, and a create whose answer was lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serverproc import ServerProcess, running_server

from batchclient import StateError

from .conftest import (
    FAST_POLL,
    cli,
    cli_env,
    client_for,
    created_ids,
    listed_batches,
    make_runner,
    read_jsonl,
    requests_for,
    scenario,
    write_jsonl,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def _slow_process() -> Iterator[ServerProcess]:
    with running_server("--clock", "scaled:1000") as s:
        yield s


@pytest.fixture
def slow_server(_slow_process: ServerProcess) -> ServerProcess:
    """Batches that take about 0.6 s of wall time; "flaky-" ids always fail (retryably)."""
    _slow_process.control("POST", "reset").raise_for_status()
    _slow_process.control("PUT", "scenario", json=scenario("client-resume.toml")).raise_for_status()
    _slow_process.control("DELETE", "journal").raise_for_status()
    return _slow_process


def _state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _start(server: ServerProcess, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchclient", *args],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], state: Path, ready: Callable[[dict[str, Any]], bool]) -> None:
    for _ in range(600):
        data = _state(state)
        if data is not None and ready(data):
            return
        assert proc.poll() is None, f"batchclient ended early: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError("the job never reached the point to interrupt it")


def _first_batch(data: dict[str, Any]) -> bool:
    return any(c["batch_id"] for c in data["chunks"])


def _retry_round(data: dict[str, Any]) -> bool:
    return bool(data["rounds"] >= 2)


@pytest.mark.parametrize("kill_when", [_first_batch, _retry_round], ids=["first-batch", "retry-round"])
def test_sigkill_and_rerun_submits_nothing_twice_and_loses_nothing(
    slow_server: ServerProcess, tmp_path: Path, kill_when: Callable[[dict[str, Any]], bool]
) -> None:
    ids = [f"doc-{i:02d}" if i % 9 else f"flaky-{i:02d}" for i in range(45)]
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(ids))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    args = ["run", str(source), "-o", str(out), "--state", str(state), "--retries", "2", "--batch-size", "15"]
    args += FAST_POLL

    proc = _start(slow_server, args)
    _wait_for(proc, state, kill_when)
    proc.kill()
    proc.communicate()
    assert not out.exists()

    rerun = cli(slow_server, *args)
    assert rerun.returncode == 1, rerun.stderr  # finished; the flaky requests still fail
    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == ids
    failed = {line["custom_id"] for line in lines if line["result"]["type"] != "succeeded"}
    assert failed == {cid for cid in ids if cid.startswith("flaky-")}
    # Exactly once per round: 1 round for the others, 3 (first try + 2 retries) for the flaky ones.
    assert created_ids(slow_server) == {cid: 3 if cid.startswith("flaky-") else 1 for cid in ids}
    recorded = {c["batch_id"] for c in json.loads(state.read_text())["chunks"]}
    assert listed_batches(slow_server) == recorded


def test_ctrl_c_with_cancel_flag_cancels_live_batches(slow_server: ServerProcess, tmp_path: Path) -> None:
    # 15 s of real time to the natural end at 1000x (the Ctrl-C must come before it, even on a
    # loaded machine); the two requests in flight at the cancel finish within 3 s.
    two_at_a_time = {"timing": {"start_delay": 0, "per_request": 3000, "concurrency": 2}}
    slow_server.control("PUT", "scenario", json=two_at_a_time).raise_for_status()
    ids = [f"doc-{i}" for i in range(10)]
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(ids))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    args = ["run", str(source), "-o", str(out), "--state", str(state), "--cancel-on-interrupt", *FAST_POLL]
    proc = _start(slow_server, args)
    _wait_for(proc, state, _first_batch)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "canceled 1 batch(es)" in stdout

    rerun = cli(slow_server, *args)
    assert rerun.returncode == 1
    assert "canceled" in rerun.stdout
    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == ids
    assert {line["result"]["type"] for line in lines} == {"canceled", "succeeded"}
    assert sum(created_ids(slow_server).values()) == 10


def test_ctrl_c_without_a_terminal_keeps_batches_running(slow_server: ServerProcess, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "b"]))
    state = tmp_path / "job.json"
    proc = _start(slow_server, ["run", str(source), "-o", str(tmp_path / "o.jsonl"), "--state", str(state)])
    _wait_for(proc, state, _first_batch)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "run the same command again to continue" in stderr
    (batch_id,) = listed_batches(slow_server)
    assert client_for(slow_server).messages.batches.retrieve(batch_id).cancel_initiated_at is None


def _forget_batch_id(state: Path, chunk: int) -> str:
    """Make the state look like the job died after ``create`` but before recording its answer."""
    data = json.loads(state.read_text())
    entry = data["chunks"][chunk]
    batch_id = entry["batch_id"]
    entry.update(batch_id=None, created_at=None, ended=False, saved=False, counts={})
    data["finished"] = False
    state.write_text(json.dumps(data))
    return str(batch_id)


def test_an_unconfirmed_create_is_found_not_repeated(sim: ServerProcess, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for([f"r{i}" for i in range(7)]))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    first = make_runner(sim, max_batch_requests=3).run(source, out, state=state)
    lost = _forget_batch_id(state, 1)
    second = make_runner(sim, max_batch_requests=3).run(source, out, state=state)
    assert second.batch_ids == first.batch_ids and lost in second.batch_ids
    assert sum(created_ids(sim).values()) == 7


def test_an_intent_whose_create_never_arrived_is_submitted(sim: ServerProcess, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for([f"r{i}" for i in range(4)]))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    make_runner(sim, max_batch_requests=2).run(source, out, state=state)
    lost = _forget_batch_id(state, 1)
    client_for(sim).messages.batches.delete(lost)  # as if the create never reached the API
    make_runner(sim, max_batch_requests=2).run(source, out, state=state)
    assert created_ids(sim) == {"r0": 1, "r1": 1, "r2": 2, "r3": 2}
    assert [line["custom_id"] for line in read_jsonl(out)] == ["r0", "r1", "r2", "r3"]


def test_two_candidate_batches_stop_the_job_instead_of_guessing(sim: ServerProcess, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "b"]))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    make_runner(sim).run(source, out, state=state)
    _forget_batch_id(state, 0)
    client_for(sim).messages.batches.create(requests=requests_for(["x", "y"]))  # type: ignore[arg-type]
    with pytest.raises(StateError, match="cannot tell which"):
        make_runner(sim).run(source, out, state=state)
