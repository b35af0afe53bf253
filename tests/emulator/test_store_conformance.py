"""One conformance suite for every :class:`~batchsim._engine.ports.Store`: the in-memory store and
the SQLite store answer the same calls the same way (the service relies on nothing else)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchsim import Scenario
from batchsim._engine.batch import Batch
from batchsim._engine.params import PackedIds, PackedParams
from batchsim._engine.ports import Entry, Store
from batchsim._storage.memory import MemoryStore
from batchsim._storage.sqlite import Database, SqliteStore

PARAMS = b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
SCENARIO = Scenario()


def make(batch_id: str, workspace: str = "ws", created_at: int = 1_000_000, n: int = 3) -> Batch:
    ids = PackedIds.of([f"r-{i}" for i in range(n)])
    return Batch(batch_id, workspace, created_at, ids, PackedParams.join([PARAMS] * n), {}, SCENARIO, "seed")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    db = Database(str(tmp_path / "store.db"))
    yield SqliteStore(db)
    db.close()


def ids(entries: list[Entry]) -> list[str]:
    return [e.batch.id for e in entries]


def test_an_added_batch_is_found_in_its_workspace_only(store: Store) -> None:
    kept = store.add(make("b1"))
    assert kept.id == "b1" and list(kept.custom_ids) == ["r-0", "r-1", "r-2"]
    entry = store.get("ws", "b1")
    assert entry is not None and entry.batch.id == "b1" and entry.cancel_initiated_at is None
    assert list(entry.batch.params) == [PARAMS] * 3
    assert store.get("other", "b1") is None and store.get("ws", "nope") is None
    assert store.knows("ws", "b1") and not store.knows("other", "b1")
    assert store.workspaces() == ["ws"]


def test_pages_are_newest_first_with_both_cursors(store: Store) -> None:
    for n in range(5):
        store.add(make(f"b{n}", created_at=1_000_000 + n))
    first = store.page("ws", 2, None, None)
    assert ids(first.entries) == ["b4", "b3"] and first.has_more
    after = store.page("ws", 2, "b3", None)
    assert ids(after.entries) == ["b2", "b1"] and after.has_more
    last = store.page("ws", 2, "b1", None)
    assert ids(last.entries) == ["b0"] and not last.has_more
    before = store.page("ws", 2, None, "b1")
    assert ids(before.entries) == ["b3", "b2"] and before.has_more
    assert ids(store.page("ws", 10, None, "b3").entries) == ["b4"]
    assert store.page("empty", 10, None, None).entries == []


def test_the_first_cancel_time_recorded_wins(store: Store) -> None:
    store.add(make("b1"))
    first = store.update("ws", "b1", lambda e: e._replace(cancel_initiated_at=5))
    second = store.update("ws", "b1", lambda e: e._replace(cancel_initiated_at=9))
    assert first is not None and second is not None
    assert first.cancel_initiated_at == second.cancel_initiated_at == 5
    entry = store.get("ws", "b1")
    assert entry is not None and entry.cancel_initiated_at == 5


def test_a_change_that_raises_writes_nothing(store: Store) -> None:
    store.add(make("b1"))

    def refuse(entry: Entry) -> Entry:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        store.update("ws", "b1", refuse)
    entry = store.get("ws", "b1")
    assert entry is not None and entry.cancel_initiated_at is None


def test_a_deleted_batch_is_gone_but_its_id_stays_known(store: Store) -> None:
    for n in range(3):
        store.add(make(f"b{n}", created_at=1_000_000 + n))
    assert store.update("ws", "b1", lambda e: e._replace(deleted=True)) is not None
    assert store.get("ws", "b1") is None
    assert store.update("ws", "b1", lambda e: e) is None
    assert store.knows("ws", "b1")  # a list cursor naming it keeps working
    assert ids(store.page("ws", 10, None, None).entries) == ["b2", "b0"]
    assert ids(store.page("ws", 10, "b1", None).entries) == ["b0"]
    assert ids(store.page("ws", 10, None, "b1").entries) == ["b2"]


def test_updates_of_unknown_batches_change_nothing(store: Store) -> None:
    calls: list[Entry] = []
    change: Callable[[Entry], Entry] = lambda e: calls.append(e) or e  # noqa: E731
    assert store.update("ws", "nope", change) is None
    assert calls == []


def test_the_creation_sequence_counts_up_and_restarts_on_clear(store: Store) -> None:
    assert [store.next_number() for _ in range(3)] == [1, 2, 3]
    store.add(make("b1"))
    store.clear()
    assert store.get("ws", "b1") is None and not store.knows("ws", "b1") and store.workspaces() == []
    assert store.next_number() == 1


def test_two_stores_of_one_database_keep_their_providers_apart(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "two.db"))
    try:
        one, two = SqliteStore(db, "anthropic"), SqliteStore(db, "openai")
        one.add(make("shared-id"))
        assert two.get("ws", "shared-id") is None and not two.knows("ws", "shared-id")
        two.add(make("shared-id"))  # the same id under another provider is another batch
        assert [one.next_number(), two.next_number(), one.next_number()] == [1, 1, 2]
        two.clear()
        assert one.get("ws", "shared-id") is not None
    finally:
        db.close()
