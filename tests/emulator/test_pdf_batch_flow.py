"""A batch job as teams write it: upload a PDF once, batch 100 requests that reference it by
``file_id``, delete the file while the batch runs. Requests processed before the delete read the
file (its bytes count in ``usage.input_tokens``); those processed after it err as the API does.

The plan processes 10 requests at a time, 2 seconds each, from 1 second after the create: the
blocks finish at 3, 5, ... 21 seconds. Deleted at 10 seconds, the file was there for the 40
requests of the first four blocks, gone for the 60 others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from serverproc import ServerProcess, running_server

from batchsim import Emulator

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Page >> endobj\n" * 400 + b"%%EOF\n"
SCENARIO = {"timing": {"start_delay": 1.0, "per_request": 2.0, "concurrency": 10}}


def _job(client: anthropic.Anthropic, advance: Any) -> None:
    uploaded = client.files.upload(file=("contract.pdf", PDF, "application/pdf"))
    question = {"type": "text", "text": "List the parties to this contract."}
    document = {"type": "document", "source": {"type": "file", "file_id": uploaded.id}}
    requests = [
        {
            "custom_id": f"page-{i:03d}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 200,
                "messages": [{"role": "user", "content": [document, question]}],
            },
        }
        for i in range(100)
    ]
    counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=requests[0]["params"]["messages"])
    batch = client.messages.batches.create(requests=requests)
    advance(10)
    client.files.delete(uploaded.id)
    advance(3600)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (40, 60)
    results = list(client.messages.batches.results(batch.id))
    assert [r.result.type for r in results] == ["succeeded"] * 40 + ["errored"] * 60  # in processing order
    for line in results[:40]:
        assert line.result.message.usage.input_tokens == counted.input_tokens > len(PDF) // 4  # type: ignore[union-attr]
    for line in results[40:]:
        error = line.result.error.error  # type: ignore[union-attr]
        assert (error.type, error.message) == ("invalid_request_error", f"File not found: {uploaded.id}")
    # Read again (a second download, a list), the outcomes stand.
    assert [r.result.type for r in client.messages.batches.results(batch.id)].count("errored") == 60
    assert next(b for b in client.messages.batches.list() if b.id == batch.id).request_counts.errored == 60


def test_a_file_deleted_mid_batch_in_process() -> None:
    sim = Emulator(scenario=SCENARIO)
    _job(sim.client(max_retries=0), sim.advance)


def test_a_file_deleted_mid_batch_over_http(fresh_server: ServerProcess) -> None:
    fresh_server.control("PUT", "scenario", json=SCENARIO).raise_for_status()
    with anthropic.Anthropic(base_url=fresh_server.url, api_key="pdf-team", max_retries=0) as client:
        _job(client, fresh_server.advance)


@pytest.mark.server
def test_a_file_deleted_mid_batch_with_workers_sharing_a_database(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with running_server("--db", str(db), "--workers", "2") as server:
        server.control("PUT", "scenario", json=SCENARIO).raise_for_status()
        with anthropic.Anthropic(base_url=server.url, api_key="pdf-team", max_retries=0) as client:
            _job(client, server.advance)
