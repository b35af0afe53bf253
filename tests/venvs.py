"""Fresh virtual environments for the packaging tests, cached under ``.cache/venvs/``.

A venv is keyed by what goes into it (the Python and the requirements): it is built once and
reused while they do not change. batchsim itself is installed into it separately and again only
when the checkout's sources (or the wheel) changed. Where a venv cannot be built (no package
registry), the test skips and says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "venvs"
PIP_TIMEOUT = 1800.0
"""Only a guard against a hung pip: a cold build downloads every dependency."""


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process run from this venv: its bin first, nothing of ours (paths, the
        API the SDK would reach) leaking in."""
        dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.path)
        return {**env, **extra}

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), "-m", "pip", "install", "--quiet", *args],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            env=self.env(),
        )

    def pytest(self, folder: Path, source: str) -> subprocess.CompletedProcess[str]:
        """Run ``source`` as a downstream project's test file in ``folder`` with this venv's pytest
        (the folder is the rootdir: nothing of this checkout is on the path)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "test_downstream.py").write_text(source)
        return subprocess.run(
            [str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_downstream.py"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env(),
        )

    def install(self, target: str | Path, digest: str, *options: str) -> None:
        """``pip install --no-deps`` ``target`` unless what is installed was built from ``digest``."""
        marker = self.path / ".batchsim-digest"
        if marker.is_file() and marker.read_text() == digest:
            return
        done = self.pip("--no-deps", "--force-reinstall", *options, str(target))
        if done.returncode != 0:
            pytest.fail(f"pip could not install {target} into {self.path}:\n{done.stderr}", pytrace=False)
        marker.write_text(digest)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder of a venv at a time, across processes (several people share the machine)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def cached_venv(name: str, requirements: Sequence[str]) -> Iterator[Venv]:
    """A venv with ``requirements`` installed, built on first use and then reused; held locked
    while the caller installs into it and runs from it."""
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    venv = Venv(CACHE / f"{name}-{key}")
    with _locked(name):
        ready = venv.path / ".ready"
        if not ready.is_file():
            shutil.rmtree(venv.path, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=300)
            done = venv.pip(*requirements)
            if done.returncode != 0:
                shutil.rmtree(venv.path, ignore_errors=True)
                last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
                pytest.skip(f"cannot build the {name} venv ({' '.join(requirements)}): {last}")
            ready.touch()
        yield venv


def digest(paths: Iterable[Path]) -> str:
    """A digest of the files under ``paths`` (names and contents; caches skipped)."""
    h = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            h.update(str(file.relative_to(ROOT)).encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def checkout_digest() -> str:
    """What a ``pip install`` of the checkout is built from."""
    return digest([ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "batchsim", ROOT / "client" / "batchclient"])
