"""batchclient's answers to a wrong URL, bad lines, a partial price table, tiny costs and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serverproc import ServerProcess

from batchclient import Price
from batchclient._input import check_request
from batchclient._report import _dollars

from .conftest import CLIENT_DIR, SUMMARIZE, cli, cli_env, make_runner


def test_a_wrong_url_fails_at_once_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(ANTHROPIC_API_KEY="k", PYTHONPATH=str(CLIENT_DIR))
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchclient",
            "run",
            str(SUMMARIZE),
            "-o",
            str(out),
            "--base-url",
            "http://127.0.0.1:9",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "batchclient: cannot reach http://127.0.0.1:9: connection refused; nothing was submitted"
    )
    assert not (tmp_path / "out.jsonl.job.json").exists()


def test_the_input_is_checked_before_the_url(tmp_path: Path) -> None:
    """A wrong URL and a bad file: every problem of the file comes first, with no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(ANTHROPIC_API_KEY="k", PYTHONPATH=str(CLIENT_DIR))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"custom_id": "ok-1", "params": {"model": "m", "max_tokens": 5, "messages": [1]}}\nnot json\n'
        '{"custom_id": "bad id!", "params": {"max_tokens": 0}}\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchclient",
            "run",
            str(bad),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--base-url",
            "http://127.0.0.1:9",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot reach" not in done.stderr
    assert "line 2: not valid JSON" in done.stderr
    assert "line 3: custom_id 'bad id!' must be" in done.stderr
    assert "params.model is required" in done.stderr and "params.max_tokens must be an integer" in done.stderr
    assert not (tmp_path / "out.jsonl.job.json").exists()


def test_every_problem_of_a_line_is_reported() -> None:
    problem = check_request({"custom_id": "bad id!", "params": {"max_tokens": 0}, "extra": 1})
    assert problem is not None
    for part in (
        "unexpected key(s) 'extra'",
        "custom_id 'bad id!' must be",
        "params.model is required",
        "params.messages is required",
        "params.max_tokens must be an integer >= 1",
    ):
        assert part in problem
    assert check_request({"params": []}) == "missing 'custom_id'; params must be an object"


@pytest.mark.server
def test_given_prices_override_entries_and_keep_the_rest(sim: ServerProcess, tmp_path: Path) -> None:
    builtin = make_runner(sim).run(SUMMARIZE, out=tmp_path / "a.jsonl").report
    assert builtin.cost_standard > 0 and not builtin.unpriced_models
    other = {"some-other-model": Price(input=1.0, output=1.0)}
    merged = make_runner(sim, prices=other).run(SUMMARIZE, out=tmp_path / "b.jsonl").report
    assert not merged.unpriced_models
    assert merged.cost_standard == pytest.approx(builtin.cost_standard)
    cheaper = {"claude-sonnet-4-5": Price(input=0.0, output=0.0)}
    assert make_runner(sim, prices=cheaper).run(SUMMARIZE, out=tmp_path / "c.jsonl").report.cost_standard < (
        builtin.cost_standard
    )


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.0, "$0.00"),
        (0.0042, "$0.0042"),
        (0.006, "$0.006"),
        (0.012, "$0.012"),
        (2.5, "$2.50"),
        (1234.5, "$1,234.50"),
        (0.00003, "$3e-05"),
    ],
)
def test_sub_cent_costs_keep_their_digits(amount: float, shown: str) -> None:
    assert _dollars(amount) == shown


@pytest.mark.server
def test_sigterm_stops_like_ctrl_c_and_says_how_to_continue(fresh_server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    state = tmp_path / "out.jsonl.job.json"
    # The virtual clock stands still: the batch stays in progress until told otherwise.
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchclient", "run", str(SUMMARIZE), "-o", str(out), "--poll-interval", "0.05"],
        env=cli_env(fresh_server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not fresh_server.control("GET", "batches").json()["total"]:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "run the same command again to continue" in stderr
    assert "Traceback" not in stderr
    assert state.exists()
    fresh_server.advance(3600)
    again = cli(fresh_server, "run", str(SUMMARIZE), "-o", str(out), "--poll-interval", "0.05")
    assert again.returncode == 0, again.stderr
    assert fresh_server.control("GET", "batches").json()["total"] == 1  # continued, nothing sent twice
