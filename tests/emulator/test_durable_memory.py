"""With a database, a process holds batches' summaries, not their requests: listing, retrieving and
the dashboard's list read no request back, a restart reads nothing up front, and the requests a
process loads for what needs them stay within a budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport
from batchsim._storage.sqlite import SqliteStore

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


def _requests(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"custom_id": f"{prefix}-{i}", "params": PARAMS} for i in range(n)]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "batches.db")


def _store(sim: Emulator) -> SqliteStore:
    store = sim.service.store
    assert isinstance(store, SqliteStore)
    return store


def _loaded(store: SqliteStore) -> list[str]:
    return [batch.id for batch in store._cache.values() if batch.loaded]


@pytest.fixture
def sim(db: str) -> Iterator[Emulator]:
    sim = Emulator(database=db, journal=False)
    yield sim
    sim.close()


def test_list_retrieve_and_the_dashboard_read_no_requests_back(sim: Emulator, db: str) -> None:
    with sim.client() as client:
        ids = [client.messages.batches.create(requests=_requests(50, f"b{n}")).id for n in range(30)]
        sim.advance(hours=1)
    restarted = Emulator(database=db, journal=False, publish=False)
    try:
        store = _store(restarted)
        assert store._cache == {}  # a restart reads nothing up front
        with restarted.client() as client:
            page = client.messages.batches.list(limit=100)
            assert sorted(b.id for b in page.data) == sorted(ids)
            assert all(b.request_counts.succeeded == 50 for b in page.data)
            assert client.messages.batches.retrieve(ids[0]).processing_status == "ended"
        http = httpx2.Client(transport=SyncASGITransport(restarted.app), base_url="http://batchsim.local")
        listing = http.get("/_batchsim/batches", params={"limit": 500}).json()
        assert listing["total"] == 30 and listing["by_status"]["ended"] == 30
        assert _loaded(store) == []  # every answer came from the batches' summaries
        # What needs the requests loads them (the dashboard's requests of one batch, the results).
        assert http.get(f"/_batchsim/batches/{ids[0]}/requests").json()["total"] == 50
        with restarted.client() as client:
            assert len(list(client.messages.batches.results(ids[1]))) == 50
        assert sorted(_loaded(store)) == sorted(ids[:2])
    finally:
        restarted.close()


def test_the_requests_a_process_loads_stay_within_its_budget(sim: Emulator) -> None:
    store = _store(sim)
    with sim.client() as client:
        ids = [client.messages.batches.create(requests=_requests(200, f"b{n}")).id for n in range(8)]
        sim.advance(hours=1)
        store.drop_cache()
        one = len(list(client.messages.batches.results(ids[0])))
        budget = store.loaded_bytes() * 3  # room for three batches' requests
        store.body_budget = budget
        for batch_id in ids[1:]:
            assert len(list(client.messages.batches.results(batch_id))) == one == 200
            assert store.loaded_bytes() <= budget
        assert 1 <= len(_loaded(store)) <= 3
        assert _loaded(store)[-1] == ids[-1]  # the least recently loaded went first
