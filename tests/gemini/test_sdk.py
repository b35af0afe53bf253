"""google-genai 3.x in process (``Emulator.gemini_client()``): the batch workflow, results, answers,
states over time, files and resumable uploads, as the unmodified SDK sends and reads them."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import jsonschema
import orjson
import pytest
from google import genai
from google.genai import errors, types

from batchsim import Emulator, Scenario

from .conftest import MODEL, inline, line


def test_an_inline_batch_runs_pending_running_succeeded(sim: Emulator, client: genai.Client) -> None:
    job = client.batches.create(model=MODEL, src=inline(3), config={"display_name": "first"})
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.model == f"models/{MODEL}" and job.display_name == "first"
    assert job.create_time == sim.now() and job.end_time is None and not job.done
    sim.advance(seconds=5)  # [gemini] pending: 5 s by default
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    sim.advance(minutes=1)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and done.done
    assert done.end_time is not None and done.create_time is not None and done.end_time > done.create_time
    assert done.dest is not None and done.dest.inlined_responses is not None
    answers = done.dest.inlined_responses
    assert [r.metadata for r in answers] == [{"key": f"req-{i}"} for i in range(3)]
    for i, answer in enumerate(answers):
        assert answer.error is None and answer.response is not None
        assert answer.response.text == f"Simulated reply to req-{i}: Question {i}"
        candidate = answer.response.candidates[0]  # type: ignore[index]
        assert candidate.finish_reason == types.FinishReason.STOP
        usage = answer.response.usage_metadata
        assert usage is not None and usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count  # type: ignore[operator]
        assert answer.response.model_version == MODEL


def test_the_wire_names_states_as_the_rest_api_does(sim: Emulator) -> None:
    """The wire says BATCH_STATE_*, the SDK renames them; the operation carries what the REST
    guide reads (``done``, ``response.inlinedResponses``) and what the SDK reads (``metadata``)."""
    raw = sim.gemini_client()._api_client
    created = raw.request(
        "post",
        f"models/{MODEL}:batchGenerateContent",
        {
            "batch": {
                "inputConfig": {
                    "requests": {
                        "requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}, "metadata": {"key": "k"}}]
                    }
                }
            }
        },
    )
    op = json.loads(created.body)
    assert op["metadata"]["state"] == "BATCH_STATE_PENDING" and "done" not in op
    assert op["metadata"]["@type"].endswith(".GenerateContentBatch")
    assert op["metadata"]["batchStats"] == {"requestCount": "1", "pendingRequestCount": "1"}
    sim.advance(minutes=1)
    op = json.loads(raw.request("get", op["name"], {}).body)
    assert op["done"] is True and op["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert op["metadata"]["batchStats"] == {"requestCount": "1", "successfulRequestCount": "1"}
    inlined = op["response"]["inlinedResponses"]["inlinedResponses"]
    assert op["metadata"]["output"]["inlinedResponses"]["inlinedResponses"] == inlined
    assert inlined[0]["metadata"] == {"key": "k"}
    assert op["response"]["@type"].endswith(".GenerateContentBatchOutput")


def test_answers_follow_what_the_request_asks(sim: Emulator, client: genai.Client) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1},
            "score": {"type": "INTEGER", "minimum": 0, "maximum": 10},
        },
        "required": ["title", "tags", "score"],
        "propertyOrdering": ["title", "tags", "score"],
    }
    weather = types.FunctionDeclaration(
        name="get_weather",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    requests: list[Any] = [
        {
            "contents": "Give me JSON",
            "metadata": {"key": "json"},
            "config": {"response_mime_type": "application/json", "response_schema": schema},
        },
        {
            "contents": "Weather?",
            "metadata": {"key": "tool"},
            "config": {
                "tools": [types.Tool(function_declarations=[weather])],
                "tool_config": {"function_calling_config": {"mode": "ANY"}},
            },
        },
        {"contents": "A long story " * 40, "metadata": {"key": "cut"}, "config": {"max_output_tokens": 3}},
        {"contents": "Two of them", "metadata": {"key": "two"}, "config": {"candidate_count": 2}},
    ]
    job = client.batches.create(model=MODEL, src=requests)
    sim.advance(minutes=5)
    answers = {r.metadata["key"]: r.response for r in client.batches.get(name=job.name).dest.inlined_responses}  # type: ignore[union-attr, index]
    value = json.loads(answers["json"].text)  # type: ignore[union-attr, arg-type]
    jsonschema.validate(value, {**{k: v.lower() if k == "type" else v for k, v in schema.items()}, "properties": {
        "title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "score": {"type": "integer", "minimum": 0, "maximum": 10}}})  # fmt: skip
    call = answers["tool"].function_calls[0]  # type: ignore[union-attr, index]
    assert call.name == "get_weather" and isinstance(call.args["city"], str)  # type: ignore[index]
    cut = answers["cut"].candidates[0]  # type: ignore[union-attr, index]
    assert cut.finish_reason == types.FinishReason.MAX_TOKENS
    assert answers["cut"].usage_metadata.candidates_token_count == 3  # type: ignore[union-attr]
    assert len(answers["two"].candidates) == 2  # type: ignore[union-attr, arg-type]
    again = sim.gemini_client().batches.create(model=MODEL, src=requests[:1])
    sim.advance(minutes=5)
    same = client.batches.get(name=again.name).dest.inlined_responses[0].response  # type: ignore[union-attr, index]
    assert isinstance(json.loads(same.text), dict)  # type: ignore[union-attr, arg-type]


def test_embeddings_have_the_models_dimension_and_follow_the_input(sim: Emulator, client: genai.Client) -> None:
    with pytest.warns(Warning, match="experimental"):
        job = client.batches.create_embeddings(
            model="gemini-embedding-001", src={"inlined_requests": {"contents": ["alpha", "beta", "alpha"]}}
        )
    eight_dims = {"inlined_requests": {"contents": ["alpha"], "config": {"output_dimensionality": 8}}}
    with pytest.warns(Warning, match="experimental"):
        small = client.batches.create_embeddings(model="text-embedding-004", src=eight_dims)  # type: ignore[arg-type]
    sim.advance(minutes=5)
    got = client.batches.get(name=job.name).dest.inlined_embed_content_responses  # type: ignore[union-attr]
    vectors = [r.response.embedding.values for r in got]  # type: ignore[union-attr]
    assert [len(v) for v in vectors] == [3072, 3072, 3072]  # type: ignore[arg-type]
    assert vectors[0] == vectors[2] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-3  # type: ignore[union-attr]
    eight = client.batches.get(name=small.name).dest.inlined_embed_content_responses[0]  # type: ignore[union-attr, index]
    assert len(eight.response.embedding.values) == 8  # type: ignore[union-attr, arg-type]


def test_an_uploaded_file_batch_gives_a_responses_file(sim: Emulator, client: genai.Client) -> None:
    lines = [line("a", "one"), line("b", "two"), {"key": "c", "request": {}}]
    data = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": "application/jsonl", "display_name": "in"}
    )
    assert uploaded.name is not None and uploaded.size_bytes == len(data) and uploaded.display_name == "in"
    assert uploaded.source == types.FileSource.UPLOADED and uploaded.state == types.FileState.ACTIVE
    assert client.files.get(name=uploaded.name).size_bytes == len(data)
    job = client.batches.create(model=MODEL, src=uploaded.name)
    sim.advance(minutes=5)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED  # one request errored: the job still succeeds
    assert done.dest is not None and done.dest.file_name is not None
    result = client.files.get(name=done.dest.file_name)
    assert result.source == types.FileSource.GENERATED and result.download_uri
    body = client.files.download(file=result)
    assert result.size_bytes == len(body)
    rows = [json.loads(x) for x in body.splitlines()]
    assert [r["key"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Simulated reply to a: one"
    assert rows[2]["error"] == {"code": 3, "message": "* GenerateContentRequest.contents: contents is not specified\n"}
    assert {f.name for f in client.files.list()} == {uploaded.name, done.dest.file_name}
    with pytest.raises(errors.ClientError) as refused:
        client.files.download(file=uploaded.name)
    assert refused.value.code == 400 and refused.value.status == "INVALID_ARGUMENT"
    client.files.delete(name=done.dest.file_name)
    with pytest.raises(errors.ClientError) as gone:
        client.files.get(name=done.dest.file_name)
    assert gone.value.code == 403 and gone.value.status == "PERMISSION_DENIED"


def test_a_large_upload_goes_in_chunks(sim: Emulator, client: genai.Client) -> None:
    rows = [orjson.dumps(line(f"k{i}", "x" * 900)) + b"\n" for i in range(9500)]
    data = b"".join(rows)
    assert len(data) > 8 * 1024 * 1024  # the SDK sends 8 MiB chunks: upload, then upload, finalize
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    assert uploaded.size_bytes == len(data)
    job = client.batches.create(model=MODEL, src=uploaded.name)  # type: ignore[arg-type]
    sim.advance(hours=1)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    body = client.files.download(file=done.dest.file_name)  # type: ignore[union-attr, arg-type]
    assert body.count(b"\n") == 9500 and body.startswith(b'{"key":"k0","response"')
    uploads = [c for c in sim.calls if c.endpoint == "gemini.files.upload"]
    assert len(uploads) == 3  # start, upload, upload + finalize
    assert all("x-goog-api-key" not in c.headers for c in uploads[1:])  # the upload URL authorizes itself


def test_list_pages_with_page_tokens(sim: Emulator, client: genai.Client) -> None:
    names = [client.batches.create(model=MODEL, src=inline(1)).name for _ in range(5)]
    page = client.batches.list(config={"page_size": 2})
    assert len(page.page) == 2 and page.config.get("page_token")  # type: ignore[union-attr]
    assert sorted(j.name for j in page) == sorted(names)  # type: ignore[type-var]
    other = sim.gemini_client(api_key="other-key")
    assert list(other.batches.list()) == []  # each key its own workspace
    with pytest.raises(errors.ClientError) as missing:
        other.batches.get(name=names[0])  # type: ignore[arg-type]
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"


def test_cancel_and_delete(sim: Emulator, client: genai.Client) -> None:
    job = client.batches.create(model=MODEL, src=inline(3))
    client.batches.cancel(name=job.name)  # type: ignore[arg-type]
    sim.advance(seconds=1)
    cancelled = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED and cancelled.done
    assert cancelled.dest is None  # by default a cancelled batch has no results
    with pytest.raises(errors.ClientError) as ended:
        client.batches.cancel(name=job.name)  # type: ignore[arg-type]
    assert ended.value.code == 400 and ended.value.status == "FAILED_PRECONDITION"
    running = client.batches.create(model=MODEL, src=inline(2))
    client.batches.delete(name=running.name)  # type: ignore[arg-type]  # any state
    with pytest.raises(errors.ClientError) as gone:
        client.batches.get(name=running.name)  # type: ignore[arg-type]
    assert gone.value.code == 404


def test_a_cancelled_batch_keeps_finished_results_when_the_scenario_says_so(sim: Emulator) -> None:
    sim.scenario = Scenario.of(
        gemini={"pending": 0, "cancelled_results": True}, timing={"start_delay": 0, "per_request": 10, "concurrency": 1}
    )
    client = sim.gemini_client()
    job = client.batches.create(model=MODEL, src=inline(4))
    sim.advance(seconds=15)  # the first request finished, the second runs
    client.batches.cancel(name=job.name)  # type: ignore[arg-type]
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING  # the one in flight finishes  # type: ignore[arg-type]
    sim.advance(seconds=10)
    done = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert done.state == types.JobState.JOB_STATE_CANCELLED
    answers = done.dest.inlined_responses  # type: ignore[union-attr]
    assert [a.response is not None for a in answers] == [True, True, False, False]  # type: ignore[union-attr]
    assert answers[3].error.code == 1  # type: ignore[union-attr, index]  # CANCELLED


def test_a_batch_still_running_after_48_hours_expires_without_results(sim: Emulator, client: genai.Client) -> None:
    sim.scenario = Scenario.of(timing={"per_request": 3600, "concurrency": 1})
    job = client.batches.create(model=MODEL, src=inline(60))
    sim.advance(hours=47, minutes=59)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING  # type: ignore[arg-type]
    sim.advance(minutes=1)
    expired = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert expired.state == types.JobState.JOB_STATE_EXPIRED and expired.dest is None
    assert expired.end_time == expired.create_time + timedelta(hours=48)  # type: ignore[operator]


def test_rules_and_canned_results_match_a_request_by_its_key(sim: Emulator) -> None:
    canned = [
        {
            "key": "req-1",
            "response": {
                "candidates": [{"content": {"parts": [{"text": "canned!"}], "role": "model"}, "finishReason": "STOP"}]
            },
        }
    ]
    sim.scenario = Scenario.of(
        rules=[{"custom_id": "^req-0$", "result": "errored", "error_type": "rate_limit_error"}], canned=canned
    )
    client = sim.gemini_client()
    job = client.batches.create(model=MODEL, src=inline(3))
    sim.advance(minutes=5)
    done = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    first, second, third = done.dest.inlined_responses  # type: ignore[union-attr, misc]
    assert first.error.code == 8 and first.response is None  # RESOURCE_EXHAUSTED
    assert second.response.text == "canned!"
    assert third.response.text.startswith("Simulated reply to req-2")
    sim.scenario = Scenario.of(
        rules=[{"custom_id": "^req-0$", "result": "errored", "error_type": "api_error"}], gemini={"error_codes": "http"}
    )
    job = sim.gemini_client().batches.create(model=MODEL, src=inline(1))
    sim.advance(minutes=5)
    assert sim.gemini_client().batches.get(name=job.name).dest.inlined_responses[0].error.code == 500  # type: ignore[union-attr, index, arg-type]


def test_faults_use_googles_envelope_and_the_sdks_opt_in_retry(sim: Emulator) -> None:
    sim.scenario = Scenario.of(
        faults=[{"endpoint": "gemini.batches.create", "status": 429, "times": 1, "retry_after": 0}]
    )
    plain = sim.gemini_client()
    with pytest.raises(errors.ClientError) as limited:
        plain.batches.create(model=MODEL, src=inline(1))
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert limited.value.details["error"]["details"][0]["@type"].endswith("RetryInfo")
    sim.scenario = Scenario.of(faults=[{"endpoint": "gemini.batches.get", "status": 503, "times": 1}])
    job = plain.batches.create(model=MODEL, src=inline(1))
    retrying = sim.gemini_client(
        http_options={"retry_options": {"attempts": 3, "initial_delay": 0.01, "max_delay": 0.01}}
    )
    assert retrying.batches.get(name=job.name).name == job.name  # type: ignore[arg-type]
    statuses = [c.status for c in sim.calls if c.endpoint == "gemini.batches.get"]
    assert statuses == [503, 200]


def test_credentials_and_limits(sim: Emulator) -> None:
    app = Emulator(api_keys=["good"])
    try:
        with pytest.raises(errors.ClientError) as bad:
            app.gemini_client(api_key="bad").batches.list()
        assert bad.value.code == 400 and bad.value.message == "API key not valid. Please pass a valid API key."
        assert list(app.gemini_client(api_key="good").batches.list()) == []
    finally:
        app.close()
    big = [{"contents": "x" * 1_000_000, "metadata": {"key": f"k{i}"}} for i in range(21)]
    with pytest.raises(errors.ClientError) as large:
        sim.gemini_client().batches.create(model=MODEL, src=big)
    assert large.value.code == 400 and large.value.message == "Request payload size exceeds the limit: 20971520 bytes."
    with pytest.raises(errors.ClientError) as missing:
        sim.gemini_client().batches.create(model=MODEL, src="files/nosuchfile")
    assert missing.value.code == 403 and "may not exist" in str(missing.value.message)


def test_the_async_client(sim: Emulator, client: genai.Client) -> None:
    async def flow() -> types.BatchJob:
        job = await client.aio.batches.create(model=MODEL, src=inline(2))
        sim.advance(minutes=5)
        return await client.aio.batches.get(name=job.name)  # type: ignore[arg-type]

    done = asyncio.run(flow())
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and len(done.dest.inlined_responses) == 2  # type: ignore[union-attr, arg-type]


def test_a_request_nested_too_deeply_errors_alone(sim: Emulator) -> None:
    """Requests are encoded after the create's answer: one orjson cannot encode (nested past 254
    levels, which it still parses) ends with an error, the others run."""
    deep = '{"a":' * 300 + '"leaf"' + "}" * 300
    body = (
        '{"batch": {"inputConfig": {"requests": {"requests": ['
        '{"request": {"contents": [{"parts": [{"text": "fine"}]}]}, "metadata": {"key": "ok"}},'
        '{"request": {"contents": [{"parts": [{"text": "deep"}]}], "labels": '
        + deep
        + '}, "metadata": {"key": "deep"}}'
        "]}}}}"
    ).encode()
    raw = sim.gemini_client()._api_client
    created = raw._httpx_client.post(  # type: ignore[union-attr]
        f"http://batchsim.local/v1beta/models/{MODEL}:batchGenerateContent",
        content=body,
        headers={"x-goog-api-key": "k", "content-type": "application/json"},
    )
    assert created.status_code == 200, created.text
    sim.advance(minutes=5)
    done = sim.gemini_client(api_key="k").batches.get(name=created.json()["name"])
    ok, bad = done.dest.inlined_responses  # type: ignore[union-attr, misc]
    assert ok.response.text.startswith("Simulated reply to ok")
    assert bad.error.code == 3 and "nested too deeply" in bad.error.message


def test_no_google_genai_until_a_client_is_built() -> None:
    """An emulator (what ``batchsim serve`` builds) serves Gemini without importing the SDK."""
    code = (
        "import sys, batchsim; sim = batchsim.Emulator(); app = sim.app; "
        "print('google.genai' in sys.modules); sim.gemini_client(); print('google.genai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_an_upload_session_refuses_a_wrong_offset_and_ends_after_a_week(sim: Emulator) -> None:
    http = sim.gemini_client()._api_client._httpx_client
    start = {
        "x-goog-api-key": "k",
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": "10",
    }
    url = http.post("http://batchsim.local/upload/v1beta/files", headers=start).headers["x-goog-upload-url"]
    first = http.post(url, headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}, content=b"12345")
    assert first.status_code == 200 and first.headers["x-goog-upload-status"] == "active"
    query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "5"
    wrong = http.post(
        url, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "3"}, content=b"x"
    )
    assert wrong.status_code == 400 and wrong.headers["x-goog-upload-status"] == "final"
    assert http.post(url, headers={"X-Goog-Upload-Command": "query"}).status_code == 404  # the session ended
    url = http.post("http://batchsim.local/upload/v1beta/files", headers=start).headers["x-goog-upload-url"]
    sim.advance(days=8)
    late = http.post(
        url, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}, content=b"1234567890"
    )
    assert late.status_code == 404 and late.json()["error"]["status"] == "NOT_FOUND"
    too_big = http.post(
        "http://batchsim.local/upload/v1beta/files",
        headers={**start, "X-Goog-Upload-Header-Content-Length": str(3 * 1024**3)},
    )
    assert too_big.status_code == 400 and "2 GB" in too_big.json()["error"]["message"]
