"""Answers the contract fuzzing (``tests/server/test_contract_fuzz.py``) found wrong, each held
right here, in process and through the providers' own SDKs where they reach the call."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport


def test_a_file_uploaded_after_a_deletion_keeps_its_own_bytes_and_every_other_files() -> None:
    """Stored files were named after how many files were held: once one was deleted, the next
    upload took the path of a live file, replaced its bytes, and deleting it lost them (a
    download then failed with a 500)."""
    sim = Emulator()
    client = sim.openai_client(max_retries=0)
    contents = {name: f"{name} bytes\n".encode() * (i + 1) for i, name in enumerate("abcd")}
    ids = {
        name: client.files.create(file=(f"{name}.txt", data), purpose="user_data").id for name, data in contents.items()
    }
    client.files.delete(ids["a"])
    ids["e"] = client.files.create(file=("e.txt", b"e bytes\n"), purpose="user_data").id
    contents["e"] = b"e bytes\n"
    client.files.delete(ids["e"])
    for name in "bcd":
        assert client.files.content(ids[name]).content == contents[name], name


def _envelope(body: Any) -> str:
    """Whose error envelope ``body`` is."""
    error = body["error"]
    if body.get("type") == "error" and set(error) == {"type", "message"}:
        return "anthropic"
    if set(body) == {"error"} and set(error) == {"message", "type", "param", "code"}:
        return "openai"
    if set(body) == {"error"} and {"code", "message", "status"} <= set(error):
        return "gemini"
    raise AssertionError(body)


@pytest.mark.parametrize(
    ("method", "path", "headers", "allow", "envelope"),
    [
        # /v1/batches/{id} is OpenAI's (GET) and Gemini's (GET, DELETE): a call names the methods
        # of the provider it is for
        ("OPTIONS", "/v1/batches/batch_x", {"authorization": "Bearer k"}, "GET, HEAD", "openai"),
        ("OPTIONS", "/v1/batches/x", {"x-goog-api-key": "k"}, "DELETE, GET, HEAD", "gemini"),
        # a path with text after its id is that route's alone, not the plain one's with a colon id
        ("PUT", "/v1beta/batches/x:cancel", {"x-goog-api-key": "k"}, "POST", "gemini"),
        ("PUT", "/v1/files/x:download?key=k", {}, "GET, HEAD", "gemini"),
        (
            "PATCH",
            "/v1/files/file_x",
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
            "DELETE, GET, HEAD",
            "anthropic",
        ),
        ("PUT", "/v1/messages/batches", {"x-api-key": "k"}, "GET, HEAD, POST", "anthropic"),
    ],
)
def test_a_405_names_the_methods_and_speaks_the_envelope_of_the_provider_the_call_is_for(
    method: str, path: str, headers: dict[str, str], allow: str, envelope: str
) -> None:
    with httpx2.Client(transport=SyncASGITransport(Emulator().app), base_url="http://batchsim.local") as http:
        response = http.request(method, path, headers=headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert _envelope(response.json()) == envelope


_START = {"x-goog-api-key": "k", "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 200),
        (b"{'file': {'display_name': 'notes'}}", 200),  # as Google's REST guide sends it
        (b'{"file": {"displayName": "notes", "mimeType": "application/jsonl", "name": "files/notes"}}', 200),
        (b'{"file": {"mimeType": {}}}', 400),
        (b'{"file": {"display_name": 7}}', 400),
        (b'{"file": {"name": ["files/x"]}}', 400),
        (b'{"file": "notes"}', 400),
        (b"[]", 400),
    ],
)
def test_an_upload_start_refuses_file_fields_of_the_wrong_type(body: bytes, status: int) -> None:
    """The start of a resumable upload took any value for the file's name, display name and MIME
    type (and any JSON for the body), keeping only strings: Google refuses them."""
    with httpx2.Client(transport=SyncASGITransport(Emulator().app), base_url="http://batchsim.local") as http:
        response = http.post("/upload/v1beta/files", headers=_START, content=body)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert response.headers["x-goog-upload-status"] == "active"


_PARAMS = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"tools": [], "tool_choice": {"type": "tool", "name": {}}},
            "tool_choice.name: Input should be a valid string",
        ),
        ({"messages": [{"role": {}, "content": "Say hi."}]}, "messages.0.role: Input should be 'user' or 'assistant'"),
        (
            {"messages": [{"role": ["user"], "content": "Say hi."}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
    ],
)
def test_params_of_the_wrong_type_where_a_name_is_looked_up_are_refused_not_a_crash(
    change: dict[str, Any], message: str
) -> None:
    """A tool_choice name or a message role that was an object or a list was looked up in a set:
    token counting answered 500, and a batch request's deferred check crashed after the create was
    answered, so the request succeeded instead of erring."""
    sim = Emulator()
    client = sim.client(max_retries=0)
    params = {**_PARAMS, **change}
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.count_tokens(**params)
    assert refused.value.status_code == 400 and message in str(refused.value)
    request: Any = {"custom_id": "a", "params": {**params, "max_tokens": 16}}
    batch = client.messages.batches.create(requests=[request])
    sim.advance(3600)
    (line,) = client.messages.batches.results(batch.id)
    assert line.result.type == "errored"
    assert line.result.error.error.type == "invalid_request_error"
    assert message in line.result.error.error.message
