"""OpenAI's official Node SDK (npm ``openai``, pinned) drives a real ``batchsim serve``: upload ->
create -> poll -> download, and the refusals a client meets (``tests/node/openai_flow.mjs``).

The SDK is installed with npm into ``.cache/node/openai-sdk/`` (ignored by git) on first use: a
folder of its own beside the Anthropic TypeScript SDK's, since an npm install into one prefix
removes the packages it was not asked for. Without node or npm the test is skipped, saying so."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from serverproc import running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

SDK = "openai"
SDK_VERSION = "7.60.0"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "node" / "openai-sdk"
SCRIPT = ROOT / "tests" / "node" / "openai_flow.mjs"


def _installed_version() -> str | None:
    version = CACHE / "node_modules" / SDK / "version.js"
    if not version.exists():
        return None
    found = re.search(r"VERSION = '([^']+)'", version.read_text())
    return found.group(1) if found else None


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


def test_the_node_sdk_runs_the_whole_workflow(node_modules: Path) -> None:
    with running_server() as server:
        env = {**os.environ, "BATCHSIM_URL": server.url, "NODE_PATH": str(node_modules)}
        for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            env.pop(name, None)
        done = subprocess.run(
            ["node", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300, check=False, cwd=CACHE
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["ok"] is True and report["sdk"] == SDK_VERSION
        assert "poll (validating -> in_progress -> finalizing -> completed)" in report["steps"]
        calls = server.control("GET", "journal").json()["calls"]
        assert {c["headers"].get("x-stainless-lang") for c in calls} == {"js"}
