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


AROUND = Path(__file__).parent / "legacy" / "drive_around_batches.py"


def _drive_around(target: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(LEGACY)}
    done = subprocess.run([sys.executable, str(AROUND), target], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout)
    assert str(seen["version"]).startswith("0.")
    return seen


def _check_sync(seen: object) -> None:
    assert isinstance(seen, dict)
    assert isinstance(seen["tokens"], int) and seen["tokens"] > 0
    assert seen["empty_text"] == "messages: text content blocks must be non-empty"
    assert len(seen["models"]) > 30 and "claude-sonnet-4-5" in seen["models"]
    assert seen["sonnet"] == "Claude Sonnet 4.5"
    assert seen["unknown_model"] == "model: claude-imaginary-9"
    assert seen["uploaded"] == ["file", "report.pdf", "application/pdf", 1665, False]
    assert seen["listed"] is True and seen["metadata"] == 1665
    assert seen["file_tokens"] > 1665 // 4
    assert (seen["download"], seen["deleted"], seen["after_delete"]) == (400, "file_deleted", 404)


@pytest.mark.skipif(not (LEGACY / "anthropic").is_dir(), reason="legacy SDK not installed: run `make install`")
def test_legacy_sdk_calls_around_batches_in_process() -> None:
    seen = _drive_around("in-process")
    _check_sync(seen["sync"])
    calls = seen["calls"]
    assert isinstance(calls, list)
    files = [c for c in calls if str(c[0]).startswith("anthropic.files.")]
    assert files and all("files-api-2025-04-14" in c[1] and "beta=true" in c[2] for c in files)


@pytest.mark.server
@pytest.mark.skipif(not (LEGACY / "anthropic").is_dir(), reason="legacy SDK not installed: run `make install`")
def test_legacy_sdk_calls_around_batches_over_http(fresh_server: ServerProcess) -> None:
    seen = _drive_around(fresh_server.url)
    _check_sync(seen["sync"])
    sync, every = seen["sync"], seen["async"]
    assert isinstance(sync, dict) and isinstance(every, dict)
    assert every["tokens"] > 0 and every["models"] == len(sync["models"])  # every page, limit 10 at a time
    assert (every["listed"], every["deleted"]) == (True, "file_deleted")
    calls = fresh_server.control("GET", "journal").json()["calls"]
    assert {"count_tokens", "models.list", "models.retrieve", "anthropic.files.upload"} <= {
        c["endpoint"] for c in calls
    }
