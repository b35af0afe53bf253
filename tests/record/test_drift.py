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


def test_a_fast_upstream_is_compared_correctly() -> None:
    """Against ``--clock scaled:3600`` the batch ends within milliseconds: drift compares what it
    can, says what it skipped, and neither reports false differences nor leaves a batch."""
    with upstream("--clock", "scaled:3600") as fast:
        run = drift(fast.url, "--max-wait", "60")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "no differences" in run.stdout
        assert "did not end" not in run.stdout
        assert leftover_batches(fast.url) == []


class Rewriting:
    """An upstream stand-in: ``app`` with each answer passed through ``rewrite(method, path,
    query, status, headers, body)``; every call's method and path is kept in ``calls``."""

    def __init__(self, app: Any, rewrite: Any = None, after: Any = None) -> None:
        self.app = app
        self.rewrite = rewrite
        self.after = after
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.calls.append((method, path))
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status, headers, data = start["status"], list(start.get("headers", [])), b"".join(body)
            if self.rewrite is not None:
                query = scope["query_string"].decode()
                status, headers, data = self.rewrite(method, path, query, status, headers, data)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", b"%d" % len(data)))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, capture)
        if self.after is not None:
            self.after(method, path)


@pytest.fixture
def serving() -> Iterator[SessionServer]:
    server = SessionServer()
    try:
        yield server
    finally:
        server.close()


def test_a_batch_ending_between_the_probes_is_not_deleted_unnoticed(serving: SessionServer) -> None:
    """The batch ends between the in-progress retrieve and the delete probe (this stand-in moves
    its clock a minute after each retrieve): the probe deletes it, drift says so and goes on
    with a new batch."""
    sim = Emulator()

    def after(method: str, path: str) -> None:
        if method == "GET" and path.startswith(PREFIX + "/") and not path.endswith("/results"):
            sim.advance(60)

    serving.target = Rewriting(sim.app, after=after)
    run = drift(serving.url, "--json", "--max-wait", "60")
    assert run.returncode == 0, run.stdout + run.stderr
    report = orjson.loads(run.stdout)
    assert report["differences"] == []
    assert any("before the delete probe, which deleted it" in note for note in report["notes"])
    assert leftover_batches_in(serving.url) == []


def deep_member(levels: int) -> bytes:
    return b',"deep":' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize("levels", [1000, 2000])
def test_an_upstream_sending_what_no_api_should_is_a_difference_not_a_traceback(
    serving: SessionServer, levels: int
) -> None:
    """Deep JSON in the create answer (2,000 levels: more than can be parsed), a control
    character in a JSON key, a results line that is not JSON, a list answer that is not gzip:
    each is a difference; the batch is still deleted."""
    sim = Emulator({"timing": {"start_delay": 3.0, "per_request": 0.5}}, clock="real")

    def rewrite(method: str, path: str, query: str, status: int, headers: Any, body: bytes) -> Any:
        if method == "POST" and path == PREFIX:
            body = body[:-1] + deep_member(levels)
        elif method == "GET" and path.startswith(PREFIX + "/") and path.count("/") == 4 and status == 200:
            body = body[:-1] + b',"\\u001b[31mred":1}'
        elif path.endswith("/results") and status == 200:
            body += b"{not json\n"
        elif method == "GET" and path == PREFIX and query == "limit=1":
            headers = [*headers, (b"content-encoding", b"gzip")]
        return status, headers, body

    serving.target = Rewriting(sim.app, rewrite)
    run = drift(serving.url, "--max-wait", "60")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "\x1b" not in run.stdout and "\\x1b[31mred" in run.stdout
    assert re.search(r"^results +lines that are not JSON +1 +missing$", run.stdout, re.MULTILINE), run.stdout
    assert re.search(r"^list +status +no answer +200$", run.stdout, re.MULTILINE), run.stdout
    deep_create = r"body +not JSON" if levels > 1024 else r"\$\.deep +array +missing"
    assert re.search(rf"^create +{deep_create}", run.stdout, re.MULTILINE), run.stdout
    assert leftover_batches_in(serving.url) == []


def test_an_upstream_id_that_is_not_one_never_reaches_a_path(serving: SessionServer) -> None:
    sim = Emulator()

    def rewrite(method: str, path: str, query: str, status: int, headers: Any, body: bytes) -> Any:
        if method == "POST" and path == PREFIX:
            data = orjson.loads(body)
            body = orjson.dumps({**data, "id": "../../v1/keys/evil"})
        return status, headers, body

    stand_in = Rewriting(sim.app, rewrite)
    serving.target = stand_in
    run = drift(serving.url, "--max-wait", "60")
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("batchsim drift: the upstream answered a batch id drift will not put in a URL")
    assert "'../../v1/keys/evil'" in line
    assert [call for call in stand_in.calls if call[0] != "GET" or "evil" in call[1]] == [("POST", PREFIX)]


def test_an_unreachable_upstream_is_one_line_without_none() -> None:
    env = {**os.environ, "ANTHROPIC_API_KEY": UPSTREAM_KEY}
    run = subprocess.run(
        [sys.executable, "-m", "batchsim", "drift", "--upstream", "http://127.0.0.1:9", "--poll", "0.2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("batchsim drift: the upstream create failed: no answer (ConnectError"), line
    assert "None" not in line
