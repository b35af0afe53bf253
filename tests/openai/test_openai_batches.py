"""OpenAI's Batch API through the SDK: what a create refuses at once (400, OpenAI's envelope), what
makes a batch fail validation (``errors.data`` with each problem's line), and the lifecycle as a
function of the virtual clock: expiry, cancel, and what may not be canceled."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai_helpers import CHAT, MODEL, assert_schema, chat_lines, jsonl, line, read_lines, refused, start, upload

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport

VALIDATED = 10
HOUR = 3600.0


def create_raw(sim: Emulator, body: Any) -> httpx2.Response:
    with httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://emulator") as http:
        return http.post("/v1/batches", json=body, headers={"authorization": "Bearer openai-key"})


# -- refused at once -------------------------------------------------------------------------------

GOOD: dict[str, Any] = {"input_file_id": "file-abc", "endpoint": CHAT, "completion_window": "24h"}
SDK_ARGUMENTS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
SUPPORTED = (
    "Supported values are: '/v1/responses', '/v1/chat/completions', '/v1/embeddings', '/v1/completions', "
    "'/v1/moderations', '/v1/images/generations', and '/v1/images/edits'."
)


@pytest.mark.parametrize(
    ("change", "message", "param", "code"),
    [
        (
            {"endpoint": "/v1/invalid/endpoint"},
            f"Invalid value: '/v1/invalid/endpoint'. {SUPPORTED}",
            "endpoint",
            "invalid_value",
        ),
        ({"endpoint": "/v1/videos"}, f"Invalid value: '/v1/videos'. {SUPPORTED}", "endpoint", "invalid_value"),
        (
            {"completion_window": "1h"},
            "Invalid value: '1h'. Supported values are: '24h'.",
            "completion_window",
            "invalid_value",
        ),
        (
            {"completion_window": ""},
            "Invalid value: ''. Supported values are: '24h'.",
            "completion_window",
            "invalid_value",
        ),
        (
            {"metadata": {"tags": ["a"]}},
            "Invalid type for 'metadata.tags': expected a string, but got an array instead.",
            "metadata.tags",
            "invalid_type",
        ),
        (
            {"metadata": {str(n): "v" for n in range(17)}},
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an "
            "object with 17 properties instead.",
            "metadata",
            "object_above_max_properties",
        ),
        (
            {"metadata": {"k" * 65: "v"}},
            "Invalid 'metadata': string too long. Expected a key with maximum length 64, but got a key with length "
            "65 instead.",
            "metadata",
            "string_above_max_length",
        ),
        (
            {"metadata": {"k": "v" * 513}},
            "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, but got a string with "
            "length 513 instead.",
            "metadata.k",
            "string_above_max_length",
        ),
        (
            {"metadata": "tags"},
            "Invalid type for 'metadata': expected an object, but got a string instead.",
            "metadata",
            "invalid_type",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": 60}},
            "Invalid 'output_expires_after.seconds': integer 60 is out of range; it must be between 3600 and 2592000.",
            "output_expires_after.seconds",
            "integer_out_of_range",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": 2_592_001}},
            "Invalid 'output_expires_after.seconds': integer 2592001 is out of range; it must be between 3600 and "
            "2592000.",
            "output_expires_after.seconds",
            "integer_out_of_range",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": "3600"}},
            "Invalid type for 'output_expires_after.seconds': expected an integer, but got a string instead.",
            "output_expires_after.seconds",
            "invalid_type",
        ),
        (
            {"output_expires_after": {"anchor": "completed_at", "seconds": 3600}},
            "Invalid value: 'completed_at'. Supported values are: 'created_at'.",
            "output_expires_after.anchor",
            "invalid_value",
        ),
        (
            {"output_expires_after": {"seconds": 3600}},
            "Missing required parameter: 'output_expires_after.anchor'.",
            "output_expires_after.anchor",
            "missing_required_parameter",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": 3600, "days": 1}},
            "Unrecognized request argument supplied: output_expires_after.days",
            None,
            None,
        ),
        (
            {"output_expires_after": 3600},
            "Invalid type for 'output_expires_after': expected an object, but got a number instead.",
            "output_expires_after",
            "invalid_type",
        ),
        ({"priority": "high"}, "Unrecognized request argument supplied: priority", None, None),
        (
            {"input_file_id": None},
            "Missing required parameter: 'input_file_id'.",
            "input_file_id",
            "missing_required_parameter",
        ),
        (
            {"endpoint": 7},
            "Invalid type for 'endpoint': expected a string, but got a number instead.",
            "endpoint",
            "invalid_type",
        ),
    ],
)
def test_a_create_is_refused_at_once(
    client: openai.OpenAI, change: dict[str, Any], message: str, param: str | None, code: str | None
) -> None:
    known = {k: v for k, v in {**GOOD, **change}.items() if k in SDK_ARGUMENTS}
    extra = {k: v for k, v in change.items() if k not in SDK_ARGUMENTS}
    body = refused(lambda: client.batches.create(**known, extra_body=extra), openai.BadRequestError)
    assert body == {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    assert client.batches.list().data == []


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"24h"'])
def test_a_create_body_that_is_not_a_json_object(sim: Emulator, body: bytes) -> None:
    with httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://emulator") as http:
        answer = http.post("/v1/batches", content=body, headers={"authorization": "Bearer k"})
    assert answer.status_code == 400 and answer.headers["x-request-id"].startswith("req_")
    assert answer.json()["error"]["message"].startswith("We could not parse the JSON body of your request.")


def test_unknown_batches_are_404(client: openai.OpenAI) -> None:
    for call in (lambda: client.batches.retrieve("batch_unknown"), lambda: client.batches.cancel("batch_unknown")):
        body = refused(call, openai.NotFoundError)
        assert body["message"] == "No batch found with id 'batch_unknown'."


def test_list_pages_newest_first(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl(chat_lines(1)))
    ids = [client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id for _ in range(5)]
    assert [b.id for b in client.batches.list()] == ids[::-1]
    page = client.batches.with_raw_response.list(limit=2)
    raw = page.http_response.json()
    assert_schema(raw, "ListBatchesResponse")
    assert ([b["id"] for b in raw["data"]], raw["has_more"]) == (ids[:2:-1], True)
    assert (raw["first_id"], raw["last_id"]) == (ids[4], ids[3])
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]  # the SDK pages with after=
    assert [b.id for b in client.batches.list(after=ids[2])] == [ids[1], ids[0]]
    assert client.batches.list(after="batch_unknown").data == []
    for limit in (0, 101):
        body = refused(lambda limit=limit: client.batches.list(limit=limit), openai.BadRequestError)
        assert (body["param"], body["code"]) == ("limit", "integer_out_of_range")


# -- validation: a batch created, then failed -----------------------------------------------------


def failed_with(sim: Emulator, client: openai.OpenAI, data: bytes, endpoint: str = CHAT) -> list[dict[str, Any]]:
    """Create a batch of the file ``data``; it must fail once validated: its ``errors.data``."""
    batch = client.batches.create(input_file_id=upload(client, data), endpoint=endpoint, completion_window="24h")  # type: ignore[arg-type]
    assert batch.status == "validating" and batch.errors is None
    sim.advance(VALIDATED - 1)
    assert client.batches.retrieve(batch.id).status == "validating"
    sim.advance(1)
    raw = client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    assert_schema(raw, "Batch")
    assert raw["status"] == "failed"
    assert raw["failed_at"] == raw["created_at"] + VALIDATED
    assert raw["in_progress_at"] is None and raw["output_file_id"] is None and raw["error_file_id"] is None
    assert raw["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert raw["errors"]["object"] == "list"
    sim.advance(HOUR)
    assert client.batches.retrieve(batch.id).status == "failed"  # for good
    errors: list[dict[str, Any]] = raw["errors"]["data"]
    return errors


def chat(**body: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **body}


LINE_PROBLEMS: list[tuple[Any, str, str | None, str]] = [
    ("{not json", "invalid_json_line", None, "This line is not parseable as valid JSON."),
    ("[1, 2]", "invalid_json_line", None, "This line is not parseable as valid JSON."),
    (
        {"method": "POST", "url": CHAT, "body": chat()},
        "missing_required_parameter",
        "custom_id",
        "Missing required parameter: 'custom_id'.",
    ),
    (
        {"custom_id": "x", "url": CHAT, "body": chat()},
        "missing_required_parameter",
        "method",
        "Missing required parameter: 'method'.",
    ),
    (
        {"custom_id": "x", "method": "POST", "body": chat()},
        "missing_required_parameter",
        "url",
        "Missing required parameter: 'url'.",
    ),
    (
        {"custom_id": "x", "method": "POST", "url": CHAT},
        "missing_required_parameter",
        "body",
        "Missing required parameter: 'body'.",
    ),
    (line("x", method="GET"), "invalid_value", "method", "Invalid value: 'GET'. Supported values are: 'POST'."),
    (
        line("x", url="/v1/embeddings"),
        "invalid_url",
        "url",
        "The URL provided for this request does not match the batch endpoint.",
    ),
    (
        line("x", chat(stream=True)),
        "streaming_unsupported",
        "body.stream",
        "Chat Completions: Streaming is not supported in the Batch API.",
    ),
    (line("x", {"messages": []}), "invalid_request", "body.model", "Model parameter is required."),
    (line("x", {"model": MODEL}), "invalid_request", "body.messages", "Messages parameter is required."),
    (
        line("x", {"model": 4, "messages": []}),
        "invalid_type",
        "body.model",
        "Invalid type for 'body.model': expected a string.",
    ),
    (
        {"custom_id": "x", "method": "POST", "url": CHAT, "body": "text"},
        "invalid_type",
        "body",
        "Invalid type for 'body': expected an object.",
    ),
    (
        {"custom_id": 7, "method": "POST", "url": CHAT, "body": chat()},
        "invalid_type",
        "custom_id",
        "Invalid type for 'custom_id': expected a string.",
    ),
]


@pytest.mark.parametrize(("bad", "code", "param", "message"), LINE_PROBLEMS)
def test_a_line_problem_fails_the_batch(
    sim: Emulator, client: openai.OpenAI, bad: Any, code: str, param: str | None, message: str
) -> None:
    errors = failed_with(sim, client, jsonl([line("ok-1"), bad, line("ok-2")]))
    assert errors == [{"code": code, "message": message, "param": param, "line": 2}]


def test_every_problem_is_reported_with_its_line(sim: Emulator, client: openai.OpenAI) -> None:
    data = jsonl([line("a"), "{bad", line("a"), line("b", url="/v1/embeddings"), line("c", chat(model="gpt-4o"))])
    errors = failed_with(sim, client, data)
    assert [(e["code"], e["line"]) for e in errors] == [
        ("invalid_json_line", 2),
        ("duplicate_custom_id", 3),
        ("invalid_url", 4),
        ("model_mismatch", 5),
    ]
    assert errors[1]["message"] == (
        "The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique "
        "for each request in a batch."
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "param", "message"),
    [
        ("/v1/embeddings", {"model": "text-embedding-3-small"}, "body.input", "Input parameter is required."),
        ("/v1/moderations", {}, "body.input", "Input parameter is required."),
        ("/v1/images/generations", {"model": "gpt-image-1"}, "body.prompt", "Prompt parameter is required."),
        ("/v1/responses", {"input": "hi"}, "body.model", "Model parameter is required."),
    ],
)
def test_bodies_are_checked_per_endpoint(
    sim: Emulator, client: openai.OpenAI, endpoint: str, body: dict[str, Any], param: str, message: str
) -> None:
    errors = failed_with(sim, client, jsonl([line("x", body, url=endpoint)]), endpoint)
    assert errors == [{"code": "invalid_request", "message": message, "param": param, "line": 1}]


def test_blank_lines_hold_no_request(sim: Emulator, client: openai.OpenAI) -> None:
    blank = b" " * 40 + b"\n\n"
    spaced = b"\n" + jsonl([line("a")]) + blank + jsonl([line("b")]) + blank + json.dumps(line("c")).encode()
    batches = [
        client.batches.create(input_file_id=upload(client, data), endpoint=CHAT, completion_window="24h")
        for data in (spaced, jsonl([line("a"), line("b"), line("c")]))
    ]
    sim.advance(HOUR)
    spaced_done, plain_done = (client.batches.retrieve(b.id) for b in batches)
    assert (spaced_done.status, spaced_done.request_counts.total) == ("completed", 3)
    # The requests are the lines themselves, blank lines left out: they answer alike.
    assert spaced_done.usage == plain_done.usage


@pytest.mark.parametrize("data", [b"", b"\n\n   \n"])
def test_a_file_without_requests_fails(sim: Emulator, client: openai.OpenAI, data: bytes) -> None:
    errors = failed_with(sim, client, data)
    assert errors == [
        {"code": "empty_file", "message": "The input file is empty: it holds no request.", "param": None, "line": None}
    ]


def test_more_than_50000_requests_fail(sim: Emulator, client: openai.OpenAI) -> None:
    one = json.dumps({"custom_id": "r-{}", "method": "POST", "url": "/v1/moderations", "body": {"input": "x"}})
    data = "\n".join(one.replace("{}", str(n), 1) for n in range(50_001)).encode()
    errors = failed_with(sim, client, data, "/v1/moderations")
    assert [(e["code"], e["line"]) for e in errors] == [("too_many_tasks", None)]
    assert "50001" in errors[0]["message"] and "50000" in errors[0]["message"]


def test_models_the_scenario_does_not_list(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {"openai": {"models": ["gpt-4o"]}}
    errors = failed_with(
        sim, client, jsonl([line("a", chat(model="gpt-4o")), line("b", chat(model="nonexistent-model-xyz"))])
    )
    assert errors == [
        {
            "code": "model_not_found",
            "message": "The provided model 'nonexistent-model-xyz' is not supported by the Batch API.",
            "param": "body.model",
            "line": 2,
        }
    ]


def test_at_most_1000_problems_are_listed(sim: Emulator, client: openai.OpenAI) -> None:
    errors = failed_with(sim, client, jsonl([line("ok"), *["{"] * 1500]))
    assert len(errors) == 1000 and errors[-1]["line"] == 1001


@pytest.mark.parametrize("kind", ["user_data", "batch_output"])
def test_an_input_file_that_is_not_a_batch_file(sim: Emulator, client: openai.OpenAI, kind: str) -> None:
    if kind == "user_data":
        file_id = upload(client, jsonl(chat_lines(1)), "notes.jsonl", "user_data")
    else:  # another batch's output file
        earlier = start(client, chat_lines(1))
        sim.advance(HOUR)
        file_id = client.batches.retrieve(earlier.id).output_file_id
    batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    sim.advance(VALIDATED)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.errors is not None
    [error] = failed.errors.data
    assert (error.code, error.param, error.line) == ("invalid_request", "input_file_id", None)
    assert error.message == (
        f"The input file {file_id} has purpose '{kind}': a batch needs a file uploaded with purpose 'batch'."
    )


def test_a_missing_input_file_fails_or_is_refused(sim: Emulator, client: openai.OpenAI) -> None:
    batch = client.batches.create(input_file_id="file-missing", endpoint=CHAT, completion_window="24h")
    sim.advance(VALIDATED)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.errors is not None
    [error] = failed.errors.data
    assert (error.code, error.param) == ("invalid_request", "file_id")
    assert error.message == "Cannot find file file-missing, or project does not have access to it."
    sim.scenario = {"openai": {"missing_input_file": "reject"}}
    body = refused(
        lambda: client.batches.create(input_file_id="file-missing", endpoint=CHAT, completion_window="24h"),
        openai.BadRequestError,
    )
    assert body == {
        "message": "Cannot find file file-missing, or project does not have access to it.",
        "type": "invalid_request_error",
        "param": "file_id",
        "code": None,
    }


# -- expiry and cancel -----------------------------------------------------------------------------


def test_a_batch_expires_at_created_at_plus_86400_with_partial_output(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {"timing": {"per_request": 3 * HOUR, "concurrency": 10}}
    batch = start(client, chat_lines(100))
    sim.advance(86400 - 1)
    assert client.batches.retrieve(batch.id).status == "in_progress"
    sim.advance(1)
    raw = client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    assert_schema(raw, "Batch")
    assert raw["status"] == "expired"
    assert raw["expired_at"] == raw["expires_at"] == raw["created_at"] + 86400
    assert raw["completed_at"] is None and raw["finalizing_at"] is None
    done = 70  # 7 blocks of 10 finish within the window (10 s of validation, 1 s start delay, 3 h each)
    assert raw["request_counts"] == {"total": 100, "completed": done, "failed": 0}
    output, errors = read_lines(client, raw["output_file_id"]), read_lines(client, raw["error_file_id"])
    assert len(output) == done and all(item["response"]["status_code"] == 200 for item in output)
    assert len(errors) == 100 - done
    assert {json.dumps(item["error"]) for item in errors} == {
        json.dumps(
            {
                "code": "batch_expired",
                "message": "This request could not be executed before the completion window expired.",
            }
        )
    }
    assert all(item["response"] is None and item["id"].startswith("batch_req_") for item in errors)
    assert {item["custom_id"] for item in output} | {item["custom_id"] for item in errors} == {
        f"req-{n}" for n in range(100)
    }


def test_expired_requests_count_as_failed_when_the_scenario_says_so(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {
        "rules": [{"custom_id": "-[0-2]$", "result": "expired"}],
        "openai": {"count_expired_as_failed": True},
    }
    batch = start(client, chat_lines(5))
    sim.advance(days=1)
    done = client.batches.retrieve(batch.id)
    assert done.status == "expired"
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 3)


def test_cancel_gives_partial_output(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {"timing": {"per_request": HOUR, "concurrency": 2}}
    batch = start(client, chat_lines(6))
    sim.advance(VALIDATED + 30)
    canceled = client.batches.with_raw_response.cancel(batch.id).http_response.json()
    assert_schema(canceled, "Batch")
    assert canceled["status"] == "cancelling"
    assert canceled["cancelling_at"] == canceled["created_at"] + VALIDATED + 30
    assert client.batches.cancel(batch.id).status == "cancelling"  # asking again changes nothing
    sim.advance(HOUR - 30)  # the two requests in flight (started at 11 s) finish at 3611 s: the batch ends then
    assert client.batches.retrieve(batch.id).status == "cancelling"
    sim.advance(1)
    raw = client.batches.with_raw_response.retrieve(batch.id).http_response.json()
    assert raw["status"] == "cancelled"
    assert raw["cancelled_at"] == raw["created_at"] + VALIDATED + 1 + 3600
    assert raw["request_counts"] == {"total": 6, "completed": 2, "failed": 0}
    output, errors = read_lines(client, raw["output_file_id"]), read_lines(client, raw["error_file_id"])
    assert len(output) == 2 and len(errors) == 4
    assert {item["error"]["code"] for item in errors} == {"batch_cancelled"}
    # Canceling a cancelled batch is allowed; its answer is the batch as it is.
    assert client.batches.cancel(batch.id).status == "cancelled"


def test_cancel_while_validating(sim: Emulator, client: openai.OpenAI) -> None:
    batch = start(client, chat_lines(3))
    assert client.batches.cancel(batch.id).status == "cancelling"
    sim.advance(HOUR)
    done = client.batches.retrieve(batch.id)
    assert (done.status, done.output_file_id, done.error_file_id, done.in_progress_at) == (
        "cancelled",
        None,
        None,
        None,
    )
    assert done.request_counts is not None and done.request_counts.total == 0


def test_cancelling_lasts_as_the_scenario_says(sim: Emulator, client: openai.OpenAI) -> None:
    sim.scenario = {"openai": {"cancelling": 300}}
    batch = start(client, chat_lines(3))
    sim.advance(VALIDATED + 5)
    client.batches.cancel(batch.id)
    sim.advance(299)
    assert client.batches.retrieve(batch.id).status == "cancelling"
    sim.advance(1)
    assert client.batches.retrieve(batch.id).status == "cancelled"


@pytest.mark.parametrize(
    ("scenario", "lines", "status"),
    [
        ({}, chat_lines(2), "completed"),
        ({}, [line("ok"), "{"], "failed"),
        ({"rules": [{"custom_id": ".", "result": "expired"}]}, chat_lines(2), "expired"),
    ],
)
def test_a_finished_batch_cannot_be_canceled(
    sim: Emulator, client: openai.OpenAI, scenario: dict[str, Any], lines: list[Any], status: str
) -> None:
    sim.scenario = scenario
    batch = start(client, lines)
    sim.advance(days=1)
    assert client.batches.retrieve(batch.id).status == status
    body = refused(lambda: client.batches.cancel(batch.id), openai.ConflictError)
    assert body == {
        "message": f"Cannot cancel a batch with status '{status}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert client.batches.retrieve(batch.id).status == status


def test_a_retrieve_shows_the_batch_as_it_is_at_that_moment() -> None:
    """Whatever was asked before: one emulator polled every second answers at each moment what a
    twin asked only then answers (counts move as requests finish, phases change, a cancel)."""
    scenario = {
        "seed": 9,
        "timing": {"per_request": 7, "concurrency": 3, "jitter": 0.5},
        "outcomes": {"errored": 0.3},
        "openai": {"validating": 4, "finalizing": 6, "cancelling": 5},
    }
    polled, twin = Emulator(scenario=scenario), Emulator(scenario=scenario)
    with polled.openai_client(max_retries=0) as a, twin.openai_client(max_retries=0) as b:
        ids = [start(client, chat_lines(12)).id for client in (a, b)]
        cancels = [start(client, chat_lines(12)).id for client in (a, b)]
        for second in range(1, 60):
            polled.advance(1)
            seen = [a.batches.retrieve(i).model_dump() for i in (ids[0], cancels[0])]
            if second == 15:
                a.batches.cancel(cancels[0])
            if second % 7 == 0 or second in (15, 16):
                twin.advance(polled.now().timestamp() - twin.now().timestamp())
                assert [b.batches.retrieve(i).model_dump() for i in (ids[1], cancels[1])] == seen, second
            if second == 15:
                b.batches.cancel(cancels[1])
        assert a.batches.retrieve(ids[0]).status == "completed"
        assert a.batches.retrieve(cancels[0]).status == "cancelled"
    polled.close()
    twin.close()


def test_without_validating_time_the_create_answers_the_checked_batch(sim: Emulator, client: openai.OpenAI) -> None:
    """The input file is checked after the create's answer unless the answer depends on it."""
    sim.scenario = {"openai": {"validating": 0}}
    good = start(client, chat_lines(3))
    assert (good.status, good.request_counts.total if good.request_counts else None) == ("in_progress", 3)
    bad = start(client, [line("a"), "{"])
    assert bad.status == "failed" and bad.errors is not None
    assert [(e.code, e.line) for e in bad.errors.data] == [("invalid_json_line", 2)]
    assert bad.failed_at == bad.created_at and bad.model == MODEL


def test_the_create_shows_the_first_line_model(sim: Emulator, client: openai.OpenAI) -> None:
    batch = start(client, [line("a", chat(model="gpt-4o")), line("b", chat(model="gpt-4o"))])
    assert batch.model == "gpt-4o" and batch.status == "validating"
    sim.advance(HOUR)
    assert client.batches.retrieve(batch.id).model == "gpt-4o"


@pytest.mark.parametrize("good", [True, False], ids=["valid", "invalid"])
def test_a_check_left_for_after_the_answer_is_taken_when_first_needed(
    sim: Emulator, client: openai.OpenAI, good: bool
) -> None:
    """Created through the API object, with no HTTP call, the work after the answer never runs:
    the batch is checked when something first depends on it (the dashboard's or a retrieve's
    questions once it has validated), never before."""
    data = jsonl(chat_lines(4) if good else [line("a"), "{", line("a")])
    body = json.dumps({"input_file_id": upload(client, data), "endpoint": CHAT, "completion_window": "24h"})
    created = sim.openai.api.create("batchsim-test-key", body.encode())
    batch_id = json.loads(created.answer)["id"]
    assert json.loads(created.answer)["status"] == "validating"
    assert client.batches.retrieve(batch_id).status == "validating"
    assert [b.id for b in client.batches.list()] == [batch_id]
    sim.advance(VALIDATED)
    found = client.batches.retrieve(batch_id)
    if good:
        assert (found.status, found.request_counts.total if found.request_counts else None) == ("in_progress", 4)
    else:
        assert found.status == "failed" and found.errors is not None
        assert [(e.code, e.line) for e in found.errors.data] == [("invalid_json_line", 2), ("duplicate_custom_id", 3)]
