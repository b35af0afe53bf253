"""What a client can send the control plane and the dashboard's routes: refused with the API's
envelope and a 4xx, never a 500, and never by stalling every other call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from batchsim import Emulator, Scenario, ScenarioError
from batchsim._http.transport import SyncASGITransport

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def sim() -> Iterator[Emulator]:
    sim = Emulator()
    yield sim
    sim.close()


@pytest.fixture
def http(sim: Emulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://batchsim.local") as client:
        yield client


def _batch(http: httpx2.Client, key: str = "k-1") -> str:
    body = {"requests": [{"custom_id": "a", "params": PARAMS}]}
    answer = http.post("/v1/messages/batches", json=body, headers={"x-api-key": key})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def _refused(answer: httpx2.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["type"] == "error" and "Traceback" not in answer.text
    return body


@pytest.mark.parametrize("index", ["%C2%B2", "\u00b2", "1" * 5000, "-1", "0x1"])
def test_a_request_index_that_is_not_plain_digits_is_a_404(http: httpx2.Client, index: str) -> None:
    batch_id = _batch(http)
    _refused(http.get(f"/_batchsim/batches/{batch_id}/requests/{index}"), 404)


@pytest.mark.parametrize("status", ["%C2%B2xx", "\u00b2xx", "9" * 5000])
def test_a_status_filter_of_any_text_answers(http: httpx2.Client, status: str) -> None:
    _batch(http)
    answer = http.get(f"/_batchsim/journal/recent?status={status}")
    assert answer.status_code == 200 and answer.json()["total"] == 0


@pytest.mark.parametrize("name", ["offset", "limit"])
def test_paging_numbers_of_any_size_are_refused(http: httpx2.Client, name: str) -> None:
    _refused(http.get(f"/_batchsim/batches?{name}={'7' * 5000}"), 400)


def test_a_canned_line_nested_300_levels_is_refused(http: httpx2.Client) -> None:
    deep: Any = {"type": "succeeded"}
    for _ in range(300):
        deep = {"x": deep}
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": deep}}
    body = _refused(http.put("/_batchsim/scenario", json={"canned": [line]}), 400)
    assert "nested more than 64 levels" in body["error"]["message"]


def test_patterns_that_compile_too_large_are_refused_at_once(http: httpx2.Client) -> None:
    """A hundred rules of a pattern that compiled to half a million instructions each blocked every
    call for 20 s: each pattern is bounded, so the first is refused before it costs anything."""
    rules = [{"custom_id": r"\pL{446}zN", "result": "errored"} for _ in range(100)]
    started = time.monotonic()
    body = _refused(http.put("/_batchsim/scenario", json={"rules": rules}), 400)
    assert "rules.0.custom_id" in body["error"]["message"]
    assert time.monotonic() - started < 10  # a guard, not a measurement: the old code took minutes
    assert http.get("/_batchsim/health").status_code == 200


def test_many_patterns_within_bounds_one_by_one_are_refused_together() -> None:
    """Each pattern small enough, all of them together too large: refused, naming the rule."""
    rules = [{"custom_id": r"\pL{6}" + str(n), "result": "errored"} for n in range(100)]
    with pytest.raises(ScenarioError, match=r"rules: the patterns compile to more than 100000 instructions"):
        Scenario.from_dict({"rules": rules})
    Scenario.from_dict({"rules": rules[:5]})  # a few of them are fine


def test_two_api_keys_are_served_and_journaled_as_the_same_key(sim: Emulator, http: httpx2.Client) -> None:
    headers = [("x-api-key", "first-key-1111"), ("x-api-key", "second-key-2222")]
    body = {"requests": [{"custom_id": "a", "params": PARAMS}]}
    answer = http.post("/v1/messages/batches", json=body, headers=headers)
    assert answer.status_code == 200
    assert [b.id for b in sim.batches("first-key-1111")] == [answer.json()["id"]]
    assert sim.calls[-1].key == "first-key-1111"
    recent = http.get("/_batchsim/journal/recent").json()["data"]
    assert recent[0]["key"] == "\u20261111"
