"""``batchsim advance|reset|scenario|journal|status`` against a real ``batchsim serve`` process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import pytest
from serverproc import ServerProcess, running_server

from batchsim._serve.control_cli import parse_duration

from .conftest import requests_body, sdk

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]


def batchsim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("BATCHSIM_")}
    return subprocess.run(
        [sys.executable, "-m", "batchsim", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        check=False,
    )


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    done = batchsim(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchsim: "), done.stderr
    return lines[0]


@pytest.fixture
def cli_server(fresh_server: ServerProcess) -> ServerProcess:
    return fresh_server


def test_advance_moves_the_clock_and_a_batch_ends(cli_server: ServerProcess) -> None:
    client = sdk(cli_server)
    batch = client.messages.batches.create(requests=requests_body(3))  # type: ignore[arg-type]
    out = ok("advance", "1h30m", "--url", cli_server.url)
    assert out == "clock: 2026-01-01T01:30:00.000000Z (virtual)\n"
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    # the URL from the environment
    ok("advance", "30m", env={"BATCHSIM_URL": cli_server.url})
    assert cli_server.control("GET", "clock").json()["now"].startswith("2026-01-01T02:00:00")


def test_status_shows_every_batch_as_a_table(cli_server: ServerProcess) -> None:
    a = sdk(cli_server, "key-aaaa-1111").messages.batches.create(requests=requests_body(2))  # type: ignore[arg-type]
    ok("advance", "1h", "--url", cli_server.url)
    b = sdk(cli_server, "key-bbbb-2222").messages.batches.create(requests=requests_body(5))  # type: ignore[arg-type]
    out = ok("status", "--url", cli_server.url)
    lines = out.splitlines()
    assert lines[0] == "clock: 2026-01-01T01:00:00.000000Z (virtual)"
    assert lines[1].split()[:4] == ["batch", "key", "status", "requests"]
    assert lines[2].split()[:9] == [b.id, "\u20262222", "in_progress", "5", "5", "0", "0", "0", "0"]
    assert lines[3].split()[:9] == [a.id, "\u20261111", "ended", "2", "0", "2", "0", "0", "0"]
    assert lines[-1] == "2 batch(es): 1 in_progress, 0 canceling, 1 ended"
    assert "key-aaaa-1111" not in out
    ended = json.loads(ok("status", "--status", "ended", "--json", "--url", cli_server.url))
    assert [row["id"] for row in ended["data"]] == [a.id]


def test_reset_and_scenario_show_set(cli_server: ServerProcess, tmp_path: Path) -> None:
    sdk(cli_server).messages.batches.create(requests=requests_body(1))  # type: ignore[arg-type]
    ok("advance", "5m", "--url", cli_server.url)
    scenario = tmp_path / "s.toml"
    scenario.write_text("seed = 11\n[timing]\nper_request = 5.0\nconcurrency = 3\n")
    assert ok("scenario", "set", str(scenario), "--url", cli_server.url).startswith(f"scenario set from {scenario}")
    shown = json.loads(ok("scenario", "show", "--url", cli_server.url))
    assert shown["seed"] == 11 and shown["timing"]["concurrency"] == 3
    assert ok("reset", "--url", cli_server.url).endswith("clock at 2026-01-01T00:00:00.000000Z\n")
    assert cli_server.control("GET", "batches").json()["total"] == 0
    assert json.loads(ok("scenario", "show", "--url", cli_server.url))["seed"] != 11


def test_scenario_check_needs_no_server(tmp_path: Path) -> None:
    out = ok("scenario", "check", str(ROOT / "batchsim" / "scenarios" / "flaky.toml"))
    assert ok("scenario", "check", "flaky") == out.replace(str(ROOT / "batchsim" / "scenarios" / "flaky.toml"), "flaky")
    assert out.endswith("ok (seed 7, 20 s per request, 50 at a time, 1 rule, 2 faults)\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("[timing]\nconcurrency = 0\n")
    assert "concurrency" in one_line_error(batchsim("scenario", "check", str(bad)))
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"timming": {}}')
    assert "timming" in one_line_error(batchsim("scenario", "check", str(unknown)))
    assert "no such file" in one_line_error(batchsim("scenario", "check", str(tmp_path / "none.toml")))


def test_journal_table_and_json(cli_server: ServerProcess) -> None:
    cli_server.control(
        "PUT", "scenario", json={"faults": [{"endpoint": "retrieve", "status": 529, "times": 1}]}
    ).raise_for_status()
    client = sdk(cli_server, "journal-key-7777")
    batch = client.messages.batches.create(requests=requests_body(1))  # type: ignore[arg-type]
    with pytest.raises(anthropic.InternalServerError, match=r"Overloaded"):
        client.messages.batches.retrieve(batch.id)
    client.messages.batches.retrieve(batch.id)
    table = ok("journal", "--url", cli_server.url).splitlines()
    assert table[0].split() == ["time", "method", "path", "status", "endpoint", "key", "fault"]
    assert [line.split()[4] for line in table[1:-1]] == ["retrieve", "retrieve", "create"]
    assert table[2].split()[-2:] == ["status", "529"]
    assert table[-1] == "3 call(s)"
    rows = [
        json.loads(line)
        for line in ok("journal", "--endpoint", "create", "--json", "--url", cli_server.url).splitlines()
    ]
    assert [(r["endpoint"], r["status"], r["key"]) for r in rows] == [("create", 200, "\u20267777")]
    faults = [json.loads(line) for line in ok("journal", "--faults", "--json", "--url", cli_server.url).splitlines()]
    assert [r["fault"] for r in faults] == ["status 529"]


def test_errors_are_one_line(cli_server: ServerProcess) -> None:
    refused = one_line_error(batchsim("status", "--url", "http://127.0.0.1:9"))
    assert "cannot reach http://127.0.0.1:9" in refused
    assert "seconds" in one_line_error(batchsim("advance", "soon", "--url", cli_server.url), 2)
    negative = one_line_error(batchsim("advance", "-5", "--url", cli_server.url), 2)
    assert "not a duration" in negative


@pytest.fixture(scope="module")
def locked() -> Iterator[ServerProcess]:
    with running_server("--admin-token", "cli-t0ken", "--clock", "real") as proc:
        yield proc


def test_the_admin_token_and_a_clock_that_cannot_be_advanced(locked: ServerProcess) -> None:
    refused = one_line_error(batchsim("status", "--url", locked.url))
    assert "401" in refused and "--admin-token" in refused
    assert "(real)" in ok("status", "--url", locked.url, "--admin-token", "cli-t0ken").splitlines()[0]
    assert ok("status", env={"BATCHSIM_URL": locked.url, "BATCHSIM_ADMIN_TOKEN": "cli-t0ken"})
    message = one_line_error(batchsim("advance", "1h", "--url", locked.url, "--admin-token", "cli-t0ken"))
    assert "only a virtual clock can be advanced" in message


def test_versions() -> None:
    assert ok("--version").startswith("batchsim ")
    done = subprocess.run(
        [sys.executable, "-m", "batchclient", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith("batchclient ")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("0.5h", 1800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_scenario_set_sends_a_local_canned_file_inline(cli_server: ServerProcess, tmp_path: Path) -> None:
    """The server reads files only from its own data folder: `scenario set` sends the canned lines
    of a local file (a recorded cassette's scenario names one) as the lines themselves."""
    (tmp_path / "canned.jsonl").write_text(json.dumps({"custom_id": "r-0", "result": {"type": "canceled"}}) + "\n")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('seed = 3\ncanned = "canned.jsonl"\n')
    ok("scenario", "set", str(scenario), "--url", cli_server.url)
    shown = json.loads(ok("scenario", "show", "--url", cli_server.url))
    assert shown["canned"] == [{"custom_id": "r-0", "result": {"type": "canceled"}}]
    client = sdk(cli_server)
    batch = client.messages.batches.create(requests=requests_body(2))  # type: ignore[arg-type]
    cli_server.advance(3600)
    results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert results == {"r-0": "canceled", "r-1": "succeeded"}
    scenario.write_text('seed = 3\ncanned = "missing.jsonl"\n')
    assert "missing.jsonl" in one_line_error(batchsim("scenario", "set", str(scenario), "--url", cli_server.url))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["journal", "--status", "7xx"], "batchsim journal: --status: '7xx': expected a status such as 429"),
        (["journal", "--endpoint", "bogus"], "batchsim journal: --endpoint: invalid choice: 'bogus'"),
        (["journal", "--limit", "0"], "batchsim journal: --limit: '0': expected a whole number >= 1"),
        (["status", "--url", "127.0.0.1:8000"], "batchsim status: --url: '127.0.0.1:8000': expected a URL such as"),
        (["scenario", "set"], "batchsim scenario set: the following arguments are required: file"),
        (["advance"], "batchsim advance: the following arguments are required: duration"),
        (["drift", "--poll", "0"], "batchsim drift: --poll: expected a number of seconds > 0; got '0'"),
        (["drift", "--max-wait", "soon"], "batchsim drift: --max-wait: expected a number of seconds > 0"),
        (["drift", "--timeout", "0"], "batchsim drift: --timeout: expected a number of seconds > 0; got '0'"),
        (["drift", "--provider", "bedrock"], "batchsim drift: --provider: invalid choice: 'bedrock'"),
        (["record"], "batchsim record: the following arguments are required: --out"),
        (["record", "--provider", "x", "--out", "c"], "batchsim record: --provider: invalid choice: 'x'"),
        (["nonsense"], "batchsim: command: invalid choice: 'nonsense'"),
    ],
)
def test_usage_mistakes_exit_2_naming_the_option(args: list[str], says: str) -> None:
    done = batchsim(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()  # one line: no usage block
    assert line.startswith(says), done.stderr


def test_a_closed_pipe_is_no_error(cli_server: ServerProcess) -> None:
    client = sdk(cli_server)
    batch = client.messages.batches.create(requests=requests_body(1))  # type: ignore[arg-type]
    for _ in range(400):  # more journal lines than a pipe holds
        client.messages.batches.retrieve(batch.id)
    pipeline = subprocess.run(
        f"{sys.executable} -m batchsim journal --json --limit 1000 --url {cli_server.url} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pipeline.stdout == "{"
    assert "Traceback" not in pipeline.stderr and "Broken pipe" not in pipeline.stderr


def test_what_clients_sent_is_printed_with_control_characters_escaped(cli_server: ServerProcess) -> None:
    """A client's ``%1B`` path (or key) must not reach the terminal as a raw ESC."""
    evil_key = b"key-ab\x85\x9b"  # C1 controls: bytes HTTP allows in a header (latin-1)
    batches = f"{cli_server.url}/v1/messages/batches"
    httpx2.get(f"{batches}/%1B[31mred%E2%80%AE", headers={"x-api-key": "k"}, timeout=30)
    created = httpx2.post(batches, headers={"x-api-key": evil_key}, json={"requests": requests_body(1)}, timeout=30)
    assert created.status_code == 200
    for args in (["journal"], ["journal", "--json"], ["status"], ["status", "--json"]):
        out = ok(*args, "--url", cli_server.url)
        assert not any(ch in out for ch in "\x1b\x85\x9b\u202e"), (args, out)
    journal = ok("journal", "--url", cli_server.url)
    assert "/v1/messages/batches/\\x1b[31mred\\u202e" in journal
    assert "\u2026\\x85\\x9b" in ok("status", "--url", cli_server.url)  # the key's tail
