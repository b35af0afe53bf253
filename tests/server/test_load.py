"""32 concurrent SDK clients over several keys: no errors, consistent counts, no leaks between keys."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anthropic
import pytest
from serverproc import ServerProcess, running_server

from .conftest import call, log_barrier, no_traceback, requests_body, sdk

pytestmark = [pytest.mark.server, pytest.mark.slow]
KEYS = [f"team-{n}" for n in range(4)]
CLIENTS = 32
ROUNDS = 12  # operations per client: bounded, so the run takes seconds, not minutes


@pytest.fixture(scope="module", params=["memory", "db-2-workers"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    args = [arg for key in KEYS for arg in ("--api-key", key)]
    if request.param != "memory":
        args += ["--db", str(tmp_path_factory.mktemp("load") / "load.db"), "--workers", "2"]
    with running_server(*args) as proc:
        yield proc


def test_32_clients_create_poll_list_cancel_and_download(loaded: ServerProcess) -> None:
    owned: dict[str, set[str]] = {key: set() for key in KEYS}
    sizes: dict[str, int] = {}
    seen: dict[str, set[str]] = {key: set() for key in KEYS}
    lock = threading.Lock()
    errors: list[str] = []

    def client_run(n: int) -> None:
        key = KEYS[n % len(KEYS)]
        rng = random.Random(n)
        client = sdk(loaded, key, max_retries=0, timeout=60)
        mine: list[str] = []
        try:
            for _ in range(ROUNDS):
                op = rng.choice(["create", "create", "poll", "list", "cancel", "results"]) if mine else "create"
                if op == "create":
                    size = rng.randint(1, 50)
                    batch = client.messages.batches.create(requests=requests_body(size, f"c{n}"))
                    assert sum(batch.request_counts.to_dict().values()) == size
                    mine.append(batch.id)
                    with lock:
                        owned[key].add(batch.id)
                        sizes[batch.id] = size
                elif op == "poll":
                    batch = client.messages.batches.retrieve(rng.choice(mine))
                    assert sum(batch.request_counts.to_dict().values()) == sizes[batch.id]
                elif op == "list":
                    page = client.messages.batches.list(limit=100)
                    with lock:  # checked once every create is known (one may be in flight now)
                        seen[key].update(b.id for b in page.data)
                elif op == "cancel":
                    try:
                        batch = client.messages.batches.cancel(rng.choice(mine))
                        assert batch.processing_status in ("canceling", "ended")
                    except anthropic.BadRequestError:  # already ended: a documented answer
                        pass
                else:
                    batch = client.messages.batches.retrieve(rng.choice(mine))
                    if batch.processing_status == "ended":
                        lines = list(client.messages.batches.results(batch.id))
                        assert len(lines) == sizes[batch.id]
                if n == 0:
                    loaded.advance(1)  # time moves while everyone works
        except Exception as exc:  # collected: one failing thread must not hide the others
            errors.append(f"client {n} ({key}): {exc!r}")

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client_run, range(CLIENTS)))
    assert not errors, errors[:5]
    for key in KEYS:
        assert seen[key] <= owned[key]  # a list never showed another key's batch
    assert time.monotonic() - started < 120

    loaded.advance(3600 * 25)
    for key in KEYS:
        listed = [b for b in sdk(loaded, key).messages.batches.list(limit=1000)]
        assert {b.id for b in listed} == owned[key]
        for batch in listed:
            assert batch.processing_status == "ended"
            counts = batch.request_counts
            assert counts.processing == 0
            assert counts.succeeded + counts.errored + counts.canceled + counts.expired == sizes[batch.id]
        others = set().union(*(owned[k] for k in KEYS if k != key))
        for batch_id in list(others)[:20]:
            assert call(loaded, "GET", f"/v1/messages/batches/{batch_id}", key=key).status_code == 404
    log_barrier(loaded)  # whatever the server logged during the load has arrived
    no_traceback(loaded)
