"""``batchsim drift`` finds no difference between two emulators, names each difference planted in a
deliberately altered stand-in, and never leaves a batch behind on the upstream."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from batchsim import Emulator
from batchsim._pytest.server import SessionServer

from .conftest import UPSTREAM_KEY, upstream, write_scenario

pytestmark = pytest.mark.server

PREFIX = "/v1/messages/batches"
SLOW_START = """
[timing]
start_delay = 3.0
per_request = 0.5
[[faults]]
endpoint = "create"
status = 429
times = 1
retry_after_ms = 10
"""


def drift(upstream_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANTHROPIC_API_KEY": UPSTREAM_KEY}
    cmd = [sys.executable, "-m", "batchsim", "drift", "--upstream", upstream_url, "--poll", "0.2", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def leftover_batches(url: str) -> list[Any]:
    answer = httpx2.get(f"{url}{PREFIX}", headers={"x-api-key": UPSTREAM_KEY}, timeout=30)
    assert answer.status_code == 200
    return list(answer.json()["data"])


def test_two_emulators_show_no_difference(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "slow-start.toml", SLOW_START)
    with upstream("--clock", "real", "--scenario", str(scenario)) as real:
        run = drift(real.url)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "no differences" in run.stdout
        assert leftover_batches(real.url) == []


def test_a_batch_running_too_long_is_canceled_and_deleted(tmp_path: Path) -> None:
    # A cancel takes 2 s to end it: the cancel answers "canceling" on both sides, as a real one does.
    scenario = write_scenario(tmp_path, "slow.toml", "[timing]\nstart_delay = 3600.0\ncancel_delay = 2.0\n")
    with upstream("--clock", "real", "--scenario", str(scenario)) as real:
        run = drift(real.url, "--json", "--max-wait", "0.5")
        report = orjson.loads(run.stdout)
        assert run.returncode == 0, run.stdout + run.stderr
        assert report["differences"] == []
        assert "canceled" in report["notes"][0]
        assert leftover_batches(real.url) == []


class Altered:
    """The emulator with three planted differences: retrieve answers say ``status`` instead of
    ``processing_status``; deleting a batch that has not ended answers 409 instead of 400; list
    answers carry no ``request-id`` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/results"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            data = b"".join(body)
            status, headers = start["status"], list(start.get("headers", []))
            if method == "GET" and path.startswith(PREFIX + "/"):
                data = data.replace(b'"processing_status"', b'"status"')
            if method == "DELETE" and status == 400:
                status = 409
            if method == "GET" and path == PREFIX:
                headers = [(k, v) for k, v in headers if k.lower() != b"request-id"]
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", b"%d" % len(data)))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, capture)


@pytest.fixture
def stand_in() -> Iterator[str]:
    sim = Emulator({"timing": {"start_delay": 3.0, "per_request": 0.5}}, clock="real")
    server = SessionServer()
    server.target = Altered(sim.app)
    try:
        yield server.url
    finally:
        server.close()


def test_each_planted_difference_is_named(stand_in: str) -> None:
    run = drift(stand_in, "--json", "--max-wait", "60")
    assert run.returncode == 1, run.stdout + run.stderr
    found = {(d["step"], d["where"], d["upstream"], d["local"]) for d in orjson.loads(run.stdout)["differences"]}
    assert ("retrieve (in progress)", "$.processing_status", "missing", "string 'in_progress'") in found
    assert ("retrieve (in progress)", "$.status", "string", "missing") in found
    assert ("delete before the end (wrong state)", "status", "409", "400") in found
    assert ("list", "header request-id", "absent", "present") in found
    # Nothing else differs: every difference comes from one of the three changes.
    assert {d[0] for d in found} <= {
        "retrieve (in progress)",
        "retrieve (ended)",
        "delete before the end (wrong state)",
        "list",
        "list with limit=0 (bad input)",
        "list after an unknown id (bad input)",
    }
    assert leftover_batches_in(stand_in) == []

    text = drift(stand_in, "--max-wait", "60")
    assert text.returncode == 1
    assert re.search(r"^delete before the end \(wrong state\) +status +409 +400$", text.stdout, re.MULTILINE)


def leftover_batches_in(url: str) -> list[Any]:
    answer = httpx2.get(f"{url}{PREFIX}", headers={"x-api-key": UPSTREAM_KEY}, timeout=30)
    return list(answer.json()["data"])


def test_without_a_key_it_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    run = subprocess.run(
        [sys.executable, "-m", "batchsim", "drift", "--upstream", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == "batchsim drift: set ANTHROPIC_API_KEY to the upstream's key"
