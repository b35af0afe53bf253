"""``batchsim record`` is transparent: the same SDK code gets the same bytes through the proxy as
from the upstream directly (apart from ``results_url``), faults and retry headers included."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from serverproc import ServerProcess

from batchsim._anthropic.responder import load_canned
from batchsim._engine.scenario import Scenario

from .conftest import UPSTREAM_KEY, recorder, upstream, write_scenario

pytestmark = pytest.mark.server

FAULTY = """
seed = 11
[timing]
start_delay = 30.0
per_request = 20.0
concurrency = 5
[outcomes]
errored = 0.2
error_types = { api_error = 0.5, overloaded_error = 0.5 }
[[rules]]
custom_id = "^poison-"
result = "errored"
error_type = "invalid_request_error"
[[faults]]
endpoint = "create"
status = 429
times = 1
retry_after = 0.5
retry_after_ms = 20
should_retry = true
[[faults]]
endpoint = "retrieve"
status = 529
times = 1
retry_after_ms = 10
[[faults]]
endpoint = "list"
kind = "drop"
times = 1
"""

Answer = tuple[str, int | None, list[tuple[str, str]], bytes]
_URL = re.compile(rb'"results_url":"[^"]*"')
# Control-plane calls (the health polls while processes start) also draw request ids, so the two
# upstreams' request-id sequences are shifted by a start-up-dependent amount: ids are compared
# by form, everything else byte for byte.
_REQUEST_ID = re.compile(rb"req_[A-Za-z0-9]{20,}")
# Two servers never hand out the same batch ids (nor the message ids derived from them): ids are
# compared by form too.
_IDS = re.compile(rb"(msgbatch|msg|toolu|srvtoolu)_01[A-Za-z0-9]{22}")


def _masked(data: bytes) -> bytes:
    return _IDS.sub(rb"\1_*", _REQUEST_ID.sub(b"req_*", data))


def _same(answer: Answer) -> Answer:
    step, status, headers, body = answer
    headers = [(k, _masked(v.encode()).decode()) for k, v in headers]
    return step, status, headers, _masked(_URL.sub(b"", body))


def _answer(step: str, response: httpx2.Response) -> Answer:
    hop = ("connection", "keep-alive")
    headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in hop)
    return step, response.status_code, headers, response.read()


def _requests(n: int) -> list[dict[str, Any]]:
    params = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}
    requests = [{"custom_id": f"req-{i}", "params": params} for i in range(n)]
    requests.append({"custom_id": "poison-1", "params": params})
    requests.append({"custom_id": "bad-params", "params": {"model": "m", "messages": []}})
    return requests


def exercise(client: anthropic.Anthropic, server: ServerProcess) -> list[Answer]:
    """Client code touching every endpoint and every fault of ``FAULTY``; every raw answer."""
    seen: list[Answer] = []
    batches = client.messages.batches
    with pytest.raises(anthropic.RateLimitError) as limited:
        batches.create(requests=_requests(12))
    seen.append(_answer("create 429", limited.value.response))
    created = batches.with_raw_response.create(requests=_requests(12))
    seen.append(_answer("create", created.http_response))
    batch_id = created.parse().id
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        batches.retrieve(batch_id)
    seen.append(_answer("retrieve 529", overloaded.value.response))
    seen.append(_answer("retrieve", batches.with_raw_response.retrieve(batch_id).http_response))
    with pytest.raises(anthropic.BadRequestError) as early:
        batches.delete(batch_id)
    seen.append(_answer("delete too early", early.value.response))
    with pytest.raises(anthropic.APIConnectionError):
        batches.list(limit=5)
    seen.append(_answer("list", batches.with_raw_response.list(limit=5).http_response))
    server.advance(3600)
    seen.append(_answer("retrieve ended", batches.with_raw_response.retrieve(batch_id).http_response))
    with batches.with_streaming_response.results(batch_id) as results:
        seen.append(("results", results.status_code, sorted(results.headers.items()), results.read()))
    with pytest.raises(anthropic.BadRequestError) as late:
        batches.cancel(batch_id)
    seen.append(_answer("cancel ended", late.value.response))
    with pytest.raises(anthropic.NotFoundError) as unknown:
        batches.retrieve("msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
    seen.append(_answer("unknown", unknown.value.response))
    with pytest.raises(anthropic.AuthenticationError) as wrong_key:
        batches.retrieve(batch_id, extra_headers={"x-api-key": "not-the-key"})
    seen.append(_answer("wrong key", wrong_key.value.response))
    seen.append(_answer("delete", batches.with_raw_response.delete(batch_id).http_response))
    return seen


def test_answers_through_the_proxy_are_the_upstreams_bytes(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "faulty.toml", FAULTY)
    out = tmp_path / "cassette"
    with (
        upstream("--scenario", str(scenario)) as direct,
        upstream("--scenario", str(scenario)) as behind,
        recorder(behind.url, out) as proxy,
    ):
        with anthropic.Anthropic(base_url=direct.url, api_key=UPSTREAM_KEY, max_retries=0) as client:
            expected = exercise(client, direct)
        with anthropic.Anthropic(base_url=proxy.url, api_key=UPSTREAM_KEY, max_retries=0) as client:
            got = exercise(client, behind)
    # results_url leads back through the proxy; everything else is the upstream's bytes
    ended = next(a for a in got if a[0] == "retrieve ended")[3]
    assert b'"results_url":"%b/v1/messages/batches/' % proxy.url.encode() in ended
    assert [a[0] for a in got] == [a[0] for a in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert _same(mine) == _same(theirs), mine[0]
    retry = dict(got[0][2])
    assert (retry["retry-after"], retry["retry-after-ms"], retry["x-should-retry"]) == ("0.5", "20", "true")

    # The cassette: the create body, the results (usable as canned), no key anywhere.
    (folder,) = (out / "batches").iterdir()
    assert b'"custom_id":"poison-1"' in (folder / "create.json").read_bytes()
    results = next(a for a in got if a[0] == "results")[3]
    assert (folder / "results.jsonl").read_bytes() == results
    assert (out / "canned.jsonl").read_bytes() == results
    assert set(load_canned(out / "canned.jsonl")) == {*(f"req-{i}" for i in range(12)), "poison-1", "bad-params"}
    timeline = (folder / "timeline.jsonl").read_text().splitlines()
    assert [orjson.loads(line)["call"] for line in timeline][-1] == "delete"
    assert orjson.loads(timeline[-2])["processing_status"] == "ended"
    calls = (out / "calls.jsonl").read_text().splitlines()
    assert any('"status":429' in line and '"retry-after-ms":"20"' in line for line in calls)
    Scenario.load(out / "scenario.toml")
    for path in out.rglob("*"):
        if path.is_file():
            assert UPSTREAM_KEY.encode() not in path.read_bytes(), path


def _digest(chunks: Callable[[], Any]) -> tuple[int, str]:
    """Size and digest of the bytes, ids masked (two servers' ids differ)."""
    data = b"".join(chunks())
    return len(data), hashlib.sha256(_masked(data)).hexdigest()


@pytest.mark.slow
def test_results_of_a_100k_batch_stream_through_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "cassette"
    requests = _requests(100_000 - 2)
    seen = []
    with upstream() as direct, upstream() as behind, recorder(behind.url, out) as proxy:
        for server, url in ((direct, direct.url), (behind, proxy.url)):
            with anthropic.Anthropic(base_url=url, api_key=UPSTREAM_KEY, max_retries=0, timeout=600) as client:
                batch = client.messages.batches.create(requests=requests)
                server.advance(3600)
                with client.messages.batches.with_streaming_response.results(batch.id) as stream:
                    seen.append(_digest(lambda s=stream: s.iter_bytes(1 << 20)))  # type: ignore[misc]
                # A second download is streamed again, and recorded only once.
                with client.messages.batches.with_streaming_response.results(batch.id) as stream:
                    assert _digest(lambda s=stream: s.iter_bytes(1 << 20)) == seen[-1]  # type: ignore[misc]
    assert seen[0] == seen[1]
    assert seen[0][0] > 50_000_000
    (folder,) = (out / "batches").iterdir()
    assert _digest(lambda: [(folder / "results.jsonl").read_bytes()]) == seen[0]
    assert _digest(lambda: [(out / "canned.jsonl").read_bytes()]) == seen[0]
