"""Fixtures for the thin client's tests: real ``batchsim serve`` processes on 127.0.0.1, the
real SDK over real HTTP, and helpers to read the emulator's journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from serverproc import ServerProcess, running_server

ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = ROOT / "client"
SCENARIOS = ROOT / "fixtures" / "scenarios"
SUMMARIZE = ROOT / "fixtures" / "requests" / "summarize.jsonl"
"""The sample job of the README: 20 requests."""
# The client package lives under client/; make it importable however the project is installed.
if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))

from batchclient import BatchRunner, Progress, RetryPolicy  # noqa: E402
from batchclient._cli import main  # noqa: E402

FAST_RETRIES = RetryPolicy(attempts=10, base=0.01, cap=0.1)
SCALE = "scaled:100000"  # 24 h of emulator time in under a second


@pytest.fixture(scope="session")
def scaled_server() -> Iterator[ServerProcess]:
    """One ``batchsim serve --clock scaled:100000`` shared by the client tests (reset per test)."""
    with running_server("--clock", SCALE) as proc:
        yield proc


@pytest.fixture
def sim(scaled_server: ServerProcess) -> ServerProcess:
    scaled_server.control("POST", "reset").raise_for_status()
    scaled_server.control("PUT", "scenario", json={}).raise_for_status()
    scaled_server.control("DELETE", "journal").raise_for_status()
    return scaled_server


def scenario(name: str) -> dict[str, Any]:
    """A scenario file of fixtures/scenarios as the JSON ``PUT /_batchsim/scenario`` takes."""
    return tomllib.loads((SCENARIOS / name).read_text())


_open_clients: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def client_for(server: ServerProcess, **kwargs: Any) -> anthropic.Anthropic:
    """An SDK client for ``server``, closed at the end of the test."""
    client = anthropic.Anthropic(base_url=server.url, api_key="test-key", **kwargs)
    _open_clients.append(client)
    return client


def make_runner(server: ServerProcess, **kwargs: Any) -> BatchRunner:
    options: dict[str, Any] = {
        "poll_interval": 0.02,
        "max_poll_interval": 0.2,
        "retry_policy": FAST_RETRIES,
        "progress": Progress(None),
    }
    options.update(kwargs)
    return BatchRunner(client_for(server), **options)


def requests_for(ids: list[str], **params: Any) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Summarize: the quarterly report shows steady growth."}],
    }
    return [{"custom_id": cid, "params": {**base, **params}} for cid in ids]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def created_ids(server: ServerProcess) -> Counter[str]:
    """How many times each custom_id was in a create the emulator accepted (journal)."""
    calls = server.control("GET", "journal").json()["calls"]
    counts: Counter[str] = Counter()
    for call in calls:
        if call["endpoint"] == "create" and call["status"] == 200:
            assert not call["body_truncated"], "keep test batches small enough for the journal"
            counts.update(r["custom_id"] for r in json.loads(call["body"])["requests"])
    return counts


def listed_batches(server: ServerProcess) -> set[str]:
    client = client_for(server)
    return {b.id for b in client.messages.batches.list(limit=1000)}


def cli_env(server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY="test-key",
        PYTHONPATH=os.pathsep.join(filter(None, [str(CLIENT_DIR), env.get("PYTHONPATH")])),
    )
    return env


def cli(server: ServerProcess, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchclient", *args],
        env=cli_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


FAST_POLL = ["--poll-interval", "0.02", "--max-poll-interval", "0.2"]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def main_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """Run ``batchclient.main(args)`` in this process with ``env`` as the environment."""

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for key in [k for k in os.environ if k.startswith("ANTHROPIC_")]:
            monkeypatch.delenv(key)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # --help
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
