"""``batchsim drift`` against an upstream that answers what no API should, for each provider: bad
JSON, an answer cut short, an endless answer, one that trickles in. Each is bounded and reported in
one line (exit 2, no traceback): the comparison cannot start without the upstream's first object."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from batchsim._http.connection import DroppedConnectionError
from batchsim._pytest.server import SessionServer

pytestmark = pytest.mark.server

KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
# What each provider's script makes first: the object drift cannot go on without.
FIRST = {"anthropic": "create", "openai": "file upload", "gemini": "create"}


class Hostile:
    """An upstream stand-in answering every call the same hostile way (``kind``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.calls += 1
        json = [(b"content-type", b"application/json")]
        if self.kind == "garbage":
            body = b'{"id": "msgbatch_\x1b[31m'
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*json, (b"content-length", b"%d" % len(body))],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif self.kind == "truncated":
            await send({"type": "http.response.start", "status": 200, "headers": [*json, (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"id": "batch_', "more_body": True})
            raise DroppedConnectionError("cut short")
        elif self.kind == "endless":
            await send({"type": "http.response.start", "status": 200, "headers": json})
            await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
            chunk = b"x" * (1 << 20)
            for _ in range(64):  # 64 MiB, past what drift reads of one answer
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b'"}'})
        else:  # a trickle: one byte every 0.2 s, for longer than drift's --timeout
            await send({"type": "http.response.start", "status": 200, "headers": json})
            for byte in b'{"id": "batch_0123456789abcdefghij"}':
                await send({"type": "http.response.body", "body": bytes([byte]), "more_body": True})
                await asyncio.sleep(0.2)
            await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def serving() -> Iterator[SessionServer]:
    server = SessionServer()
    try:
        yield server
    finally:
        server.close()


def drift(provider: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (*KEYS.values(), "GOOGLE_API_KEY")}
    env[KEYS[provider]] = "sk-hostile-drift"
    cmd = [sys.executable, "-m", "batchsim", "drift", "--provider", provider, "--upstream", url, "--poll", "0.2"]
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("garbage", "200 {"),
        ("truncated", "no answer (RemoteProtocolError"),
        ("endless", "no answer (an answer of more than 16777216 bytes)"),
    ],
)
def test_a_hostile_answer_is_one_line(serving: SessionServer, provider: str, kind: str, said: str) -> None:
    serving.target = Hostile(kind)
    run = drift(provider, serving.url)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"batchsim drift: the upstream {FIRST[provider]} failed: {said}"), line
    assert "\x1b" not in line


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_slow_answer_is_cut_at_the_timeout(serving: SessionServer, provider: str) -> None:
    hostile = Hostile("trickle")
    serving.target = hostile
    run = drift(provider, serving.url, "--timeout", "1")
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    said = "no answer (an answer still coming after 1 s)"
    assert line == f"batchsim drift: the upstream {FIRST[provider]} failed: {said}", line
    assert hostile.calls == 1  # not retried: a slow upstream is reported, not waited for again
