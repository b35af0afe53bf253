"""Keys, the admin token, the default bind, and faults that cut connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import pytest
from serverproc import ServerProcess, running_server

from batchsim import Emulator
from batchsim._serve.cli import _parser

from .conftest import assert_envelope, call, log_barrier, no_traceback, requests_body, sdk

pytestmark = pytest.mark.server
BATCHES = "/v1/messages/batches"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("guarded") / "g.db"
    args = ("--api-key", "key-a", "--api-key", "key-b", "--admin-token", "s3cret", "--db", str(db))
    with running_server(*args) as proc:
        yield proc


def test_unknown_keys_are_refused(guarded: ServerProcess) -> None:
    assert_envelope(call(guarded, "GET", BATCHES, key="key-c"), 401, "authentication_error")
    with pytest.raises(anthropic.AuthenticationError):
        sdk(guarded, "key-c").messages.batches.list()
    assert sdk(guarded, "key-a").messages.batches.list().data is not None


def test_a_key_never_reaches_another_keys_batch(guarded: ServerProcess) -> None:
    a, b = sdk(guarded, "key-a"), sdk(guarded, "key-b")
    batch = a.messages.batches.create(requests=requests_body(2))
    assert batch.id not in [x.id for x in b.messages.batches.list(limit=1000)]
    for attempt in (
        lambda: b.messages.batches.retrieve(batch.id),
        lambda: b.messages.batches.cancel(batch.id),
        lambda: b.messages.batches.delete(batch.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            attempt()
    assert_envelope(call(guarded, "GET", f"{BATCHES}/{batch.id}/results", key="key-b"), 404, "not_found_error")
    assert_envelope(call(guarded, "GET", f"{BATCHES}?after_id={batch.id}", key="key-b"), 400)
    # key-b's attempts changed nothing for key-a
    assert a.messages.batches.retrieve(batch.id).processing_status == "in_progress"


def test_the_control_plane_needs_the_admin_token(guarded: ServerProcess) -> None:
    assert guarded.control("GET", "health").status_code == 200
    assert guarded.control("GET", "openapi.json").status_code == 200
    for method, path in (("GET", "clock"), ("POST", "reset"), ("GET", "scenario"), ("GET", "journal")):
        assert_envelope(guarded.control(method, path), 401, "authentication_error")
        assert_envelope(guarded.control(method, path, headers={"x-batchsim-admin-token": "wrong"}), 401)
    ok = guarded.control("POST", "clock/advance", json={"seconds": 1}, headers={"x-batchsim-admin-token": "s3cret"})
    assert ok.status_code == 200


def test_the_default_bind_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHSIM_HOST", raising=False)
    assert _parser().parse_args(["serve"]).host == "127.0.0.1"


FAULTS = """
[[faults]]
endpoint = "retrieve"
kind = "drop"
times = 1
[[faults]]
endpoint = "results"
kind = "truncate"
times = 1
"""


def test_drop_and_truncate_cut_the_connection_of_a_real_server(tmp_path: Path) -> None:
    scenario = tmp_path / "faults.toml"
    scenario.write_text(FAULTS)
    with running_server("--scenario", str(scenario)) as server:
        client = sdk(server)
        batch = client.messages.batches.create(requests=requests_body(600))
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.retrieve(batch.id)
        server.advance(3600)
        url = f"{server.url}{BATCHES}/{batch.id}/results"
        with pytest.raises(httpx2.RemoteProtocolError):
            httpx2.get(url, headers={"x-api-key": "key-a"}, timeout=30)
        # The faults are spent: the SDK's own retry path recovers.
        assert len(list(sdk(server, max_retries=2).messages.batches.results(batch.id))) == 600
        log_barrier(server)  # what the server logged about the cuts has arrived
        no_traceback(server)
        log = "".join(server.output)
        assert log.count("injected drop on retrieve") == 1
        assert log.count("injected truncation") == 1


def test_retries_recover_from_a_drop(tmp_path: Path) -> None:
    scenario = tmp_path / "drop.toml"
    scenario.write_text('[[faults]]\nendpoint = "*"\nkind = "drop"\ntimes = 1\n')
    with running_server("--scenario", str(scenario)) as server:
        batch = sdk(server, max_retries=2).messages.batches.create(requests=requests_body(1))
        assert [b.id for b in sdk(server).messages.batches.list()] == [batch.id]  # the dropped call did nothing


def test_in_process_drops_are_transport_errors() -> None:
    sim = Emulator({"faults": [{"endpoint": "list", "kind": "drop", "times": 1}]})
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as caught:
        client.messages.batches.list()
    assert isinstance(caught.value.__cause__, httpx2.TransportError)
    assert client.messages.batches.list().data == []
