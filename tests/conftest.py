from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import serverproc
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


# Fixtures that start a server (a `batchsim serve` process or the plugin's in-process uvicorn):
# a test using one is marked `server` automatically, so `-m "not server"` starts none.
SERVER_FIXTURES = frozenset(
    {"server", "fresh_server", "plain_server", "plain", "fuzzed", "workers", "fresh", "loaded", "batchsim_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


_running: list[pytest.Item] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


def _may_start_server() -> None:
    if _running and _running[-1].get_closest_marker("server") is None:
        raise RuntimeError(f"{_running[-1].nodeid} starts a server but is not marked `server`")


serverproc.guard.append(_may_start_server)


@pytest.fixture(autouse=True)
def _inner_runs_in_file_order(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest runs (pytester) keep their tests in file order even when this run is shuffled:
    some inner files check what one test leaves for the next."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts: set it after
        monkeypatch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} -p no:randomly".strip())
