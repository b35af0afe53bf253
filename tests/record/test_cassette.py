"""A cassette replays: ``batchsim serve --scenario DIR/scenario.toml`` gives the recorded results byte
for byte by custom_id with a lifecycle ending within 10 % of the recorded one; a second recording
appends; a recording killed mid-download leaves a usable folder; the pytest plugin records and
replays the same tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from serverproc import ServerProcess, running_server, start_server, stop_server

from batchsim._anthropic.responder import load_canned
from batchsim._engine.scenario import Scenario
from batchsim._serve.record import Observed, fit_timing

from .conftest import UPSTREAM_KEY, recorder, upstream, write_scenario

RECORDED = """
seed = 5
[timing]
start_delay = 40.0
per_request = 25.0
concurrency = 4
[outcomes]
errored = 0.25
error_types = { api_error = 0.5, overloaded_error = 0.5 }
"""


def _requests(prefix: str, n: int) -> list[dict[str, Any]]:
    params = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    requests = [{"custom_id": f"{prefix}-{i}", "params": params} for i in range(n)]
    requests.append({"custom_id": f"{prefix}-invalid", "params": {"model": "m", "messages": []}})
    return requests


def _run_to_end(client: anthropic.Anthropic, server: ServerProcess, batch_id: str, step: float = 5.0) -> Any:
    """Poll like client code does, moving the server's virtual clock between polls."""
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        server.advance(step)


def _download(client: anthropic.Anthropic, batch_id: str) -> bytes:
    """The results as the API streams them, through the SDK."""
    with client.messages.batches.with_streaming_response.results(batch_id) as stream:
        return stream.read()


def _lines(raw: bytes) -> dict[str, bytes]:
    return {orjson.loads(line)["custom_id"]: line for line in raw.splitlines()}


def _duration(batch: Any) -> float:
    return float((batch.ended_at - batch.created_at).total_seconds())


@pytest.mark.server
@pytest.mark.slow
def test_record_then_replay_offline(tmp_path: Path) -> None:
    out = tmp_path / "cassette"
    scenario = write_scenario(tmp_path, "recorded.toml", RECORDED)
    recorded: dict[str, tuple[float, dict[str, bytes]]] = {}
    with upstream("--scenario", str(scenario)) as real:
        for prefix, n in (("first", 30), ("second", 9)):  # a second run appends to the cassette
            with (
                recorder(real.url, out) as proxy,
                anthropic.Anthropic(base_url=proxy.url, api_key=UPSTREAM_KEY, max_retries=3) as client,
            ):
                batch = client.messages.batches.create(requests=_requests(prefix, n))
                ended = _run_to_end(client, real, batch.id)
                raw = [_download(client, batch.id), _download(client, batch.id)]
                assert raw[0] == raw[1]
                recorded[batch.id] = (_duration(ended), _lines(raw[0]))

    # Both runs are in the cassette, each batch's results once.
    assert {p.name for p in (out / "batches").iterdir()} == set(recorded)
    canned_lines = (out / "canned.jsonl").read_bytes().splitlines()
    assert len(canned_lines) == 31 + 10
    text = (out / "scenario.toml").read_text()
    assert "2 batch(es) recorded, 2 used for timing" in text
    fitted = Scenario.load(out / "scenario.toml")
    assert 0 < fitted.outcomes.errored < 1
    assert set(fitted.outcomes.error_types) <= {"api_error", "overloaded_error"}

    # Replay offline: the same create bodies, the recorded lines by custom_id, similar end times.
    with (
        running_server("--scenario", str(out / "scenario.toml")) as offline,
        anthropic.Anthropic(base_url=offline.url, api_key="offline", max_retries=0) as client,
    ):
        for batch_id, (duration, lines) in recorded.items():
            body = orjson.loads((out / "batches" / batch_id / "create.json").read_bytes())
            replayed = client.messages.batches.create(requests=body["requests"])
            ended = _run_to_end(client, offline, replayed.id, step=1.0)
            assert abs(_duration(ended) - duration) <= 0.1 * duration, (batch_id, _duration(ended), duration)
            assert _lines(_download(client, replayed.id)) == lines


def test_fit_reproduces_end_times_of_batches_of_several_sizes() -> None:
    # Batches of an upstream running 4 at a time, 25 s each, after 40 s.
    points = [Observed(f"b{n}", n, 40 + -(-n // 4) * 25.0) for n in (3, 10, 31, 64)]
    timing = fit_timing(points)
    for p in points:
        fitted = timing.start_delay + -(-p.size // timing.concurrency) * timing.per_request
        assert abs(fitted - p.duration) <= 0.1 * p.duration
    assert fit_timing([]).per_request == Scenario().timing.per_request


@pytest.mark.server
def test_a_recording_killed_mid_download_leaves_a_usable_cassette(tmp_path: Path) -> None:
    out = tmp_path / "cassette"
    with upstream() as real:
        proxy = start_server("--upstream", real.url, "--out", str(out), command="record")
        try:
            with anthropic.Anthropic(base_url=proxy.url, api_key=UPSTREAM_KEY, max_retries=0) as client:
                small = client.messages.batches.create(requests=_requests("small", 5))
                big = client.messages.batches.create(requests=_requests("big", 30_000))
                real.advance(3600)
                client.messages.batches.results(small.id)  # recorded whole
                with client.messages.batches.with_streaming_response.results(big.id) as stream:
                    chunks = stream.iter_bytes(1 << 16)
                    next(chunks)
                    proxy.process.send_signal(signal.SIGKILL)
                    with pytest.raises(httpx2.HTTPError):
                        for _ in chunks:
                            pass
        finally:
            stop_server(proxy)
        # Valid at once: the scenario loads, the canned file holds exactly the whole download.
        assert Scenario.load(out / "scenario.toml").canned == str(out / "canned.jsonl")
        assert set(load_canned(out / "canned.jsonl")) == {*(f"small-{i}" for i in range(5)), "small-invalid"}
        assert not (out / "batches" / big.id / "results.jsonl").exists()
        for timeline in (out / "batches").glob("*/timeline.jsonl"):
            [orjson.loads(line) for line in timeline.read_bytes().splitlines()]
        # A second run cleans up and records the rest.
        with (
            recorder(real.url, out) as again,
            anthropic.Anthropic(base_url=again.url, api_key=UPSTREAM_KEY, max_retries=0) as client,
        ):
            assert sum(1 for _ in client.messages.batches.results(big.id)) == 30_001
        assert not list(out.rglob("*.part"))
        assert len(load_canned(out / "canned.jsonl")) == 30_001 + 6


INNER_TEST = """
import os
import time


def test_job(batchsim):
    with batchsim.client(max_retries=3) as client:
        params = {"model": "claude-haiku-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
        batch = client.messages.batches.create(requests=[{"custom_id": f"job-{i}", "params": params} for i in range(4)])
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            if batchsim.live:
                time.sleep(0.05)
            else:
                batchsim.advance(seconds=10)
        lines = [line.to_json(indent=None) for line in client.messages.batches.results(batch.id)]
    assert len(lines) == 4
    with open(os.environ["RESULTS_OUT"], "w") as out:
        out.write("\\n".join(sorted(lines)))
"""


@pytest.mark.server
def test_plugin_records_live_and_replays_offline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_job.py").write_text(INNER_TEST)
    cassette = tmp_path / "cassette"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "BATCHSIM_"))}

    def pytest_run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args]
        return subprocess.run(cmd, cwd=project, env={**env, **extra}, capture_output=True, text=True, timeout=300)

    with upstream("--clock", "scaled:600") as real:
        live = pytest_run(
            "--batchsim-record",
            str(cassette),
            ANTHROPIC_BASE_URL=real.url,
            ANTHROPIC_API_KEY=UPSTREAM_KEY,
            RESULTS_OUT=str(tmp_path / "live.txt"),
        )
    assert live.returncode == 0, live.stdout + live.stderr
    assert len(list((cassette / "batches").iterdir())) == 1
    offline = pytest_run("--batchsim-replay", str(cassette), RESULTS_OUT=str(tmp_path / "offline.txt"))
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert (tmp_path / "offline.txt").read_text() == (tmp_path / "live.txt").read_text()
