"""The wire contract seen by raw HTTP: headers, envelopes, auth styles, JSONL framing, schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from jsonschema import Draft202012Validator
from serverproc import ServerProcess

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport

from .conftest import make_requests

# The batch routes' part of the API's own OpenAPI description, as the emulator ships it.
SPEC = json.loads((Path(__file__).resolve().parents[2] / "batchsim" / "openapi.json").read_text())
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"


def _schema(name: str) -> Draft202012Validator:
    schema = {**SPEC["components"]["schemas"][name], "components": SPEC["components"]}
    return Draft202012Validator(schema)


@pytest.fixture(params=["in-process", pytest.param("server", marks=pytest.mark.server)])
def http(request: pytest.FixtureRequest) -> Iterator[httpx2.Client]:
    """A raw HTTP client on the emulator, with an API key header by default."""
    headers = {"x-api-key": "k1", "anthropic-version": "2023-06-01"}
    if request.param == "in-process":
        sim = Emulator()
        client = httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://emu.test:8123", headers=headers)
        client.advance = sim.advance  # type: ignore[attr-defined]
    else:
        server: ServerProcess = request.getfixturevalue("fresh_server")
        client = httpx2.Client(base_url=server.url, headers=headers)
        client.advance = server.advance  # type: ignore[attr-defined]
    with client:
        yield client


def _create(http: httpx2.Client, n: int = 2) -> dict[str, Any]:
    response = http.post("/v1/messages/batches", json={"requests": make_requests(n)})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_message_batch_has_every_field_and_matches_the_schema(http: httpx2.Client) -> None:
    batch = _create(http)
    assert set(batch) == {
        "id",
        "type",
        "processing_status",
        "request_counts",
        "ended_at",
        "created_at",
        "expires_at",
        "archived_at",
        "cancel_initiated_at",
        "results_url",
    }
    assert batch["ended_at"] is None and batch["results_url"] is None
    _schema("MessageBatch").validate(batch)
    assert batch["created_at"].endswith("Z")
    http.advance(60)  # type: ignore[attr-defined]
    ended = http.get(f"/v1/messages/batches/{batch['id']}").json()
    _schema("MessageBatch").validate(ended)
    listed = http.get("/v1/messages/batches", params={"limit": 5, "unknown": "x", "beta": "true"}).json()
    _schema("ListResponse_MessageBatch_").validate(listed)


def test_results_url_leads_back_to_the_emulator(http: httpx2.Client) -> None:
    batch = _create(http)
    http.advance(60)  # type: ignore[attr-defined]
    url = http.get(f"/v1/messages/batches/{batch['id']}").json()["results_url"]
    assert url == str(http.base_url).rstrip("/") + f"/v1/messages/batches/{batch['id']}/results"
    response = http.get(url)
    assert response.headers["content-type"] == "application/x-jsonl"
    assert response.headers["request-id"].startswith("req_")
    body = response.content
    assert body.endswith(b"\n") and b"\n\n" not in body and b"\r" not in body
    validator = _schema("MessageBatchIndividualResponse")
    for line in body.splitlines():
        validator.validate(orjson.loads(line))


def test_bodyless_post_and_delete_with_json_content_type(http: httpx2.Client) -> None:
    batch = _create(http)
    headers = {"content-type": "application/json"}
    canceled = http.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=headers)
    assert canceled.status_code == 200
    http.advance(60)  # type: ignore[attr-defined]
    deleted = http.request("DELETE", f"/v1/messages/batches/{batch['id']}", headers=headers)
    assert deleted.json() == {"id": batch["id"], "type": "message_batch_deleted"}
    _schema("DeleteMessageBatchResponse").validate(deleted.json())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-api-key": ""}, 401),
        ({"x-api-key": "", "authorization": "Bearer tok"}, 200),
        ({"x-api-key": "", "authorization": "Basic abc"}, 401),
    ],
)
def test_auth_header_styles(http: httpx2.Client, headers: dict[str, str], status: int) -> None:
    response = http.get("/v1/messages/batches", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"] == {
            "type": "authentication_error",
            "message": "x-api-key header is required",
        }


@pytest.mark.parametrize(
    ("method", "path", "status", "error_type"),
    [
        ("GET", "/v1/messages/batches?limit=0", 400, "invalid_request_error"),
        ("GET", "/v1/messages/batches?limit=1001", 400, "invalid_request_error"),
        ("GET", "/v1/messages/batches?limit=abc", 400, "invalid_request_error"),
        ("GET", "/v1/messages/batches?limit=", 400, "invalid_request_error"),
        ("GET", "/v1/messages/batches?after_id=msgbatch_nope", 400, "invalid_request_error"),
        ("GET", "/v1/messages/batches/msgbatch_nope/results", 404, "not_found_error"),
        ("POST", "/v1/messages/batches/msgbatch_nope/cancel", 404, "not_found_error"),
        ("PUT", "/v1/messages/batches", 405, "invalid_request_error"),
        ("GET", "/v2/nothing", 404, "not_found_error"),
    ],
)
def test_client_mistakes_get_the_error_envelope(
    http: httpx2.Client, method: str, path: str, status: int, error_type: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == response.headers["request-id"]
    _schema("ErrorResponse").validate(body)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "Input should be a valid dictionary"),
        (b"{}", "requests: Field required"),
        (b'{"requests": {}}', "requests: Input should be a valid list"),
        (b'{"requests": null}', "requests: Input should be a valid list"),
        (b"", "requests: Field required"),
    ],
)
def test_malformed_create_bodies(http: httpx2.Client, content: bytes, message: str) -> None:
    response = http.post("/v1/messages/batches", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_results_before_the_end_is_a_400(http: httpx2.Client) -> None:
    batch = _create(http)
    response = http.get(f"/v1/messages/batches/{batch['id']}/results")
    assert response.status_code == 400
    assert "results are available once processing has ended" in response.json()["error"]["message"]
