"""google-genai 1.x (httpx-based, ``v1beta``, installed beside the current SDK by ``make install``):
it maps neither ``BATCH_STATE_RUNNING`` nor ``BATCH_STATE_EXPIRED`` and warns about them on every
poll, as users of that release saw; everything else works over HTTP and in process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serverproc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / ".venv" / "legacy-genai"
SCRIPT = Path(__file__).parent / "legacy" / "drive_genai1.py"
installed = pytest.mark.skipif(not (LEGACY / "google" / "genai").is_dir(), reason="run `make install`")


def _drive(target: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LEGACY), str(ROOT)])}
    env.pop("GOOGLE_API_KEY", None)
    done = subprocess.run([sys.executable, str(SCRIPT), target], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout)
    assert str(seen["version"]).startswith("1.")
    return seen


def _check(seen: dict[str, object]) -> None:
    assert seen["created"] == "JOB_STATE_PENDING"
    assert seen["running"] == "BATCH_STATE_RUNNING"  # 1.x leaves the wire name as it is
    assert seen["done"] == "JOB_STATE_SUCCEEDED"
    assert seen["texts"] == ["Simulated reply to 0: Question 0", "Simulated reply to 1: Question 1"]
    assert seen["download"] == "a" and seen["listed"] is True
    assert seen["warnings"] == ["BATCH_STATE_RUNNING is not a valid JobState"]


@installed
@pytest.mark.server
def test_genai_1x_over_http(fresh_server: ServerProcess) -> None:
    fresh_server.control(
        "PUT", "scenario", json={"timing": {"start_delay": 0, "per_request": 60, "concurrency": 1}}
    ).raise_for_status()
    _check(_drive(fresh_server.url))
    calls = fresh_server.control("GET", "journal").json()["calls"]
    assert {c["path"].split("/")[1] for c in calls if c["path"].startswith("/v")} == {"v1beta"}


@installed
def test_genai_1x_in_process() -> None:
    _check(_drive("--in-process"))
