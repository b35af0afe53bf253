"""The built packages work where a user installs them: the wheel and the sdist are built from this
checkout, the wheel goes into a fresh venv (cached under ``.cache/venvs/``, only batchsim itself
reinstalled when the sources changed), and from that venv ``batchsim serve --scenario flaky``
answers health and a downstream project's pytest run uses the ``batchsim`` fixture."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import httpx2
import pytest
from serverproc import running_server, stop_server
from venvs import ROOT, cached_venv, checkout_digest

pytestmark = [pytest.mark.slow, pytest.mark.server]

DOWNSTREAM = """
import anthropic
import batchsim
import pytest


def test_runs_against_the_installed_package(batchsim):
    import batchsim as package

    assert "site-packages" in package.__file__
    client = batchsim.client()
    batch = client.messages.batches.create(requests=[
        {"custom_id": f"r{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 8,
                                         "messages": [{"role": "user", "content": "hi"}]}} for i in range(3)])
    batchsim.advance(hours=1)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert len(list(client.messages.batches.results(batch.id))) == 3


@pytest.mark.batchsim(scenario="expiring")
def test_a_ready_made_scenario_by_name(batchsim):
    assert batchsim.scenario.timing.concurrency == 1


def test_the_openai_extra(batchsim):
    client = batchsim.openai_client()
    line = {"custom_id": "a", "method": "POST", "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": "hi"}}
    file = client.files.create(file=("in.jsonl", (__import__("json").dumps(line) + "\\n").encode()), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/embeddings", completion_window="24h")
    batchsim.advance(hours=1)
    assert client.batches.retrieve(batch.id).status == "completed"
"""


def _build(out: Path) -> tuple[Path, Path | None]:
    """The wheel and (with ``build``) the sdist of this checkout, built offline with the backend
    installed here when it is."""
    isolation = [] if importlib.util.find_spec("hatchling") else ["--isolation"]
    if importlib.util.find_spec("build"):
        cmd = [sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT)]
        cmd += [] if isolation else ["--no-isolation"]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT)]
        cmd += [] if isolation else ["--no-build-isolation"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"building the packages failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    [wheel] = out.glob("batchsim-*.whl")
    sdists = list(out.glob("batchsim-*.tar.gz"))
    return wheel, sdists[0] if sdists else None


def test_the_wheel_and_sdist_install_and_run(tmp_path: Path) -> None:
    wheel, sdist = _build(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("flaky.toml", "expiring.json", "overloaded.toml"):
        assert f"batchsim/scenarios/{name}" in names
    assert {"batchsim/_http/static/index.html", "batchclient/__init__.py"} <= names
    assert {"batchsim/openapi.json", "batchsim/openapi-openai.json", "batchsim/openapi-gemini.json"} <= names
    if sdist is not None:
        with tarfile.open(sdist) as tar:
            members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
        assert {"README.md", "pyproject.toml", "schemathesis.toml", "batchsim/scenarios/flaky.toml"} <= members
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Provides-Extra: openai" in metadata  # pip install "batchsim[openai]"
    assert any(
        line.startswith("Requires-Dist: openai") and "extra == 'openai'" in line for line in metadata.splitlines()
    )

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["openai"]  # what batchsim[openai] adds
    with cached_venv("wheel", [*project["dependencies"], *extra, "pytest>=8"]) as venv:
        venv.install(wheel, checkout_digest())
        # The installed script, as a user runs it (python -m from here would import the checkout).
        with running_server("--scenario", "flaky", env=venv.env(), program=[str(venv.bin("batchsim"))]) as server:
            scenario = httpx2.get(f"{server.url}/_batchsim/scenario", timeout=30).json()
            assert server.process.args[0] == str(venv.bin("batchsim"))
            assert scenario["seed"] == 7  # flaky's
            assert [r["custom_id"] for r in scenario["rules"]] == ["^poison-"]
        assert stop_server(server) == 0
        assert "Traceback" not in "".join(server.output)

        done = venv.pytest(tmp_path / "downstream", DOWNSTREAM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout
