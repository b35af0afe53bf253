"""OpenAI's legacy SDK line (1.x, built on httpx), installed beside the current one by ``make
install`` (``.venv/legacy-openai``): its whole workflow against a real ``batchsim serve`` and in
process (``Emulator.openai_client()`` hands an httpx-based SDK an httpx client)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serverproc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / ".venv" / "legacy-openai"
SCRIPT = Path(__file__).parent / "legacy" / "drive_legacy_openai.py"
pytestmark = pytest.mark.skipif(
    not (LEGACY / "openai").is_dir(), reason="the legacy openai SDK is not installed: run `make install`"
)


def drive(where: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(LEGACY)}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), where], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    assert seen["version"] == "1.109.1"
    assert seen["http_client"] == "httpx"  # the SDK's own, not httpx2
    assert seen["file"] == ["batch", "processed", 7200]
    assert seen["processed"] == "processed"
    assert seen["created"] == "validating"
    assert seen["listed"] is True
    assert seen["canceled"] == "cancelling"
    assert seen["404"] == [404, "No batch found with id 'batch_missing'."]
    assert seen["deleted"] is True
    return seen


@pytest.mark.server
def test_the_legacy_sdk_against_the_server(fresh_server: ServerProcess) -> None:
    seen = drive(fresh_server.url)
    assert seen["ended"] == ["completed", 3]
    assert (seen["output"], seen["errors"]) == (["legacy-0", "legacy-1", "legacy-2"], [])
    assert seen["files"] == ["batch", "batch_output"]
    calls = fresh_server.control("GET", "journal").json()["calls"]
    assert all(c["headers"]["x-stainless-package-version"] == "1.109.1" for c in calls)
    assert all("anthropic-version" not in c["headers"] for c in calls)


def test_the_legacy_sdk_in_process() -> None:
    seen = drive("inprocess")
    assert seen["ended"] == ["completed", 3]
    assert (seen["output"], seen["errors"]) == (["legacy-0", "legacy-2"], ["legacy-1"])
    assert seen["files"] == ["batch", "batch_output", "batch_output"]
