"""The layer contracts of ``make lint`` hold, and each one fails when a forbidden import is added
(checked on a copy of the packages with one import planted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'client'}"}
    return subprocess.run(
        [LINT, "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("batchsim", "client"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layer_contracts_hold(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("batchsim/_engine/batch.py", "from batchsim._http import app", "layers point one way"),
        ("batchsim/_engine/clock.py", "import starlette", "engine is provider-neutral"),
        ("batchsim/_anthropic/wire.py", "from batchsim._storage import memory", "only through the engine's ports"),
        ("batchsim/_http/app.py", "from batchsim._anthropic import wire", "layers point one way"),
        ("batchsim/_storage/memory.py", "from batchsim._anthropic import wire", "layers point one way"),
        ("batchsim/_anthropic/wire.py", "import anthropic", "no web framework and no SDK"),
        ("batchsim/_http/app.py", "from batchsim import _emulator", "layers point one way"),
        ("batchsim/_serve/server.py", "from batchsim._pytest import options", "layers point one way"),
        ("client/batchclient/_api.py", "import batchsim", "thin client never imports the emulator"),
        ("batchsim/_gemini/wire.py", "from batchsim._openai import wire as other", "layers point one way"),
        ("batchsim/_gemini/api.py", "from google import genai", "no web framework and no SDK"),
        ("batchsim/_gemini/api.py", "from batchsim._storage import files", "only through the engine's ports"),
    ],
)
def test_each_contract_fails_when_a_forbidden_import_is_added(
    tree: Path, module: str, planted: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # planted\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken) or contract in result.stdout.split("Broken contracts")[-1]
