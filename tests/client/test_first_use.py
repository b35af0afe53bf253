"""What a new user runs into first: plain price tables, the help's example, unfinished jobs, paths
that cannot be written, a state file from another server."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
from serverproc import ServerProcess

from batchclient import BatchRunner, Price, Progress
from batchclient._cli import _EPILOG

from .conftest import FAST_POLL, ROOT, SUMMARIZE, cli, cli_env, make_runner, read_jsonl

Main = Callable[..., tuple[int, str, str]]


def _journal(server: ServerProcess) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = server.control("GET", "journal").json()["calls"]
    return calls


@pytest.mark.server
def test_a_plain_mapping_prices_like_a_price(sim: ServerProcess, tmp_path: Path) -> None:
    plain = {"claude-sonnet-4-5": {"input": 3.0, "output": 15.0}}  # as the README writes it
    typed = {"claude-sonnet-4-5": Price(input=3.0, output=15.0)}
    from_plain = make_runner(sim, prices=plain).run(SUMMARIZE, out=tmp_path / "a.jsonl").report
    from_typed = make_runner(sim, prices=typed).run(SUMMARIZE, out=tmp_path / "b.jsonl").report
    assert from_plain.cost_standard > 0
    assert from_plain.cost_standard == pytest.approx(from_typed.cost_standard)
    assert from_plain.prices["claude-sonnet-4-5"] == Price(3.0, 15.0)
    assert "estimated cost: $" in from_plain.to_text()


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"claude-sonnet-4-5": {"input": 3.0}}, "prices['claude-sonnet-4-5']: missing 'output'"),
        ({"m": {"input": 3.0, "output": "15"}}, "prices['m']: 'output' must be a number >= 0"),
        ({"m": {"input": -1, "output": 1}}, "'input' must be a number >= 0"),
        ({"m": {"input": True, "output": 1}}, "'input' must be a number >= 0"),
        ({"m": {"input": 1, "output": 1, "cache_wirte": 1}}, "unknown price key(s) 'cache_wirte'"),
        ({"m": 3.0}, 'prices[\'m\']: expected an object like {"input": 3.0, "output": 15.0}'),
        ({"": Price(1.0, 1.0)}, "a model prefix must be a non-empty string"),
    ],
)
def test_a_bad_price_table_fails_when_the_runner_is_built(prices: Any, message: str) -> None:
    client = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0)  # nothing listens
    try:
        with pytest.raises(ValueError, match=re.escape(message)):
            BatchRunner(client, prices=prices, progress=Progress(None))
    finally:
        client.close()


@pytest.mark.server
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("root:x:0:0:root:/root:/bin/bash\n", " is not JSON (Expecting value: line 1 column 1 (char 0)): expected"),
        ("[1, 2]", " holds a JSON list: expected"),
        ('{"claude-sonnet-4-5": {"input": 3}}', ", model 'claude-sonnet-4-5': missing 'output'"),
    ],
    ids=["not-json", "not-an-object", "bad-entry"],
)
def test_a_prices_file_that_is_no_price_table_is_named(
    sim: ServerProcess, tmp_path: Path, main_in_process: Main, content: str, message: str
) -> None:
    prices = tmp_path / "passwd"
    prices.write_text(content)
    out = tmp_path / "o.jsonl"
    code, _, err = main_in_process("run", str(SUMMARIZE), "-o", str(out), "--prices", str(prices), env=cli_env(sim))
    assert code == 2
    assert err.startswith(f"batchclient: prices file {prices}{message}")
    if message.endswith("expected"):
        assert 'expected a JSON object like {"claude-sonnet-4-5": {"input": 3.0, "output": 15.0}}' in err
    assert len(err.strip().splitlines()) == 1
    assert _journal(sim) == []


def test_the_help_example_serves_a_clock_that_moves() -> None:
    """On the default virtual clock a batch never ends by itself: `batchclient run` would wait forever."""
    (serve,) = [line for line in _EPILOG.splitlines() if "batchsim serve" in line]
    words = shlex.split(serve, comments=True)
    assert words[words.index("--clock") + 1].startswith("scaled:")
    readme = (ROOT / "README.md").read_text()
    assert "batchsim serve --port 8000 --clock scaled:3600 &" in readme


@pytest.mark.server
def test_results_of_an_unfinished_job_say_where_it_stands(
    fresh_server: ServerProcess, tmp_path: Path, main_in_process: Main
) -> None:
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    args = ["run", str(SUMMARIZE), "-o", str(out), "--state", str(state), "--max-wait", "0.2", "-q", *FAST_POLL]
    assert main_in_process(*args, env=cli_env(fresh_server))[0] == 3  # virtual clock: still in progress

    code, stdout, err = main_in_process("results", str(state), env=cli_env(fresh_server))
    assert code == 3
    assert stdout == ""
    assert f"job {state} is not finished (round 0: 0 of 1 batch(es) ended when it last looked)" in err
    assert "0 of 20 requests" in err
    assert f"Run batchclient run {SUMMARIZE} -o {out} --state {state} again" in err

    fresh_server.advance(3600)
    assert main_in_process(*args, env=cli_env(fresh_server))[0] == 0
    results = tmp_path / "r.jsonl"
    code, stdout, err = main_in_process("results", str(state), "-o", str(results), env=cli_env(fresh_server))
    assert (code, stdout, err) == (0, "", "")
    assert len(read_jsonl(results)) == 20


@pytest.mark.server
@pytest.mark.parametrize("flag", ["-o", "--state", "--report-json"])
@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_an_unwritable_output_fails_before_anything_is_sent(
    sim: ServerProcess, tmp_path: Path, flag: str, where: str
) -> None:
    paths = {"-o": tmp_path / "out.jsonl", "--state": tmp_path / "job.json", "--report-json": tmp_path / "r.json"}
    (tmp_path / "file").write_text("")
    paths[flag] = tmp_path / "file" / "x.json" if where == "under-a-file" else tmp_path
    args = [arg for flag_path in paths.items() for arg in map(str, flag_path)]
    done = cli(sim, "run", str(SUMMARIZE), *args, *FAST_POLL)
    assert done.returncode == 2
    reason = f"{tmp_path / 'file'} is not a folder" if where == "under-a-file" else "it is a folder"
    assert done.stderr.strip() == f"batchclient: cannot write {flag} {paths[flag]}: {reason}"
    assert _journal(sim) == []
    assert not (tmp_path / "job.json").is_file() and not (tmp_path / "out.jsonl").exists()


@pytest.mark.server
def test_missing_folders_of_the_outputs_are_created(sim: ServerProcess, tmp_path: Path) -> None:
    out, report = tmp_path / "new" / "deeper" / "out.jsonl", tmp_path / "reports" / "r.json"
    done = cli(sim, "run", str(SUMMARIZE), "-o", str(out), "--state", str(tmp_path / "s" / "job.json"),
               "--report-json", str(report), "-q", *FAST_POLL)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(read_jsonl(out)) == 20
    assert json.loads(report.read_text())["counts"]["succeeded"] == 20


@pytest.mark.server
def test_a_state_file_of_another_server_says_so(
    fresh_server: ServerProcess, sim: ServerProcess, tmp_path: Path, main_in_process: Main
) -> None:
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    args = ["run", str(SUMMARIZE), "-o", str(out), "--state", str(state), "-q", *FAST_POLL]
    assert main_in_process(*args, "--max-wait", "0.2", env=cli_env(fresh_server))[0] == 3
    batch_id = json.loads(state.read_text())["chunks"][0]["batch_id"]

    for command in (args, ["status", str(state)], ["cancel", str(state)]):
        code, _, err = main_in_process(*command, env=cli_env(sim))  # another server
        assert code == 2, err
        assert err.startswith(f"batchclient: the job state {state} records batch {batch_id}, which {sim.url}")
        assert f"delete {state} to start over" in err
        assert "Error code: 404" not in err and len(err.strip().splitlines()) == 1

    state.unlink()
    code, report, err = main_in_process(*args, env=cli_env(sim))
    assert code == 0, err
    assert "20 succeeded" in report


HINT = "the server is batchsim on a virtual clock: nothing moves until you run `batchsim advance 1h`"


@pytest.mark.server
def test_a_virtual_clock_that_stands_still_gets_a_hint(fresh_server: ServerProcess, tmp_path: Path) -> None:
    """`make serve` (a virtual clock) then `batchclient run`: the batch never moves, and the user
    is told why, once."""
    out = tmp_path / "out.jsonl"
    done = cli(fresh_server, "run", str(SUMMARIZE), "-o", str(out), *FAST_POLL, "--max-wait", "3")
    assert done.returncode == 3, done.stderr
    assert done.stderr.count(HINT) == 1, done.stderr
    fresh_server.advance(3600)  # told to move: the job finishes, no hint this time
    again = cli(fresh_server, "run", str(SUMMARIZE), "-o", str(out), *FAST_POLL)
    assert again.returncode == 0, again.stderr
    assert HINT not in again.stderr


@pytest.mark.server
def test_no_hint_from_a_clock_that_moves_or_a_server_that_is_not_batchsim(sim: ServerProcess, tmp_path: Path) -> None:
    # 12 h before anything moves (0.4 s of wall time at this speed): polls see nothing move, ask,
    # and hear of a scaled clock.
    sim.control("PUT", "scenario", json={"timing": {"start_delay": 43_200}}).raise_for_status()
    done = cli(sim, "run", str(SUMMARIZE), "-o", str(tmp_path / "out.jsonl"), *FAST_POLL)
    assert done.returncode == 0, done.stderr
    assert "virtual clock" not in done.stderr
    # Production has no /_batchsim/ routes: there the question is answered "no" (a 404 here).
    elsewhere = anthropic.Anthropic(base_url=f"{sim.url}/elsewhere", api_key="k", max_retries=0)
    with elsewhere:
        assert BatchRunner(elsewhere, progress=Progress(None)).api.virtual_clock() is False
    with anthropic.Anthropic(base_url=sim.url, api_key="k") as here:
        assert BatchRunner(here, progress=Progress(None)).api.virtual_clock() is False  # scaled
