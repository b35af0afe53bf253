"""A project pinned to the 0.x SDK installs batchsim and runs its pytest suite.

A fresh venv (cached under ``.cache/venvs/``) holds ``anthropic==0.75.0`` and batchsim installed
from this checkout with only the dependencies the plugin and the in-process emulator need, so no
``httpx2``: loading the plugin must not need it, and the legacy fixtures must work.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venvs import ROOT, cached_venv, checkout_digest

pytestmark = pytest.mark.slow

REQUIREMENTS = (
    "anthropic==0.75.0",
    "starlette>=0.40",
    "uvicorn>=0.30",
    "orjson>=3.9",
    "pytest>=8",
    "respx>=0.21",
    "hatchling>=1.25",  # builds batchsim from the checkout without fetching a build backend
)

DOWNSTREAM = """
import importlib.util

import anthropic
import httpx
import pytest

REQUESTS = [
    {"custom_id": f"doc-{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 32,
                                         "messages": [{"role": "user", "content": "Summarize."}]}}
    for i in range(3)
]


def test_a_test_that_does_not_use_batchsim():
    assert anthropic.__version__ == "0.75.0"
    assert importlib.util.find_spec("httpx2") is None


def test_legacy_client(batchsim):
    client = batchsim.legacy_client()
    batch = client.messages.batches.create(requests=REQUESTS)
    batchsim.advance(minutes=5)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert sorted(r.custom_id for r in client.messages.batches.results(batch.id)) == ["doc-0", "doc-1", "doc-2"]


@pytest.mark.batchsim(rules=[{"custom_id": "-1$", "result": "errored"}])
def test_respx_router(batchsim):
    with batchsim.respx_router():
        client = anthropic.Anthropic(api_key="team-key", max_retries=0)
        batch = client.messages.batches.create(requests=REQUESTS)
        batchsim.advance(minutes=5)
        outcomes = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert outcomes == {"doc-0": "succeeded", "doc-1": "errored", "doc-2": "succeeded"}


def test_httpx_transport(batchsim):
    http = httpx.Client(transport=batchsim.httpx_transport(), base_url="http://emulator")
    client = anthropic.Anthropic(api_key="k", base_url="http://emulator", http_client=http)
    batch = client.messages.batches.create(requests=REQUESTS[:1])
    assert [b.id for b in batchsim.batches("k")] == [batch.id]


def test_the_current_sdk_client_says_what_to_use(batchsim):
    with pytest.raises(RuntimeError, match=r"not 0\\.75\\.0: with the 0\\.x SDK use .*legacy_client"):
        batchsim.client()
"""


def test_a_project_on_the_legacy_sdk_runs_its_tests(tmp_path: Path) -> None:
    with cached_venv("legacy-sdk", REQUIREMENTS) as venv:
        venv.install(ROOT, checkout_digest(), "--no-build-isolation")
        (tmp_path / "test_downstream.py").write_text(DOWNSTREAM)
        done = subprocess.run(
            [str(venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_downstream.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=venv.env(),
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout, done.stdout
