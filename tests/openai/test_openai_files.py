"""OpenAI's Files API through the SDK: multipart uploads (nested fields in bracket form), retrieve,
list (purpose, after, limit, order), byte-identical content, delete, expiry, and the upload's
own checks (batch files are ``.jsonl``, sizes)."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from openai_helpers import CHAT, assert_schema, chat_lines, jsonl, refused, upload

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport

BINARY = bytes(range(256)) * 40 + b"\r\n\x00end"


def raw_http(sim: Emulator) -> httpx2.Client:
    return httpx2.Client(
        transport=SyncASGITransport(sim.app), base_url="http://emulator", headers={"authorization": "Bearer k"}
    )


def test_the_sdk_sends_expires_after_in_bracket_form(sim: Emulator, client: openai.OpenAI) -> None:
    file = client.files.create(
        file=("in.jsonl", jsonl(chat_lines(1))),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 4000},
    )
    assert file.expires_at == file.created_at + 4000
    sent = sim.calls[-1].body
    assert b'name="expires_after[anchor]"' in sent and b'name="expires_after[seconds]"' in sent


def test_content_is_byte_identical_and_retrieve_lists_it(client: openai.OpenAI) -> None:
    file = client.files.create(file=("blob.bin", BINARY), purpose="user_data")
    assert (file.bytes, file.filename, file.purpose, file.expires_at) == (len(BINARY), "blob.bin", "user_data", None)
    assert client.files.content(file.id).content == BINARY
    assert client.files.retrieve(file.id) == file
    assert client.files.wait_for_processing(file.id, poll_interval=0.001).status == "processed"
    assert [f.id for f in client.files.list()] == [file.id]


def test_batch_files_expire_after_30_days_by_default(sim: Emulator, client: openai.OpenAI) -> None:
    file = client.files.create(file=("in.jsonl", jsonl(chat_lines(1))), purpose="batch")
    assert file.expires_at == file.created_at + 30 * 86400
    sim.advance(days=30)
    refused(lambda: client.files.retrieve(file.id), openai.NotFoundError)


def test_an_expired_file_is_gone(sim: Emulator, client: openai.OpenAI) -> None:
    data = jsonl(chat_lines(2))
    file = client.files.create(
        file=("in.jsonl", data), purpose="batch", expires_after={"anchor": "created_at", "seconds": 3600}
    )
    sim.advance(3599)
    assert client.files.content(file.id).content == data
    sim.advance(1)
    for call in (
        lambda: client.files.retrieve(file.id),
        lambda: client.files.content(file.id),
        lambda: client.files.delete(file.id),
    ):
        body = refused(call, openai.NotFoundError)
        assert body["message"] == f"No such File object: {file.id}"
    assert client.files.list().data == []
    batch = client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    sim.advance(60)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.errors is not None
    assert [(e.code, e.param) for e in failed.errors.data] == [("invalid_request", "file_id")]


def test_delete_then_404(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl(chat_lines(1)))
    other = upload(client, b"kept", "kept.txt", "user_data")
    deleted = client.files.with_raw_response.delete(file_id)
    assert deleted.http_response.json() == {"id": file_id, "object": "file", "deleted": True}
    assert_schema(deleted.http_response.json(), "DeleteFileResponse")
    for call in (
        lambda: client.files.retrieve(file_id),
        lambda: client.files.content(file_id),
        lambda: client.files.delete(file_id),
    ):
        refused(call, openai.NotFoundError)
    assert [f.id for f in client.files.list()] == [other]
    assert upload(client, b"new", "new.txt", "user_data") not in (file_id, other)


def test_list_by_purpose_after_limit_and_order(sim: Emulator, client: openai.OpenAI) -> None:
    ids = []
    for n in range(5):
        ids.append(upload(client, jsonl(chat_lines(1, f"f{n}")), f"f{n}.jsonl"))
        sim.advance(1)
    notes = upload(client, b"notes", "notes.txt", "user_data")
    newest_first = [notes, *ids[::-1]]
    assert [f.id for f in client.files.list()] == newest_first
    assert [f.id for f in client.files.list(order="asc")] == newest_first[::-1]
    assert [f.id for f in client.files.list(purpose="batch")] == ids[::-1]
    assert [f.id for f in client.files.list(purpose="user_data")] == [notes]
    page = client.files.list(limit=2)
    assert ([f.id for f in page.data], page.has_more) == (newest_first[:2], True)
    assert [f.id for f in client.files.list(limit=2)] == newest_first  # the SDK pages with after=
    assert [f.id for f in client.files.list(after=ids[2], order="asc")] == [ids[3], ids[4], notes]
    raw = client.files.with_raw_response.list(limit=2, order="asc").http_response.json()
    assert_schema(raw, "ListFilesResponse")
    assert (raw["first_id"], raw["last_id"], raw["has_more"]) == (ids[0], ids[1], True)


def test_files_made_at_one_instant_list_in_creation_order(client: openai.OpenAI) -> None:
    ids = [upload(client, jsonl(chat_lines(1, f"f{n}")), f"f{n}.jsonl") for n in range(6)]
    assert [f.id for f in client.files.list()] == ids[::-1]
    assert [f.id for f in client.files.list(order="asc")] == ids
    assert [f.id for f in client.files.list(limit=1)] == ids[::-1]
    assert [f.id for f in client.files.list(limit=4, order="asc")] == ids


def test_an_unknown_list_cursor_gives_an_empty_page(client: openai.OpenAI) -> None:
    upload(client, b"x", "x.txt", "user_data")
    page = client.files.list(after="file-unknown")
    assert (page.data, page.has_more) == ([], False)


@pytest.mark.parametrize(
    ("query", "param", "code"),
    [
        ({"limit": 0}, "limit", "integer_out_of_range"),
        ({"limit": 10_001}, "limit", "integer_out_of_range"),
        ({"order": "newest"}, "order", "invalid_value"),
    ],
)
def test_list_refuses_bad_arguments(client: openai.OpenAI, query: dict[str, Any], param: str, code: str) -> None:
    body = refused(lambda: client.files.list(**query), openai.BadRequestError)
    assert (body["param"], body["code"], body["type"]) == (param, code, "invalid_request_error")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("requests.txt", jsonl(chat_lines(1))),
        ("requests.json", jsonl(chat_lines(1))),
        ("requests.jsonl", b"\n  \nnot JSON after blank lines\n"),
        ("requests.jsonl", b"this is not JSON\n"),
        ("requests.jsonl", b"[1, 2]\n"),
    ],
)
def test_a_batch_file_must_be_jsonl(client: openai.OpenAI, name: str, data: bytes) -> None:
    body = refused(lambda: upload(client, data, name), openai.BadRequestError)
    assert body["message"] == "Invalid file format for Batch API. Must be .jsonl"
    assert client.files.list().data == []


def test_other_purposes_take_any_file(client: openai.OpenAI) -> None:
    for purpose in ("assistants", "fine-tune", "vision", "user_data"):
        assert client.files.retrieve(upload(client, b"", "empty.bin", purpose)).purpose == purpose


def test_an_evals_file_shows_a_purpose_the_file_object_has(client: openai.OpenAI) -> None:
    """``evals`` is an upload purpose, not one of a file object's (the schema and the SDK's
    ``FileObject`` have no such value): the file shows ``user_data``, and lists under ``evals``."""
    file_id = upload(client, b"{}", "cases.jsonl", "evals")
    raw = client.files.with_raw_response.retrieve(file_id).http_response.json()
    assert_schema(raw, "OpenAIFile")
    assert raw["purpose"] == "user_data"
    assert [f.id for f in client.files.list(purpose="evals")] == [file_id]


@pytest.mark.parametrize(
    ("fields", "files", "message", "param"),
    [
        ({"purpose": "batch"}, None, "Missing required parameter: 'file'.", "file"),
        ({}, {"file": ("a.jsonl", b"{}")}, "Missing required parameter: 'purpose'.", "purpose"),
        (
            {"purpose": "batch_output"},
            {"file": ("a.jsonl", b"{}")},
            "Invalid value for 'purpose': 'batch_output'. Supported values are: 'assistants', 'batch', "
            "'fine-tune', 'vision', 'user_data', 'evals'.",
            "purpose",
        ),
        (
            {"purpose": "batch", "expires_after[anchor]": "created_at"},
            {"file": ("a.jsonl", b"{}")},
            "Missing required parameter: 'expires_after.seconds'.",
            "expires_after.seconds",
        ),
        (
            {"purpose": "batch", "expires_after[seconds]": "3600"},
            {"file": ("a.jsonl", b"{}")},
            "Missing required parameter: 'expires_after.anchor'.",
            "expires_after.anchor",
        ),
        (
            {"purpose": "batch", "expires_after[anchor]": "updated_at", "expires_after[seconds]": "3600"},
            {"file": ("a.jsonl", b"{}")},
            "Invalid value: 'updated_at'. Supported values are: 'created_at'.",
            "expires_after.anchor",
        ),
        (
            {"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "soon"},
            {"file": ("a.jsonl", b"{}")},
            "Invalid type for 'expires_after.seconds': expected an integer, but got a string instead.",
            "expires_after.seconds",
        ),
        (
            {"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "60"},
            {"file": ("a.jsonl", b"{}")},
            "Invalid 'expires_after.seconds': integer 60 is out of range; it must be between 3600 and 2592000.",
            "expires_after.seconds",
        ),
    ],
)
def test_upload_refusals(
    sim: Emulator, fields: dict[str, str], files: dict[str, Any] | None, message: str, param: str
) -> None:
    with raw_http(sim) as http:
        # httpx2 sends a multipart body when given files; with fields alone it is made to as well.
        answer = http.post("/v1/files", data=fields, files=files or {"unused": ("", b"")})
    assert answer.status_code == 400
    assert answer.headers["x-request-id"].startswith("req_")
    error = answer.json()["error"]
    assert (error["message"], error["type"], error["param"]) == (message, "invalid_request_error", param)


def test_an_upload_that_is_not_multipart(sim: Emulator) -> None:
    with raw_http(sim) as http:
        answer = http.post("/v1/files", content=b'{"purpose": "batch"}', headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "multipart/form-data" in answer.json()["error"]["message"]


def test_files_of_one_key_are_not_listed_for_another(sim: Emulator) -> None:
    with sim.openai_client(api_key="a") as a, sim.openai_client(api_key="b") as b:
        mine = upload(a, b"x", "x.txt", "user_data")
        assert [f.id for f in a.files.list()] == [mine]
        assert b.files.list().data == []
        assert a.files.content(mine).content == b"x"
