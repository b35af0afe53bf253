"""A project pinned to the 0.x SDK installs batchsim and runs its pytest suite.

A fresh venv (cached under ``.cache/venvs/``) holds ``anthropic==0.75.0`` and batchsim installed
from this checkout with only the dependencies the plugin and the in-process emulator need, so no
``httpx2``: loading the plugin must not need it, and the legacy fixtures must work.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from venvs import ROOT, cached_venv, checkout_digest

from .test_plugin_legacy import LEGACY_TESTS

pytestmark = pytest.mark.slow


def _requirements() -> list[str]:
    """batchsim's own dependencies, but the 0.x SDK instead of the current one and no httpx2."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    kept = [d for d in declared if not d.startswith(("anthropic", "httpx2"))]
    # pytest and respx: the downstream project's; hatchling builds batchsim from the checkout offline
    return ["anthropic==0.75.0", *kept, "pytest>=8", "respx>=0.21", "hatchling>=1.25"]


# The in-process legacy tests (anthropic 0.x first on the path there), and what only a venv
# without httpx2 can show.
DOWNSTREAM = (
    LEGACY_TESTS
    + """
import importlib.util

import httpx


def test_no_httpx2_here():
    assert anthropic.__version__ == "0.75.0"
    assert importlib.util.find_spec("httpx2") is None


def test_httpx_transport(batchsim):
    http = httpx.Client(transport=batchsim.httpx_transport(), base_url="http://emulator")
    client = anthropic.Anthropic(api_key="k", base_url="http://emulator", http_client=http)
    batch = client.messages.batches.create(requests=REQUESTS[:1])
    assert [b.id for b in batchsim.batches("k")] == [batch.id]


def test_the_current_sdk_client_says_what_to_use(batchsim):
    with pytest.raises(RuntimeError, match=r"not 0\\.75\\.0: with the 0\\.x SDK use .*legacy_client"):
        batchsim.client()
"""
)


def test_a_project_on_the_legacy_sdk_runs_its_tests(tmp_path: Path) -> None:
    with cached_venv("legacy-sdk", _requirements()) as venv:
        venv.install(ROOT, checkout_digest(), "--no-build-isolation")
        done = venv.pytest(tmp_path, DOWNSTREAM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout, done.stdout
