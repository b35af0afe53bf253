"""Batch ids never repeat: not from one fresh server to the next, not across a reset, not across a
restart over the same database (a client resuming a job must never adopt another's batch)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serverproc import running_server

from .conftest import requests_body, sdk

pytestmark = pytest.mark.server


def _create(url_server: object) -> str:
    client = sdk(url_server, key="ids-key")  # type: ignore[arg-type]
    return client.messages.batches.create(requests=requests_body(2)).id  # type: ignore[arg-type]


def test_two_fresh_servers_hand_out_different_first_ids() -> None:
    with running_server() as one, running_server() as two:
        assert _create(one) != _create(two)


def test_ids_differ_after_a_reset_and_after_a_restart_over_the_database(tmp_path: Path) -> None:
    db = str(tmp_path / "ids.db")
    seen: list[str] = []
    with running_server("--db", db) as server:
        seen.append(_create(server))
        server.control("POST", "reset").raise_for_status()
        seen.append(_create(server))
    with running_server("--db", db) as server:
        seen.append(_create(server))
        server.control("POST", "reset").raise_for_status()
    with running_server("--db", db) as server:
        seen.append(_create(server))
    assert len(set(seen)) == len(seen), seen
