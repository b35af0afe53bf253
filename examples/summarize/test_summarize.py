"""Tests of the summarize workflow, offline, with the batchsim pytest plugin (no conftest needed)."""

from __future__ import annotations

import anthropic
import pytest
from summarize import MODEL, build_requests, summarize

from batchsim.pytest_plugin import BatchsimFixture, BatchsimServer

DOCS = {f"doc-{i}": f"Document number {i}. " * 20 for i in range(12)}
SLOW = {"per_request": 45.0, "concurrency": 4}  # 12 requests, 4 at a time: about 3 minutes


@pytest.mark.batchsim(autoadvance=True, timing=SLOW)
def test_every_document_gets_a_summary(batchsim: BatchsimFixture) -> None:
    client = batchsim.client()
    report = summarize(DOCS, client)
    assert sorted(report.summaries) == sorted(DOCS)
    assert report.failures == {}
    # Polling slept through minutes of emulator time, and no wall time.
    batch = client.messages.batches.retrieve(report.batches[0])
    assert batch.ended_at is not None
    assert (batch.ended_at - batch.created_at).total_seconds() == 136  # 1 s start + 3 rounds of 45 s
    assert batchsim.now().isoformat() == "2026-01-01T00:03:00+00:00"  # polled once a minute
    sent = batchsim.created_requests()
    assert [r["params"]["model"] for r in sent] == [MODEL] * len(DOCS)


@pytest.mark.batchsim(autoadvance=True, outcomes={"errored": 0.3}, seed=7)
def test_failed_requests_are_retried_with_their_original_params(batchsim: BatchsimFixture) -> None:
    report = summarize(DOCS, batchsim.client(), retries=4)
    assert sorted(report.summaries) == sorted(DOCS)
    assert len(report.batches) > 1, "the seed makes some requests fail the first time"
    originals = {r["custom_id"]: r for r in build_requests(DOCS)}
    for batch_id in report.batches[1:]:
        for request in batchsim.created_requests(batch_id):
            assert request == originals[request["custom_id"]]


@pytest.mark.batchsim(
    autoadvance=True,
    rules=[
        {"custom_id": "^doc-3$", "result": "errored", "error_type": "overloaded_error"},
        {"custom_id": "^doc-5$", "result": "errored", "error_type": "invalid_request_error", "message": "bad"},
    ],
)
def test_permanent_failures_are_reported_and_invalid_requests_not_retried(batchsim: BatchsimFixture) -> None:
    report = summarize(DOCS, batchsim.client(), retries=2)
    assert report.failures == {"doc-3": "overloaded_error", "doc-5": "invalid request: bad"}
    assert len(report.summaries) == len(DOCS) - 2
    sizes = [len(batchsim.created_requests(b)) for b in report.batches]
    assert sizes == [12, 1, 1]  # doc-3 retried twice, doc-5 never


@pytest.mark.batchsim(autoadvance=True)
def test_code_that_builds_its_own_client(batchsim_server: BatchsimServer) -> None:
    report = summarize({"a": "Alpha.", "b": "Beta."})  # anthropic.Anthropic() from the environment
    assert sorted(report.summaries) == ["a", "b"]
    create = next(c for c in batchsim_server.emulator.calls if c.endpoint == "create")
    assert create.headers["authorization"] == f"Bearer {batchsim_server.api_key}"


def test_an_unfinished_batch_has_no_results(batchsim: BatchsimFixture) -> None:
    client = batchsim.client()
    batch = client.messages.batches.create(requests=build_requests({"x": "text"}))  # type: ignore[arg-type]
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        client.messages.batches.results(batch.id)
