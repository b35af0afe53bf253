"""HTTP faults with the retry headers the SDK honours."""

from __future__ import annotations

import anthropic
import pytest

from batchsim import Emulator, Scenario

from .conftest import Target, make_requests


def test_429_with_retry_after_ms_is_retried_by_the_sdk(target: Target) -> None:
    scenario = {"faults": [{"endpoint": "create", "status": 429, "times": 2, "retry_after_ms": 1}]}
    _set_scenario(target, scenario)
    client = target.client(max_retries=2)
    batch = client.messages.batches.create(requests=make_requests(1))
    assert batch.id.startswith("msgbatch_")
    statuses = [c.status for c in _calls(target) if c["endpoint"] == "create"]
    assert statuses == [429, 429, 200]


def test_529_exhausts_retries_into_overloaded_error(target: Target) -> None:
    _set_scenario(target, {"faults": [{"endpoint": "retrieve", "status": 529, "times": 3, "retry_after_ms": 1}]})
    client = target.client(max_retries=2)
    batch = client.messages.batches.create(requests=make_requests(1))
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.batches.retrieve(batch.id)
    assert info.value.response.headers["retry-after-ms"] == "1"
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    # The fourth call goes through: the fault fired three times only.
    assert client.messages.batches.retrieve(batch.id).id == batch.id


def test_should_retry_false_makes_a_5xx_terminal(target: Target) -> None:
    _set_scenario(target, {"faults": [{"endpoint": "*", "status": 500, "times": 1, "should_retry": False}]})
    client = target.client(max_retries=2)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.batches.list()
    assert [c["status"] for c in _calls(target)] == [500]


def test_rate_faults_are_seeded() -> None:
    def statuses(seed: int) -> list[int]:
        sim = Emulator(Scenario.of(seed=seed, faults=[{"endpoint": "list", "status": 503, "rate": 0.5}]))
        client = sim.client(max_retries=0)
        out = []
        for _ in range(30):
            try:
                client.messages.batches.list()
                out.append(200)
            except anthropic.APIStatusError as exc:
                out.append(exc.status_code)
        return out

    first = statuses(11)
    assert first == statuses(11)
    assert 5 < first.count(503) < 25
    assert first != statuses(12)


def test_drop_fault_is_a_connection_error_in_process() -> None:
    sim = Emulator(Scenario.of(faults=[{"endpoint": "retrieve", "kind": "drop", "times": 1}]))
    client = sim.client(max_retries=0)
    batch = client.messages.batches.create(requests=make_requests(1))
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.retrieve(batch.id)
    assert client.messages.batches.retrieve(batch.id).id == batch.id


def _set_scenario(target: Target, scenario: dict[str, object]) -> None:
    from .conftest import InProcess, OverHttp

    if isinstance(target, InProcess):
        target.sim.scenario = scenario
    else:
        assert isinstance(target, OverHttp)
        target.server.control("PUT", "scenario", json=scenario).raise_for_status()


class _CallView(dict[str, object]):
    @property
    def status(self) -> object:
        return self["status"]


def _calls(target: Target) -> list[_CallView]:
    from .conftest import InProcess, OverHttp

    if isinstance(target, InProcess):
        return [_CallView(c.to_dict()) for c in target.sim.calls]
    assert isinstance(target, OverHttp)
    return [_CallView(c) for c in target.server.control("GET", "journal").json()["calls"]]


def test_lost_fault_processes_the_call_but_the_answer_never_arrives(target: Target) -> None:
    _set_scenario(target, {"faults": [{"endpoint": "create", "kind": "lost", "times": 1}]})
    client = target.client(max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.batches.create(requests=make_requests(2))
    # The batch was created all the same: a blind retry would submit it twice.
    listed = client.messages.batches.list().data
    assert len(listed) == 1
    assert listed[0].request_counts.processing == 2


@pytest.mark.parametrize("kind", ["drop", "lost"])
def test_in_process_cuts_come_before_any_response(kind: str) -> None:
    import httpx2

    sim = Emulator(Scenario.of(faults=[{"endpoint": "create", "kind": kind, "times": 1}]))
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as caught:
        client.messages.batches.create(requests=make_requests(1))
    cause = caught.value.__cause__
    assert isinstance(cause, httpx2.RemoteProtocolError)
    assert str(cause) == "Server disconnected without sending a response."
    # A drop was never processed; a lost answer was: the batch exists though the client never knew.
    assert len(client.messages.batches.list().data) == (1 if kind == "lost" else 0)
