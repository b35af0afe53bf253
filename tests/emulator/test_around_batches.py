"""The calls a batch job makes around its batches, through the current SDK (sync and async, in
process and over HTTP to a real ``batchsim serve``): token counting, the model catalogue, the
Files API, and requests that reference uploaded files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import jsonschema
import pytest

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport

from .conftest import Target

REFERENCE = Path("/work/shared/reference/anthropic-openapi.json")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" * 40
MESSAGES = [{"role": "user", "content": "Summarize the attached report in one sentence."}]


def _schema(name: str) -> dict[str, Any]:
    """A component of the API's OpenAPI document, resolvable on its own."""
    document = json.loads(REFERENCE.read_text())
    return {**document["components"]["schemas"][name], "components": document["components"]}


def _valid(value: Any, name: str) -> None:
    if REFERENCE.exists():
        jsonschema.validate(value, _schema(name))


def _control(sim: Emulator) -> httpx2.Client:
    return httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://batchsim.local")


def _document(file_id: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "document", "source": {"type": "file", "file_id": file_id}},
                {"type": "text", "text": "Summarize this document."},
            ],
        }
    ]


# -- token counting ------------------------------------------------------------------------------


def test_count_tokens_answers_the_estimate_the_batch_reports(target: Target) -> None:
    client = target.client()
    counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES, system="Be brief.")
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": "one",
                "params": {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 300,
                    "messages": MESSAGES,
                    "system": "Be brief.",
                },
            }
        ]
    )
    target.advance(3600)
    (line,) = list(client.messages.batches.results(batch.id))
    assert line.result.type == "succeeded"
    assert counted.input_tokens == line.result.message.usage.input_tokens > 0


def test_count_tokens_refuses_what_a_batch_request_would_err_with(target: Target) -> None:
    client = target.client()
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "  "}])
    assert bad.value.status_code == 400
    assert bad.value.body["error"] == {  # type: ignore[index]
        "type": "invalid_request_error",
        "message": "messages: text content blocks must contain non-whitespace text",
    }
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs are not permitted"):
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES, extra_body={"max_tokens": 5})
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.count_tokens(model="claude-imaginary-9", messages=MESSAGES)
    assert missing.value.body["error"] == {"type": "not_found_error", "message": "model: claude-imaginary-9"}  # type: ignore[index]


def test_count_tokens_is_a_fault_endpoint_and_journaled() -> None:
    sim = Emulator(scenario={"faults": [{"endpoint": "count_tokens", "status": 529, "times": 1}]})
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)
    assert overloaded.value.status_code == 529
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES).input_tokens > 0
    calls = [(c.endpoint, c.status) for c in sim.calls]
    assert calls == [("count_tokens", 529), ("count_tokens", 200)]


def test_count_tokens_async(target: Target) -> None:
    async def run() -> tuple[int, str]:
        client = target.async_client()
        try:
            counted = await client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)
            try:
                await client.messages.count_tokens(
                    model="claude-haiku-4-5", messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]
                )
            except anthropic.BadRequestError as exc:
                return counted.input_tokens, str(exc.body["error"]["message"])  # type: ignore[index]
            raise AssertionError("an empty text block was counted")
        finally:
            await client.close()

    tokens, message = asyncio.run(run())
    assert tokens > 0
    assert message == "messages: text content blocks must be non-empty"


# -- models --------------------------------------------------------------------------------------


def test_models_list_pages_through_the_whole_catalogue(target: Target) -> None:
    client = target.client()
    first = client.models.list(limit=5)
    assert len(first.data) == 5 and first.has_more and first.first_id == first.data[0].id
    every = [m.id for m in client.models.list(limit=7)]  # auto-pagination with after_id
    assert len(every) == len(set(every)) > 30
    assert {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-2.0"} <= set(every)
    back = client.models.list(before_id=every[10], limit=3)
    assert [m.id for m in back.data] == every[7:10] and back.has_more
    raw = client.models.with_raw_response.list(limit=1000).parse().model_dump(mode="json")
    _valid(raw, "ListResponse_ModelInfo_")
    created = [m.created_at for m in client.models.list(limit=1000).data]
    assert created == sorted(created, reverse=True)  # newest first


def test_models_retrieve_and_lifecycle(target: Target) -> None:
    client = target.client()
    sonnet = client.models.retrieve("claude-sonnet-4-5")
    assert sonnet.type == "model" and sonnet.display_name == "Claude Sonnet 4.5" and sonnet.lifecycle == "active"
    assert sonnet.max_tokens == 64000
    retired = client.models.retrieve("claude-2.0")  # end of life July 21st, 2025
    assert retired.lifecycle == "retired"
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("claude-imaginary-9")
    assert missing.value.body["error"]["message"] == "model: claude-imaginary-9"  # type: ignore[index]


def test_models_async(target: Target) -> None:
    async def run() -> list[str]:
        client = target.async_client()
        try:
            return [m.id async for m in client.models.list(limit=20)]
        finally:
            await client.close()

    assert "claude-sonnet-4-5" in asyncio.run(run())


def test_a_scenario_adds_models_and_can_accept_any_name() -> None:
    sim = Emulator(
        scenario={"anthropic": {"models": [{"id": "team-model-1", "max_tokens": 100, "display_name": "Team 1"}]}}
    )
    client = sim.client(max_retries=0)
    assert client.models.retrieve("team-model-1").display_name == "Team 1"
    requests = [
        {"custom_id": name, "params": {"model": model, "max_tokens": tokens, "messages": MESSAGES}}
        for name, model, tokens in (
            ("ok", "team-model-1", 100),
            ("too-many", "team-model-1", 101),
            ("made-up", "made-up-model", 10),
            ("retired", "claude-3-sonnet-20240229", 10),
        )
    ]
    batch = client.messages.batches.create(requests=requests)
    sim.advance(3600)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded"
    assert results["too-many"].error.error.message == (  # type: ignore[union-attr]
        "max_tokens: 101 > 100, which is the maximum allowed number of output tokens for team-model-1"
    )
    assert results["made-up"].error.error.type == "not_found_error"  # type: ignore[union-attr]
    assert results["made-up"].error.error.message == "model: made-up-model"  # type: ignore[union-attr]
    assert results["retired"].error.error.message == "model: claude-3-sonnet-20240229"  # type: ignore[union-attr]

    sim.scenario = {"anthropic": {"any_model": True}}
    batch = client.messages.batches.create(requests=requests[2:3])
    sim.advance(3600)
    assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["succeeded"]


# -- files ---------------------------------------------------------------------------------------


def test_files_upload_list_retrieve_download_delete(target: Target) -> None:
    client = target.client()
    uploaded = client.files.upload(file=("report.pdf", PDF, "application/pdf"))
    assert uploaded.type == "file" and uploaded.filename == "report.pdf" and uploaded.mime_type == "application/pdf"
    assert uploaded.size_bytes == len(PDF) and uploaded.downloadable is False and uploaded.expires_at is None
    _valid(
        client.files.with_raw_response.retrieve_metadata(uploaded.id).parse().model_dump(mode="json"),
        "BetaFileMetadataSchema",
    )
    second = client.files.upload(file=("notes.txt", b"plain notes", "text/plain"), expires_in_seconds=3600)
    assert second.expires_at is not None and (second.expires_at - second.created_at).total_seconds() == 3600
    listed = client.files.list(limit=1)
    assert [f.id for f in listed.data] == [second.id] and listed.has_more
    assert [f.id for f in client.files.list()] == [second.id, uploaded.id]
    assert client.files.retrieve_metadata(uploaded.id).size_bytes == len(PDF)
    with pytest.raises(anthropic.BadRequestError, match="not downloadable"):
        client.files.download(uploaded.id)
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.type) == (uploaded.id, "file_deleted")
    with pytest.raises(anthropic.NotFoundError, match=f"File not found: {uploaded.id}"):
        client.files.retrieve_metadata(uploaded.id)
    target.advance(3601)  # the text file expired
    assert [f.id for f in client.files.list()] == []


def test_file_uploads_are_checked(target: Target) -> None:
    client = target.client()
    for seconds, message in ((59, "greater than or equal to 3600"), (7_776_001, "less than or equal to 7776000")):
        with pytest.raises(anthropic.BadRequestError, match=f"expires_in_seconds: Input should be {message}"):
            client.files.upload(file=("a.txt", b"x", "text/plain"), expires_in_seconds=seconds)
    with pytest.raises(anthropic.BadRequestError, match="filename"):
        client.files.upload(file=("a|b.txt", b"x", "text/plain"))
    unnamed = client.files.upload(file=("", b"x", "text/plain"))
    assert unnamed.filename == "unnamed.txt"


def test_files_are_per_key_and_async(target: Target) -> None:
    async def run() -> tuple[str, list[str]]:
        client = target.async_client()
        try:
            uploaded = await client.files.upload(file=("a.pdf", PDF, "application/pdf"))
            return uploaded.id, [f.id async for f in client.files.list()]
        finally:
            await client.close()

    file_id, listed = asyncio.run(run())
    assert listed == [file_id]
    other = target.client(api_key="another-key")
    assert [f.id for f in other.files.list()] == []
    with pytest.raises(anthropic.NotFoundError):
        other.files.retrieve_metadata(file_id)


def test_the_beta_routes_older_sdks_use() -> None:
    sim = Emulator()
    client = sim.client(max_retries=0)
    uploaded = client.beta.files.upload(file=("a.pdf", PDF, "application/pdf"))
    assert client.beta.files.retrieve_metadata(uploaded.id).id == uploaded.id
    assert [f.id for f in client.beta.files.list()] == [uploaded.id]
    assert client.beta.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES).input_tokens > 0
    assert client.beta.models.retrieve("claude-sonnet-4-5").id == "claude-sonnet-4-5"
    assert client.beta.files.delete(uploaded.id).type == "file_deleted"


def test_openai_uploads_still_reach_openai_on_the_same_emulator() -> None:
    sim = Emulator()
    mine = sim.client(max_retries=0).files.upload(file=("a.pdf", PDF, "application/pdf"))
    theirs = sim.openai_client(max_retries=0).files.create(
        file=("in.jsonl", b"{}\n", "application/jsonl"), purpose="user_data"
    )
    assert theirs.object == "file" and theirs.purpose == "user_data" and theirs.id != mine.id
    assert [f.id for f in sim.client().files.list()] == [mine.id]
    assert [f.id for f in sim.openai_client().files.list()] == [theirs.id]
    assert {c.endpoint for c in sim.calls} >= {"anthropic.files.upload", "files.create"}


def test_file_faults_use_their_endpoint_names() -> None:
    sim = Emulator(scenario={"faults": [{"endpoint": "anthropic.files.upload", "status": 503, "times": 1}]})
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.InternalServerError):
        client.files.upload(file=("a.pdf", PDF, "application/pdf"))
    assert client.files.upload(file=("a.pdf", PDF, "application/pdf")).size_bytes == len(PDF)


# -- batch requests that reference files ---------------------------------------------------------


def test_batch_requests_read_the_files_they_reference(target: Target) -> None:
    client = target.client()
    uploaded = client.files.upload(file=("report.pdf", PDF, "application/pdf"))
    params = {"model": "claude-sonnet-4-5", "max_tokens": 100}
    requests = [
        {"custom_id": "with-file", "params": {**params, "messages": _document(uploaded.id)}},
        {"custom_id": "unknown-file", "params": {**params, "messages": _document("file_011Cnope")}},
        {"custom_id": "plain", "params": {**params, "messages": _document(uploaded.id)[:0] + MESSAGES}},
    ]
    counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=_document(uploaded.id))
    assert counted.input_tokens > len(PDF) // 4  # the file's bytes count
    batch = client.messages.batches.create(requests=requests)
    target.advance(3600)
    assert client.messages.batches.retrieve(batch.id).request_counts.errored == 1
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["with-file"].message.usage.input_tokens == counted.input_tokens  # type: ignore[union-attr]
    error = results["unknown-file"].error.error  # type: ignore[union-attr]
    assert (error.type, error.message) == ("invalid_request_error", "File not found: file_011Cnope")
    with pytest.raises(anthropic.BadRequestError, match="File not found: file_011Cnope"):
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=_document("file_011Cnope"))
    another = target.client(api_key="another-key")
    batch = another.messages.batches.create(requests=requests[:1])
    target.advance(3600)
    (line,) = list(another.messages.batches.results(batch.id))
    assert line.result.error.error.message == f"File not found: {uploaded.id}"  # type: ignore[union-attr]


def test_a_scenario_changes_the_fields_it_gives_of_a_known_model() -> None:
    sim = Emulator(scenario={"anthropic": {"models": [{"id": "claude-sonnet-4-5", "lifecycle": "retired"}]}})
    client = sim.client(max_retries=0)
    changed = client.models.retrieve("claude-sonnet-4-5")
    assert (changed.lifecycle, changed.display_name, changed.max_tokens) == ("retired", "Claude Sonnet 4.5", 64000)
    batch = client.messages.batches.create(
        requests=[{"custom_id": "a", "params": {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": MESSAGES}}]
    )
    sim.advance(3600)
    (line,) = list(client.messages.batches.results(batch.id))
    assert line.result.error.error.message == "model: claude-sonnet-4-5"  # type: ignore[union-attr]


def test_a_file_deleted_before_its_requests_finish_errs_them_everywhere_and_after_a_restart(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "batches.db")
    sim = Emulator(database=db, journal=False)
    try:
        with sim.client() as client:
            uploaded = client.files.upload(file=("report.pdf", PDF, "application/pdf"))
            params = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": _document(uploaded.id)}
            batch = client.messages.batches.create(
                requests=[{"custom_id": f"r{i}", "params": params} for i in range(3)]
            )
            client.files.delete(uploaded.id)
            sim.advance(hours=1)
        # The dashboard is the first to look: it shows what the API will answer.
        (row,) = _control(sim).get("/_batchsim/batches").json()["data"]
        assert row["request_counts"]["errored"] == 3
    finally:
        sim.close()
    restarted = Emulator(database=db, journal=False, publish=False)
    try:
        (row,) = _control(restarted).get("/_batchsim/batches").json()["data"]
        assert row["request_counts"]["errored"] == 3
        with restarted.client() as client:
            assert client.messages.batches.retrieve(batch.id).request_counts.errored == 3
            lines = list(client.messages.batches.results(batch.id))
        assert [line.result.error.error.message for line in lines] == [f"File not found: {uploaded.id}"] * 3  # type: ignore[union-attr]
    finally:
        restarted.close()
