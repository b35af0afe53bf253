"""Google's Node SDK (``@google/genai``, pinned) runs its batch workflow against a real ``batchsim
serve``: inline requests, an uploaded input file (resumable upload), get, list, download, cancel,
delete.

The SDK is installed with npm into ``.cache/node/google-genai/`` (ignored by git) on first use.
Without node or npm the test is skipped, saying so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from serverproc import running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

SDK = "@google/genai"
SDK_VERSION = "3.6.1"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "node" / "google-genai"
SCRIPT = ROOT / "tests" / "node" / "gemini_batch_flow.mjs"


def _installed_version() -> str | None:
    package = CACHE / "node_modules" / SDK / "package.json"
    if not package.exists():
        return None
    return str(json.loads(package.read_text())["version"])


@pytest.fixture(scope="module")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"needs node and npm on PATH (node: {node or 'missing'}, npm: {npm or 'missing'})")
    if _installed_version() != SDK_VERSION:
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--no-save", f"{SDK}@{SDK_VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or _installed_version() != SDK_VERSION:
            pytest.skip(f"npm could not install {SDK}@{SDK_VERSION}: {done.stderr.strip()[-400:]}")
    return CACHE / "node_modules"


def test_the_node_sdk_runs_a_whole_batch_flow(node_modules: Path) -> None:
    with running_server() as server:
        env = {**os.environ, "NODE_PATH": str(node_modules)}
        for name in ("GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
            env.pop(name, None)
        done = subprocess.run(
            ["node", str(SCRIPT), server.url], capture_output=True, text=True, env=env, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        calls = server.control("GET", "journal").json()["calls"]
    assert seen["created"] == "JOB_STATE_PENDING" and seen["done"] == "JOB_STATE_SUCCEEDED"
    assert seen["keys"] == ["node-1", "node-2"]
    assert seen["text"] == "Simulated reply to node-1: Hello from node"
    assert seen["uploaded"] == {"size": "124", "displayName": "node-input"}
    assert seen["downloaded"] == ["a", "b"]
    assert len(seen["listed"]) == 2 and seen["name"] in seen["listed"]
    assert seen["cancelled"] == "JOB_STATE_CANCELLED" and seen["deleted"] == 404
    assert any(c["endpoint"] == "gemini.files.download" and c["status"] == 200 for c in calls)
    assert {c["path"].split("/")[1] for c in calls if not c["path"].startswith("/upload")} == {"v1"}
