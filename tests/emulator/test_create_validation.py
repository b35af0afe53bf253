"""Create-time validation: pydantic-style messages naming the path, the API's error envelope."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from batchsim import Emulator

from .conftest import make_requests


@pytest.fixture
def client() -> anthropic.Anthropic:
    return Emulator().client(max_retries=0, _strict_response_validation=True)


def _reqs_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    requests = make_requests(5)
    requests[index] = {**requests[index], **changes}
    return requests


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "requests: List should have at least 1 item after validation, not 0"),
        (_reqs_with(3, custom_id="x" * 65), "requests.3.custom_id: String should have at most 64 characters"),
        (_reqs_with(1, custom_id=""), "requests.1.custom_id: String should have at least 1 character"),
        (_reqs_with(2, custom_id="has space"), "requests.2.custom_id: String should match pattern"),
        (_reqs_with(2, custom_id=7), "requests.2.custom_id: Input should be a valid string"),
        (_reqs_with(4, custom_id="req-0"), "requests.4.custom_id: Duplicate custom_id 'req-0'"),
        (_reqs_with(0, params="text"), "requests.0.params: Input should be a valid dictionary"),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        ([{"params": {}}], "requests.0.custom_id: Field required"),
        ([{"custom_id": "a", "params": {}, "extra": 1}], "requests.0.extra: Extra inputs are not permitted"),
        (["nope"], "requests.0: Input should be a valid dictionary"),
    ],
)
def test_invalid_create_is_400_naming_the_path(client: anthropic.Anthropic, requests: Any, message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.create(requests=requests)
    err = info.value
    assert err.status_code == 400
    assert isinstance(err.body, dict)
    assert err.body["type"] == "error"
    assert err.body["error"]["type"] == "invalid_request_error"
    assert err.body["error"]["message"].startswith(message)
    assert err.body["request_id"] == err.response.headers["request-id"]


def test_more_than_100000_requests_is_refused(client: anthropic.Anthropic) -> None:
    requests = [{"custom_id": f"r{i}", "params": {}} for i in range(100_001)]
    with pytest.raises(anthropic.BadRequestError, match="at most 100000 items"):
        client.messages.batches.create(requests=requests)


def test_exactly_100000_requests_are_accepted(client: anthropic.Anthropic) -> None:
    params = {"model": "claude-sonnet-4-5", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    requests = [{"custom_id": f"r{i}", "params": params} for i in range(100_000)]
    batch = client.messages.batches.create(requests=requests)
    assert batch.request_counts.processing == 100_000


def test_extra_top_level_keys_are_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="surprise: Extra inputs are not permitted"):
        client.messages.batches.create(requests=make_requests(1), extra_body={"surprise": True})
