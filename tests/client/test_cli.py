"""The ``batchclient`` command, run as a subprocess against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from serverproc import ServerProcess

from .conftest import FAST_POLL, ROOT, SUMMARIZE, cli, cli_env, client_for, read_jsonl, requests_for, write_jsonl

pytestmark = pytest.mark.server


def test_help_teaches_the_commands_resume_and_production(main_in_process: Callable[..., Any]) -> None:
    code, top, _ = main_in_process("--help")
    assert code == 0
    for words in ("run", "status", "results", "cancel", "ANTHROPIC_BASE_URL", "production", "resume", "exit"):
        assert words in top
    _, run, _ = main_in_process("run", "--help")
    for flag in ("--retries", "--state", "--base-url", "--max-wait", "--prices", "--cancel-on-interrupt"):
        assert flag in run


def test_run_the_sample_file_then_inspect_the_job(
    sim: ServerProcess, tmp_path: Path, main_in_process: Callable[..., Any]
) -> None:
    out, state = tmp_path / "summaries.jsonl", tmp_path / "job.json"
    report = tmp_path / "report.json"
    done = cli(
        sim, "run", str(SUMMARIZE), "-o", str(out), "--state", str(state), "--batch-size", "8",
        "--report-json", str(report), *FAST_POLL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "20 requests in 3 batch(es) over 1 round(s): 20 succeeded" in done.stdout
    assert "submitted batch msgbatch_" in done.stderr  # plain log lines off a terminal
    assert json.loads(report.read_text())["counts"]["succeeded"] == 20
    expected = [json.loads(line)["custom_id"] for line in SUMMARIZE.read_text().splitlines()]
    assert [line["custom_id"] for line in read_jsonl(out)] == expected

    env = cli_env(sim)
    code, status, _ = main_in_process("status", str(state), env=env)
    assert code == 0
    assert "20 requests" in status and status.count("results saved: 8 succeeded") == 2

    batch_id = json.loads(state.read_text())["chunks"][2]["batch_id"]
    _, one, _ = main_in_process("status", batch_id, env=env)
    assert json.loads(one)["request_counts"]["succeeded"] == 4

    code, _, _ = main_in_process("results", batch_id, "-o", str(tmp_path / "b.jsonl"), env=env)
    assert code == 0
    assert sorted(line["custom_id"] for line in read_jsonl(tmp_path / "b.jsonl")) == sorted(expected[16:])

    _, job_results, _ = main_in_process("results", str(state), env=env)
    assert [json.loads(line)["custom_id"] for line in job_results.splitlines()] == expected


def test_cancel_a_batch_by_id(fresh_server: ServerProcess, main_in_process: Callable[..., Any]) -> None:
    sim = fresh_server  # virtual clock: the batch stays in progress until cancelled
    batch = client_for(sim).messages.batches.create(requests=requests_for(["a"]))  # type: ignore[arg-type]
    code, out, _ = main_in_process("cancel", batch.id, env=cli_env(sim))
    assert code == 0
    assert out.startswith(f"{batch.id}: ")
    assert client_for(sim).messages.batches.retrieve(batch.id).cancel_initiated_at is not None


def test_bad_input_exits_2_naming_the_line(
    sim: ServerProcess, tmp_path: Path, main_in_process: Callable[..., Any]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [*requests_for(["a", "b"]), {"custom_id": "a", "params": {}}])
    code, _, err = main_in_process("run", str(source), "-o", str(tmp_path / "o.jsonl"), env=cli_env(sim))
    assert code == 2
    assert "line 3: custom_id 'a': params.model is required" in err
    assert sim.control("GET", "journal").json()["calls"] == []


def test_a_state_file_of_another_job_is_refused(
    sim: ServerProcess, tmp_path: Path, main_in_process: Callable[..., Any]
) -> None:
    state = str(tmp_path / "job.json")
    one = write_jsonl(tmp_path / "one.jsonl", requests_for(["a"]))
    two = write_jsonl(tmp_path / "two.jsonl", requests_for(["b"]))
    out = str(tmp_path / "o.jsonl")
    assert main_in_process("run", str(one), "-o", out, "--state", state, "-q", *FAST_POLL, env=cli_env(sim))[0] == 0
    code, _, err = main_in_process("run", str(two), "-o", out, "--state", state, env=cli_env(sim))
    assert code == 2
    assert "belongs to a job with another input" in err


def test_base_url_argument_and_missing_key(
    sim: ServerProcess, tmp_path: Path, main_in_process: Callable[..., Any]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a"]))
    args = ["run", str(source), "-o", str(tmp_path / "o.jsonl"), "--base-url", sim.url, *FAST_POLL]
    code, out, err = main_in_process(*args, env={"ANTHROPIC_API_KEY": "k"})
    assert code == 0, err
    assert "1 succeeded" in out
    code, _, err = main_in_process(*args, env={})
    assert code == 2
    assert "set ANTHROPIC_API_KEY" in err


LEGACY = ROOT / ".venv" / "legacy-sdk"


@pytest.mark.skipif(not (LEGACY / "anthropic").is_dir(), reason="legacy SDK not installed: run `make install`")
def test_the_same_job_runs_with_the_legacy_sdk(sim: ServerProcess, tmp_path: Path) -> None:
    """anthropic 0.x has neither `post(content=)` nor a streaming `results`: the fallbacks."""
    env = cli_env(sim)
    env["PYTHONPATH"] = os.pathsep.join([str(LEGACY), env["PYTHONPATH"]])
    out = tmp_path / "out.jsonl"
    args = ["run", str(SUMMARIZE), "-o", str(out), "--batch-size", "7", *FAST_POLL]
    done = subprocess.run(
        [sys.executable, "-m", "batchclient", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "20 succeeded" in done.stdout
    assert "Anthropic/Python 0." in sim.control("GET", "journal").json()["calls"][0]["headers"]["user-agent"]
    expected = [json.loads(line)["custom_id"] for line in SUMMARIZE.read_text().splitlines()]
    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == expected
    assert all(line["result"]["message"]["usage"]["output_tokens"] > 0 for line in lines)
