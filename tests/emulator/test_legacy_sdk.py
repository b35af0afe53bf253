"""The legacy SDK generation (0.x on httpx, ``X-Api-Key``, ``?beta=true``) against ``batchsim serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serverproc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / ".venv" / "legacy-sdk"
SCRIPT = Path(__file__).parent / "legacy" / "drive_legacy_sdk.py"


@pytest.mark.server
@pytest.mark.skipif(not (LEGACY / "anthropic").is_dir(), reason="legacy SDK not installed: run `make install`")
def test_legacy_sdk_against_the_server(fresh_server: ServerProcess) -> None:
    env = {**os.environ, "PYTHONPATH": str(LEGACY)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), fresh_server.url], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["version"].startswith("0.")
    for name in ("ga", "beta"):
        assert seen[f"{name}_created"] == "in_progress"
        assert seen[f"{name}_ended"] == "ended"
        assert seen[f"{name}_results"] == ["legacy-0", "legacy-1", "legacy-2"]
        assert seen[f"{name}_listed"] is True
        assert seen[f"{name}_deleted"] == "message_batch_deleted"
        assert seen[f"{name}_canceled"] in ("canceling", "ended")
        assert seen[f"{name}_404"] == 404
    # The legacy SDK really spoke its dialect: X-Api-Key, 2023-06-01 and ?beta=true on beta calls.
    calls = fresh_server.control("GET", "journal").json()["calls"]
    assert all(c["headers"].get("x-api-key") == "\u2026key" for c in calls)  # "legacy-key", redacted
    assert all(c["headers"].get("anthropic-version") == "2023-06-01" for c in calls)
    assert any("beta=true" in c["query"] for c in calls)
    assert any("message-batches-2024-09-24" in c["headers"].get("anthropic-beta", "") for c in calls)
