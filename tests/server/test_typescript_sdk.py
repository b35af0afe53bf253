"""The official TypeScript SDK (``@anthropic-ai/sdk``, pinned) drives a real ``batchsim serve``:
the README's promise of CI in any language, kept in our own test suite.

The SDK is installed with npm into ``.cache/node/`` (ignored by git) on first use. Without node
or npm the test is skipped, saying so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from serverproc import running_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

TS_SDK = "@anthropic-ai/sdk"
TS_SDK_VERSION = "1.14.0"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "node"
SCRIPT = ROOT / "tests" / "node" / "batch_flow.mjs"


def _installed_version() -> str | None:
    package = CACHE / "node_modules" / TS_SDK / "package.json"
    if not package.exists():
        return None
    return str(json.loads(package.read_text())["version"])


@pytest.fixture(scope="module")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"needs node and npm on PATH (node: {node or 'missing'}, npm: {npm or 'missing'})")
    if _installed_version() != TS_SDK_VERSION:
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(CACHE),
                "--no-audit",
                "--no-fund",
                "--no-save",
                f"{TS_SDK}@{TS_SDK_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or _installed_version() != TS_SDK_VERSION:
            pytest.skip(f"npm could not install {TS_SDK}@{TS_SDK_VERSION}: {done.stderr.strip()[-400:]}")
    return CACHE / "node_modules"


def test_the_typescript_sdk_runs_a_whole_batch_flow(node_modules: Path) -> None:
    with running_server() as server:
        env = {**os.environ, "BATCHSIM_URL": server.url, "NODE_PATH": str(node_modules)}
        env.pop("ANTHROPIC_BASE_URL", None)
        done = subprocess.run(
            ["node", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=300, check=False, cwd=CACHE
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["ok"] is True and report["sdk"] == TS_SDK_VERSION
        assert "the SDK retries 429, 529 and a drop" in report["steps"]
        for step in (
            "countTokens",
            "models: auto-pagination over the catalogue",
            "files: upload",
            "a batch reads the file",
        ):
            assert step in report["steps"]
