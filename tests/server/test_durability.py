"""``serve --db``: what a client was told survives ``kill -9`` and a restart."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from serverproc import ServerProcess, running_server, start_server, stop_server

from .conftest import call, requests_body, sdk

pytestmark = [pytest.mark.server, pytest.mark.slow]

SCENARIO = """
seed = 11
[timing]
per_request = 30.0
concurrency = 50
jitter = 0.5
[outcomes]
errored = 0.2
expired = 0.05
error_types = { api_error = 1.0, overloaded_error = 2.0 }
"""


def _local(server: ServerProcess, path: str, key: str) -> Any:
    """The JSON answer with the server's address taken out of ``results_url`` (the port changes)."""
    return json.loads(call(server, "GET", path, key=key).text.replace(server.url, "<server>"))


def _snapshot(server: ServerProcess, key: str) -> dict[str, Any]:
    """Everything a client can see: every batch, list pages, and results bytes of ended ones."""
    batches = _local(server, "/v1/messages/batches?limit=1000", key)
    results: dict[str, bytes] = {}
    for batch in batches["data"]:
        if batch["processing_status"] == "ended":
            results[batch["id"]] = call(server, "GET", f"/v1/messages/batches/{batch['id']}/results", key=key).content
    page = _local(server, "/v1/messages/batches?limit=2", key)
    return {"batches": batches, "results": results, "page": page, "clock": server.control("GET", "clock").json()}


def test_acknowledged_batches_survive_kill_9_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "batchsim.db"
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    server = start_server("--db", str(db), "--scenario", str(scenario))
    try:
        a, b = sdk(server, "key-a"), sdk(server, "key-b")
        big = a.messages.batches.create(requests=requests_body(2000, "big"))
        small = [a.messages.batches.create(requests=requests_body(5, f"s{i}")) for i in range(4)]
        other = b.messages.batches.create(requests=requests_body(3, "b"))
        server.advance(20)
        canceled = a.messages.batches.cancel(small[1].id)
        assert canceled.processing_status == "canceling"
        server.advance(3600 * 25)  # past expiry: every batch has ended
        a.messages.batches.delete(small[2].id)
        later = a.messages.batches.create(requests=requests_body(7, "later"))  # created after the advance
        before = {key: _snapshot(server, key) for key in ("key-a", "key-b")}
    finally:
        assert stop_server(server, signal.SIGKILL) == -signal.SIGKILL

    # The restarted server has no --scenario: the stored one stays active.
    with running_server("--db", str(db)) as again:
        after = {key: _snapshot(again, key) for key in ("key-a", "key-b")}
        for key in before:
            for part in before[key]:
                assert after[key][part] == before[key][part], (key, part)
        ids = [x["id"] for x in after["key-a"]["batches"]["data"]]
        assert ids == [later.id, small[3].id, small[1].id, small[0].id, big.id]  # newest first, deleted gone
        assert after["key-b"]["batches"]["data"][0]["id"] == other.id
        assert set(after["key-a"]["results"]) == {small[3].id, small[1].id, small[0].id, big.id}
        assert len(after["key-a"]["results"][big.id].splitlines()) == 2000
        assert call(again, "GET", f"/v1/messages/batches/{small[2].id}", key="key-a").status_code == 404
        assert again.control("GET", "scenario").json()["seed"] == 11
        # The sequence continues: a new batch never reuses an id.
        new = sdk(again, "key-a").messages.batches.create(requests=requests_body(1, "n"))
        assert new.id not in ids and new.id != other.id
        again.advance(3600)
        assert sdk(again, "key-a").messages.batches.retrieve(later.id).processing_status == "ended"


def test_a_create_answered_just_before_kill_9_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    server = start_server("--db", str(db))
    try:
        created = [sdk(server).messages.batches.create(requests=requests_body(3, f"k{i}")).id for i in range(20)]
    finally:
        stop_server(server, signal.SIGKILL)
    with sqlite3.connect(db) as conn:  # what is on disk, read by someone else
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = {row[0] for row in conn.execute("SELECT id FROM batches")}
    assert stored == set(created)


def test_reset_and_clock_are_persistent_too(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with running_server("--db", str(db)) as server:
        sdk(server).messages.batches.create(requests=requests_body(1))
        server.advance(90)
        now = server.control("GET", "clock").json()["now"]
    with running_server("--db", str(db)) as server:
        assert server.control("GET", "clock").json()["now"] == now
        server.control("POST", "reset").raise_for_status()
        assert call(server, "GET", "/v1/messages/batches").json()["data"] == []
    with running_server("--db", str(db)) as server:
        assert call(server, "GET", "/v1/messages/batches").json()["data"] == []
        assert server.control("GET", "clock").json()["now"] == "2026-01-01T00:00:00.000000Z"


def test_in_memory_is_the_default(tmp_path: Path, plain: ServerProcess) -> None:
    assert "in memory" in plain.output[0]
    assert list(tmp_path.iterdir()) == []
