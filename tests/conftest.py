from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from serverproc import ServerProcess, running_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One real ``batchsim serve`` process (virtual clock) shared by a session's server tests.

    Tests that use it reset it first through ``POST /_batchsim/reset``.
    """
    with running_server() as proc:
        yield proc


@pytest.fixture
def fresh_server(server: ServerProcess) -> ServerProcess:
    server.control("POST", "reset").raise_for_status()
    return server
