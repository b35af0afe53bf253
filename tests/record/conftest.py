"""Real processes for the recording tests: upstream ``batchsim serve`` processes (each with its own
scenario and key) and a ``batchsim record`` proxy in front of one of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from serverproc import ServerProcess, running_server, start_server, stop_server

UPSTREAM_KEY = "sk-upstream-test-4f1c2b"


def write_scenario(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@contextlib.contextmanager
def upstream(*args: str) -> Iterator[ServerProcess]:
    """A ``batchsim serve`` playing the real API: only ``UPSTREAM_KEY`` is accepted."""
    with running_server("--api-key", UPSTREAM_KEY, *args) as server:
        yield server


@contextlib.contextmanager
def recorder(upstream_url: str, out: Path) -> Iterator[ServerProcess]:
    """``batchsim record`` as a real process; its health call reaches the upstream through it."""
    proxy = start_server("--upstream", upstream_url, "--out", str(out), command="record")
    try:
        yield proxy
    finally:
        stop_server(proxy)
