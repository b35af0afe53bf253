"""Gemini over HTTP against a real ``batchsim serve``: google-genai 3.x unmodified
(``http_options=HttpOptions(base_url=url)``), the REST workflow of Google's batch guide (curl-style
calls, ``v1beta``, snake_case bodies, ``response.inlinedResponses``), the plugin's
``batchsim_server`` variables, and the envelope of refusals."""

from __future__ import annotations

import io
import json

import httpx2
import orjson
import pytest
from google import genai
from google.genai import errors, types
from serverproc import ServerProcess

from batchsim.pytest_plugin import BatchsimServer

from .conftest import MODEL, inline, line, over_http


def test_the_sdk_over_http(fresh_server: ServerProcess) -> None:
    client = over_http(fresh_server.url)
    job = client.batches.create(model=MODEL, src=inline(3), config={"display_name": "http"})
    assert job.state == types.JobState.JOB_STATE_PENDING
    data = b"".join(orjson.dumps(line(f"f{i}")) + b"\n" for i in range(4))
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    from_file = client.batches.create(model=MODEL, src=uploaded.name)  # type: ignore[arg-type]
    fresh_server.advance(600)
    done = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert [r.metadata["key"] for r in done.dest.inlined_responses] == ["req-0", "req-1", "req-2"]  # type: ignore[union-attr, index]
    filed = client.batches.get(name=from_file.name)  # type: ignore[arg-type]
    body = client.files.download(file=filed.dest.file_name)  # type: ignore[union-attr, arg-type]
    assert [json.loads(x)["key"] for x in body.splitlines()] == ["f0", "f1", "f2", "f3"]
    assert {j.name for j in client.batches.list()} == {job.name, from_file.name}
    calls = fresh_server.control("GET", "journal").json()["calls"]
    # 3.x speaks v1; the finalize of the upload carries no key.
    assert {c["path"].split("/")[1] for c in calls if not c["path"].startswith("/upload")} == {"v1"}
    finalize = [c for c in calls if c["headers"].get("x-goog-upload-command") == "upload, finalize"]
    assert len(finalize) == 1 and "x-goog-api-key" not in finalize[0]["headers"]


def test_the_rest_workflow_of_googles_guide(fresh_server: ServerProcess) -> None:
    """The guide's curl calls, in Python: create inline, poll ``metadata.state``, read
    ``response.inlinedResponses``; upload a file (resumable: start, then ``upload, finalize`` at
    the returned URL with no key), create from it, download ``response.responsesFile``."""
    base, headers = fresh_server.url, {"x-goog-api-key": "rest-key", "Content-Type": "application/json"}
    with httpx2.Client(base_url=base, timeout=30) as http:
        requests = [
            {"request": {"contents": [{"parts": [{"text": text}]}]}, "metadata": {"key": f"request-{n}"}}
            for n, text in ((1, "Describe photosynthesis."), (2, "Why is the sky blue?"))
        ]
        body = {"batch": {"display_name": "my-batch-requests", "input_config": {"requests": {"requests": requests}}}}
        created = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", headers=headers, json=body)
        assert created.status_code == 200
        name = created.json()["name"]
        assert created.json()["metadata"]["state"] == "BATCH_STATE_PENDING"
        fresh_server.advance(600)
        status = http.get(f"/v1beta/{name}", headers=headers).json()
        assert status["metadata"]["state"] == "BATCH_STATE_SUCCEEDED" and status["done"] is True
        inlined = status["response"]["inlinedResponses"]["inlinedResponses"]
        assert [r["metadata"]["key"] for r in inlined] == ["request-1", "request-2"]
        assert inlined[0]["response"]["candidates"][0]["content"]["parts"][0]["text"].startswith("Simulated reply")
        # A file, uploaded as the guide does (its start body is single-quoted, as its curl sends it).
        data = b"".join(orjson.dumps(line(f"request-{i}")) + b"\n" for i in range(1, 3))
        start = http.post(
            "/upload/v1beta/files",
            headers={
                "x-goog-api-key": "rest-key",
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(data)),
                "X-Goog-Upload-Header-Content-Type": "application/jsonl",
                "Content-Type": "application/jsonl",
            },
            content=b"{'file': {'display_name': 'my-batch-input'}}",
        )
        assert start.status_code == 200 and start.headers["x-goog-upload-status"] == "active"
        upload_url = start.headers["x-goog-upload-url"]
        chunk = {
            "Content-Length": str(len(data)),
            "X-Goog-Upload-Offset": "0",
            "X-Goog-Upload-Command": "upload, finalize",
        }
        done = httpx2.post(upload_url, headers=chunk, content=data, timeout=30)
        assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
        file_name = done.json()["file"]["name"]
        assert done.json()["file"]["displayName"] == "my-batch-input"
        assert done.json()["file"]["sizeBytes"] == str(len(data))
        by_file = {"batch": {"display_name": "from-file", "input_config": {"file_name": file_name}}}
        op = http.post(f"/v1beta/models/{MODEL}:batchGenerateContent", headers=headers, json=by_file).json()
        fresh_server.advance(600)
        status = http.get(f"/v1beta/{op['name']}", headers=headers).json()
        responses_file = status["response"]["responsesFile"]
        download = http.get(f"/download/v1beta/{responses_file}:download", params={"alt": "media"}, headers=headers)
        assert download.status_code == 200
        assert [json.loads(x)["key"] for x in download.content.splitlines()] == ["request-1", "request-2"]
        # The key may come in the query string instead.
        by_query = http.get(f"/v1beta/{op['name']}", params={"key": "rest-key"})
        assert by_query.status_code == 200 and by_query.json()["name"] == op["name"]
        journaled = fresh_server.control("GET", "journal").json()["calls"][-1]
        assert journaled["query"] == "key=\u2026ey"  # redacted as a credential header is
        listed = http.get("/v1beta/batches", params={"pageSize": 1}, headers=headers).json()
        assert len(listed["operations"]) == 1 and listed["nextPageToken"]
        nxt = http.get("/v1beta/batches", params={"pageSize": 1, "pageToken": listed["nextPageToken"]}, headers=headers)
        assert len(nxt.json()["operations"]) == 1 and "nextPageToken" not in nxt.json()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "name"),
    [
        ("GET", "/v1beta/batches/nosuchbatch", None, 404, "NOT_FOUND"),
        ("POST", f"/v1beta/models/{MODEL}:batchGenerateContent", b"{not json", 400, "INVALID_ARGUMENT"),
        ("POST", f"/v1beta/models/{MODEL}:batchGenerateContent", b'{"batch": {}}', 400, "INVALID_ARGUMENT"),
        ("POST", f"/v1beta/models/{MODEL}:batchGenerateContent", b'{"bogus": 1}', 400, "INVALID_ARGUMENT"),
        ("GET", "/v1beta/files/nosuchfile", None, 403, "PERMISSION_DENIED"),
        ("GET", "/v1beta/batches?pageToken=%%%", None, 400, "INVALID_ARGUMENT"),
        ("POST", "/upload/v1beta/files/sessions/nosuchsession", b"x", 404, "NOT_FOUND"),
    ],
)
def test_refusals_use_googles_envelope(
    fresh_server: ServerProcess, method: str, path: str, body: bytes | None, status: int, name: str
) -> None:
    headers = {"x-goog-api-key": "k", "x-goog-upload-command": "upload, finalize"}
    answer = httpx2.request(method, fresh_server.url + path, headers=headers, content=body, timeout=30)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == status and error["status"] == name and isinstance(error["message"], str)
    assert isinstance(error["details"], list)


def test_no_key_is_refused_as_google_does(fresh_server: ServerProcess) -> None:
    answer = httpx2.get(f"{fresh_server.url}/v1beta/batches", timeout=30)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["status"] == "PERMISSION_DENIED" and "unregistered callers" in error["message"]
    assert error["details"][0]["reason"] == "CREDENTIALS_MISSING"


def test_the_plugin_server_points_the_sdk_at_the_emulator(batchsim_server: BatchsimServer) -> None:
    """google-genai built with no arguments reads GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY."""
    client = genai.Client()
    job = client.batches.create(model=MODEL, src=inline(1))
    batchsim_server.emulator.advance(minutes=5)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_SUCCEEDED  # type: ignore[arg-type]
    assert [c.endpoint for c in batchsim_server.emulator.calls] == ["gemini.batches.create", "gemini.batches.get"]
    with pytest.raises(errors.ClientError):
        client.batches.get(name="batches/nosuchbatch")
