"""The public surface is consistent: times as datetimes, read-only batch views, no silent
options, and cheap imports."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from batchsim import Emulator, Scenario
from batchsim._engine.clock import LATEST, MAX_SCALE, ScaledClock

from .conftest import make_requests


def test_advance_returns_the_new_time_as_now_does() -> None:
    sim = Emulator()
    moved = sim.advance(minutes=5)
    assert moved == sim.now() == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_batches_are_read_only_views() -> None:
    sim = Emulator(Scenario.of(timing={"per_request": 1}))
    client = sim.client()
    batch = client.messages.batches.create(requests=make_requests(3))  # type: ignore[arg-type]
    (view,) = sim.batches()
    assert view.id == batch.id
    assert view.processing_status == "in_progress"
    assert view.custom_ids == ("req-0", "req-1", "req-2")
    assert not hasattr(view, "cancel")
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.processing_status = "ended"  # type: ignore[misc]
    sim.advance(minutes=1)
    (ended,) = sim.batches()
    assert ended.processing_status == "ended"
    assert ended.request_counts["succeeded"] == 3
    assert ended.ended_at is not None and ended.ended_at <= sim.now()
    assert view.processing_status == "in_progress"  # a view does not change


@pytest.mark.parametrize("clock", ["real", "scaled:10"])
def test_a_start_that_cannot_apply_is_an_error(clock: str) -> None:
    with pytest.raises(ValueError, match="virtual clock only"):
        Emulator(clock=clock, start=0)


@pytest.mark.parametrize("spec", ["scaled:1e300", "scaled:1e12", f"scaled:{MAX_SCALE + 1}"])
def test_a_scaled_clock_has_an_upper_bound(spec: str) -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_SCALE}"):
        Emulator(clock=spec)


def test_the_fastest_scaled_clock_stays_in_range() -> None:
    sim = Emulator(clock=f"scaled:{MAX_SCALE}")
    # Started now, it reaches the end of its range only after weeks of wall time...
    assert (LATEST - sim.clock.now()) / MAX_SCALE > 20 * 86_400
    # ... and once there it stops: every timestamp still has a four-digit year.
    clock = sim.clock
    assert isinstance(clock, ScaledClock)
    clock._origin_wall = LATEST
    batch = sim.client().messages.batches.create(requests=make_requests(1))  # type: ignore[arg-type]
    assert clock.now() == LATEST
    assert batch.created_at.year == 9024


def test_two_emulators_in_one_process_are_independent() -> None:
    one, two = Emulator(Scenario(seed=1)), Emulator(Scenario(seed=1))
    first = one.client().messages.batches.create(requests=make_requests(2))  # type: ignore[arg-type]
    second = two.client().messages.batches.create(requests=make_requests(2))  # type: ignore[arg-type]
    assert first.id == second.id  # the same seed, the same ids: nothing shared between them
    one.advance(hours=1)
    assert two.now() < one.now()
    assert [b.processing_status for b in one.batches()] == ["ended"]
    assert [b.processing_status for b in two.batches()] == ["in_progress"]
    assert len(one.calls) == 1 and len(two.calls) == 1


@pytest.mark.parametrize(
    "module", ["batchsim", "batchsim.pytest_plugin", "batchsim._serve.cli", "batchsim._serve.server"]
)
def test_importing_does_not_import_the_sdk(module: str) -> None:
    sdks = ("anthropic", "httpx2", "openai", "google.genai")
    code = f"import sys, {module}; print([m in sys.modules for m in {sdks!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[False, False, False, False]"


SERVE_OPENAI = """
import asyncio, json, sys
from batchsim._serve import cli, server
from batchsim import Emulator
from batchsim._http.inprocess import call_app

class URL:
    scheme, host, port, query = "http", "127.0.0.1", 8000, b""
    def __init__(self, path):
        self.path, self.raw_path = path, path.encode()

async def main():
    app = Emulator().app
    key = [(b"authorization", b"Bearer k")]
    form = (b'--b\\r\\ncontent-disposition: form-data; name="purpose"\\r\\n\\r\\nbatch\\r\\n--b\\r\\n'
            b'content-disposition: form-data; name="file"; filename="a.jsonl"\\r\\n\\r\\n'
            b'{"custom_id": "a"}\\r\\n--b--\\r\\n')
    multipart = (b"content-type", b"multipart/form-data; boundary=b")
    status, _, body = await call_app(app, "POST", URL("/v1/files"), [*key, multipart], form)
    assert status == 200, body
    file_id = json.loads(body)["id"]
    create = json.dumps({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"})
    status, _, body = await call_app(app, "POST", URL("/v1/batches"), key, create.encode())
    assert status == 200, body
    status, _, _ = await call_app(app, "GET", URL("/v1/files/" + file_id + "/content"), key, b"")
    assert status == 200

asyncio.run(main())
print([m in sys.modules for m in ("anthropic", "httpx2", "openai")])
"""


def test_serving_openai_calls_does_not_import_the_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", SERVE_OPENAI], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[False, False, False]"
