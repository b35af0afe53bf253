"""The dashboard's JSON routes, through the emulator's ASGI app (in-process)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import orjson
import pytest

from batchsim import Emulator
from batchsim._http.transport import SyncASGITransport

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]}
KEY = "sk-secret-key-a1b2"


@pytest.fixture
def sim() -> Emulator:
    return Emulator(
        {
            "timing": {"per_request": 10, "concurrency": 2},
            "rules": [{"custom_id": "^bad-", "result": "errored", "error_type": "overloaded_error"}],
            "faults": [{"endpoint": "list", "status": 529, "times": 1}],
        }
    )


@pytest.fixture
def http(sim: Emulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=SyncASGITransport(sim.app), base_url="http://batchsim.local") as client:
        yield client


def create(http: httpx2.Client, ids: list[str], key: str = KEY) -> str:
    body = {"requests": [{"custom_id": cid, "params": PARAMS} for cid in ids]}
    answer = http.post("/v1/messages/batches", json=body, headers={"x-api-key": key})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def get(http: httpx2.Client, path: str, **params: Any) -> Any:
    answer = http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_root_redirects_to_the_page_which_is_served_from_the_package(http: httpx2.Client) -> None:
    root = http.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/_batchsim/ui"
    page = http.get("/_batchsim/ui")
    assert page.headers["content-type"].startswith("text/html")
    assert "/_batchsim/ui/static/app.js" in page.text
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = http.get(f"/_batchsim/ui/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        text = asset.text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name, not a fetch
        assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere
    assert http.get("/_batchsim/ui/static/secret.py").status_code == 404


def test_batches_newest_first_across_keys_with_only_key_tails(sim: Emulator, http: httpx2.Client) -> None:
    first = create(http, ["a-1", "a-2"])
    sim.advance(seconds=0.5)
    second = create(http, ["b-1"], key="other-key-9999")
    page = get(http, "/_batchsim/batches")
    assert [row["id"] for row in page["data"]] == [second, first]
    assert page["by_status"] == {"in_progress": 2, "canceling": 0, "ended": 0}
    assert {k["key"] for k in page["keys"]} == {"\u2026a1b2", "\u20269999"}
    assert KEY not in http.get("/_batchsim/batches").text
    mine = next(k["key_id"] for k in page["keys"] if k["key"] == "\u2026a1b2")
    assert [row["id"] for row in get(http, "/_batchsim/batches", key=mine)["data"]] == [first]
    sim.advance(minutes=1)
    ended = get(http, "/_batchsim/batches", status="ended")
    assert ended["total"] == 2
    assert ended["data"][1]["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert get(http, "/_batchsim/batches", status="in_progress", limit=1)["data"] == []


def test_one_batch_its_requests_and_a_request(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["ok-1", "bad-1", "ok-2", "ok-3"])
    sim.advance(seconds=12)  # two finished (1 s start delay, concurrency 2, 10 s each), two running
    detail = get(http, f"/_batchsim/batches/{batch_id}")
    assert detail["status"] == "in_progress"
    assert detail["request_states"]["running"] == 2
    assert sum(detail["timeline"]["series"][k][-1] for k in ("succeeded", "errored")) == 2
    sim.advance(seconds=30)
    detail = get(http, f"/_batchsim/batches/{batch_id}")
    assert detail["status"] == "ended"
    assert detail["message_batch"]["request_counts"]["errored"] == 1
    assert detail["timeline"]["series"]["succeeded"][-1] == 3
    assert detail["timeline"]["end_seconds"] == 21.0
    errored = get(http, f"/_batchsim/batches/{batch_id}/requests", state="errored")
    assert [(r["custom_id"], r["error_type"]) for r in errored["data"]] == [("bad-1", "overloaded_error")]
    page = get(http, f"/_batchsim/batches/{batch_id}/requests", offset=1, limit=2)
    assert [r["index"] for r in page["data"]] == [1, 2] and page["total"] == 4
    assert get(http, f"/_batchsim/batches/{batch_id}/requests", q="ok-")["total"] == 3
    one = get(http, f"/_batchsim/batches/{batch_id}/requests/1")
    assert one["params"] == PARAMS
    assert one["result"]["type"] == "errored"
    assert one["error_type"] == "overloaded_error"
    results = http.get(f"/_batchsim/batches/{batch_id}/results")
    assert results.status_code == 200 and len(results.text.splitlines()) == 4


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/_batchsim/batches/msgbatch_nope", 404),
        ("/_batchsim/batches?status=done", 400),
        ("/_batchsim/batches?limit=0", 400),
        ("/_batchsim/batches?offset=x", 400),
        ("/_batchsim/journal/recent?limit=-1", 400),
    ],
)
def test_bad_input_gets_the_error_envelope(http: httpx2.Client, path: str, status: int) -> None:
    answer = http.get(path)
    assert answer.status_code == status
    assert answer.json()["type"] == "error"


def test_request_routes_refuse_unknown_requests_and_states(http: httpx2.Client) -> None:
    batch_id = create(http, ["x"])
    assert http.get(f"/_batchsim/batches/{batch_id}/requests/5").status_code == 404
    assert http.get(f"/_batchsim/batches/{batch_id}/requests?state=weird").status_code == 400
    assert http.get(f"/_batchsim/batches/{batch_id}/results").status_code == 400  # not ended yet


def test_the_journal_summary_marks_injected_faults(sim: Emulator, http: httpx2.Client) -> None:
    create(http, ["x"])
    assert http.get("/v1/messages/batches", headers={"x-api-key": KEY}).status_code == 529
    assert http.get("/v1/messages/batches", headers={"x-api-key": KEY}).status_code == 200
    recent = get(http, "/_batchsim/journal/recent")
    assert [(c["endpoint"], c["status"], c["fault"]) for c in recent["data"]] == [
        ("list", 200, None),
        ("list", 529, "status 529"),
        ("create", 200, None),
    ]
    assert {c["key"] for c in recent["data"]} == {"\u2026a1b2"}
    assert recent["data"][0]["time"] == "2026-01-01T00:00:00.000000Z"
    assert get(http, "/_batchsim/journal/recent", fault="1")["total"] == 1
    assert get(http, "/_batchsim/journal/recent", status="5xx")["total"] == 1
    assert get(http, "/_batchsim/journal/recent", endpoint="create")["total"] == 1
    assert sim.calls[1].fault == "status 529"


def test_with_an_admin_token_every_data_route_needs_it(sim: Emulator, http: httpx2.Client) -> None:
    sim.admin_token = "t0ken"
    batch_id = create(http, ["x"])
    for path in ("/_batchsim/batches", f"/_batchsim/batches/{batch_id}", "/_batchsim/journal/recent"):
        assert http.get(path).status_code == 401
        assert http.get(path, headers={"x-batchsim-admin-token": "t0ken"}).status_code == 200
    assert http.get("/_batchsim/ui").status_code == 200  # the page itself holds no data
    assert http.get("/_batchsim/ui/config").json()["admin_token"] is True


# -- the page's first view, rendered by the server ----------------------------------------------------


def test_the_page_arrives_with_the_batches_and_the_journal_drawn(sim: Emulator, http: httpx2.Client) -> None:
    first = create(http, ["a-1", "a-2"])
    sim.advance(minutes=1)
    second = create(http, ["b-1"], key="other-key-9999")
    page = http.get("/_batchsim/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" not in html and " style=" not in html  # the script is a file; no inline style
    assert '<script src="/_batchsim/ui/static/app.js" defer></script>' in html
    for batch_id in (first, second):  # each id a link to its own page, before any script ran
        assert f'<a href="/_batchsim/ui/batches/{batch_id}" data-key="batch:{batch_id}">{batch_id}</a>' in html
    assert html.index(second) < html.index(first)  # newest first
    assert "2 succeeded" in html and "0 of 1 finished" in html  # the count bars' numbers
    assert '<h2 id="journal-heading">Journal' in html and "/v1/messages/batches" in html
    assert "\u2026a1b2" in html and KEY not in html  # key tails only
    assert '<b id="clock-kind">virtual</b>' in html and "2026-01-01 00:01:00" in html


def test_the_page_takes_its_filters_from_the_url(sim: Emulator, http: httpx2.Client) -> None:
    running = create(http, ["a-1"])
    sim.advance(minutes=1)
    ended = create(http, ["b-1"])  # the other is ended by now
    sim.advance(seconds=1)
    html = http.get("/_batchsim/ui", params={"status": "ended"}).text
    assert running in html and ended not in html
    assert 'aria-current="true">ended 1</a>' in html
    html = http.get("/_batchsim/ui", params={"status": "nonsense"}).text  # every batch, and why
    assert running in html and ended in html and "status: expected one of" in html


def test_a_batch_page_is_rendered_from_its_url(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["ok-1", "bad-1"])
    sim.advance(minutes=5)
    page = http.get(f"/_batchsim/ui/batches/{batch_id}", params={"request": "1"})
    assert page.status_code == 200
    html = page.text
    assert f"<title>batchsim \u00b7 {batch_id}</title>" in html
    assert 'id="batch-status">ended</span>' in html
    assert "1 succeeded \u00b7 1 errored" in html
    assert f'created under seed <b id="batch-seed">{sim.scenario.seed}</b>' in html
    assert "the scenario it was created under" in html and '"per_request": 10' in html
    assert 'id="delete-batch"' in html and 'id="cancel-batch"' not in html
    assert 'aria-current="true">bad-1</a>' in html and "overloaded_error" in html  # the request the URL names
    assert f'href="/_batchsim/batches/{batch_id}/results"' in html
    missing = http.get("/_batchsim/ui/batches/msgbatch_nope")
    assert missing.status_code == 404 and "No such batch" in missing.text
    for answer in (page, missing, http.get("/_batchsim/ui")):  # the rendered pages as the files
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "data:" not in policy
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"


def test_with_an_admin_token_the_page_is_rendered_without_data(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["x"])
    sim.admin_token = "t0ken"
    for path in ("/_batchsim/ui", f"/_batchsim/ui/batches/{batch_id}"):
        page = http.get(path)
        assert page.status_code == 200
        assert "admin token" in page.text
        assert "\u2026a1b2" not in page.text and "2026-01-01" not in page.text
    assert batch_id not in http.get("/_batchsim/ui").text


# -- cancel and delete ----------------------------------------------------------------------------------


def test_cancel_and_delete_through_the_control_plane(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["a", "b", "c", "d", "e"])
    assert get(http, f"/_batchsim/batches/{batch_id}")["actions"] == ["cancel"]
    refused = http.delete(f"/_batchsim/batches/{batch_id}")  # still running
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "type": "invalid_request_error",
        "message": f"Message batch {batch_id} is in_progress and cannot be deleted until it has ended; "
        "cancel it first.",
    }
    sim.advance(seconds=12)
    canceled = http.post(f"/_batchsim/batches/{batch_id}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_initiated_at"] == "2026-01-01T00:00:12.000000Z"
    assert canceled.json()["status"] in ("canceling", "ended")
    with sim.client(api_key=KEY) as client:  # the API sees the same cancel
        assert client.messages.batches.retrieve(batch_id).cancel_initiated_at is not None
    sim.advance(minutes=1)
    again = http.post(f"/_batchsim/batches/{batch_id}/cancel")
    assert again.status_code == 400
    assert again.json()["error"]["message"] == f"Message batch {batch_id} has already ended and cannot be canceled."
    row = get(http, f"/_batchsim/batches/{batch_id}")
    assert row["actions"] == ["delete"] and row["request_counts"]["canceled"] > 0
    deleted = http.delete(f"/_batchsim/batches/{batch_id}")
    assert deleted.status_code == 200 and deleted.json() == {"id": batch_id, "provider": "anthropic", "deleted": True}
    assert http.get(f"/_batchsim/batches/{batch_id}").status_code == 404
    assert http.post(f"/_batchsim/batches/{batch_id}/cancel").status_code == 404
    with sim.client(api_key=KEY) as client, pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch_id)


def test_cancel_and_delete_need_the_admin_token(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["x"])
    sim.admin_token = "t0ken"
    assert http.post(f"/_batchsim/batches/{batch_id}/cancel").status_code == 401
    assert http.delete(f"/_batchsim/batches/{batch_id}").status_code == 401
    answer = http.post(f"/_batchsim/batches/{batch_id}/cancel", headers={"x-batchsim-admin-token": "t0ken"})
    assert answer.status_code == 200 and answer.json()["cancel_initiated_at"] is not None


# -- OpenAI's batches beside Anthropic's ------------------------------------------------------------------

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def openai_batch(sim: Emulator, lines: list[bytes], key: str = "sk-openai-key-7777") -> str:
    with sim.openai_client(api_key=key) as client:
        upload = client.files.create(file=("in.jsonl", io.BytesIO(b"\n".join(lines))), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
    return batch.id


def chat_line(custom_id: str, body: dict[str, Any] | None = None) -> bytes:
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body or CHAT}
    return orjson.dumps(line)


def test_openai_batches_their_statuses_files_and_validation_errors(sim: Emulator, http: httpx2.Client) -> None:
    anthropic_id = create(http, ["x"])
    openai_id = openai_batch(sim, [chat_line("ok-1"), chat_line("bad-2"), chat_line("ok-3")])
    failed_id = openai_batch(sim, [chat_line("no-messages", {"model": "gpt-4o-mini"}), b"not json"])
    config = get(http, "/_batchsim/ui/config")
    providers = {p["name"]: (p["statuses"], p["deletes"]) for p in config["providers"]}
    assert providers["gemini"][0][0] == "BATCH_STATE_PENDING" and providers["gemini"][1] is True
    assert {k: v for k, v in providers.items() if k != "gemini"} == {
        "anthropic": (["in_progress", "canceling", "ended"], True),
        "openai": (
            ["validating", "in_progress", "finalizing", "cancelling", "completed", "failed", "expired", "cancelled"],
            False,
        ),
    }
    only = get(http, "/_batchsim/batches", provider="openai")
    assert sorted(r["id"] for r in only["data"]) == sorted([openai_id, failed_id])
    assert list(only["by_status"]) == providers["openai"][0]  # its own lifecycle
    assert only["by_provider"] == {"anthropic": 1, "openai": 2, "gemini": 0}
    html = http.get("/_batchsim/ui", params={"provider": "openai"}).text
    assert openai_id in html and anthropic_id not in html and "cancelled 0</a>" in html
    sim.advance(hours=1)
    detail = get(http, f"/_batchsim/batches/{openai_id}")
    assert detail["status"] == "completed" and detail["actions"] == []
    assert detail["files"] == {  # bad-2 errs (the scenario's rule): an output file and an error file
        "output": detail["links"]["output_file_id"],
        "error": detail["links"]["error_file_id"],
    }
    with sim.openai_client(api_key="sk-openai-key-7777") as client:
        for name, file_id in detail["files"].items():
            download = http.get(f"/_batchsim/batches/{openai_id}/files/{name}")
            assert download.status_code == 200 and download.content == client.files.content(file_id).content
            assert download.headers["content-disposition"] == f'attachment; filename="{openai_id}_{name}.jsonl"'
    assert b'"custom_id":"bad-2"' in http.get(f"/_batchsim/batches/{openai_id}/files/error").content
    missing = http.get(f"/_batchsim/batches/{openai_id}/files/input")
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    page = http.get(f"/_batchsim/ui/batches/{openai_id}").text
    assert f'href="/_batchsim/batches/{openai_id}/files/output"' in page
    assert f'href="/_batchsim/batches/{openai_id}/files/error"' in page
    failed = get(http, f"/_batchsim/batches/{failed_id}")
    assert failed["status"] == "failed"
    assert [(e["line"], e["code"]) for e in failed["links"]["errors"]] == [
        (1, "invalid_request"),
        (2, "invalid_json_line"),
    ]
    page = http.get(f"/_batchsim/ui/batches/{failed_id}").text
    assert "Validation errors" in page and "line 2: This line is not parseable as valid JSON." in page
    refused = http.delete(f"/_batchsim/batches/{openai_id}")  # OpenAI's API has no delete
    assert refused.status_code == 400 and "cannot delete" in refused.json()["error"]["message"]


def test_an_openai_batch_cancelled_from_the_control_plane(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = openai_batch(sim, [chat_line(f"r-{i}") for i in range(6)])
    sim.advance(seconds=15)
    answer = http.post(f"/_batchsim/batches/{batch_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
    with sim.openai_client(api_key="sk-openai-key-7777") as client:
        assert client.batches.retrieve(batch_id).status == "cancelling"
        sim.advance(hours=1)
        batch = client.batches.retrieve(batch_id)
        assert batch.status == "cancelled"
        files = get(http, f"/_batchsim/batches/{batch_id}")["files"]
        assert files.get("error") == batch.error_file_id and files.get("output") == batch.output_file_id
        assert http.get(f"/_batchsim/batches/{batch_id}/files/error").content == (
            client.files.content(batch.error_file_id).content
        )
    refused = http.post(f"/_batchsim/batches/{batch_id}/cancel")
    assert refused.status_code == 200  # OpenAI's API cancels a cancelled batch again without complaint


# -- the journal, one call at a time -----------------------------------------------------------------------


def test_a_journal_call_by_its_id_with_headers_and_body(sim: Emulator, http: httpx2.Client) -> None:
    create(http, ["journal-1"])
    http.get("/v1/messages/batches", headers={"x-api-key": KEY})
    recent = get(http, "/_batchsim/journal/recent")
    ids = [c["id"] for c in recent["data"]]
    assert len(ids) == 2 and ids[0] > ids[1]  # newest first, each with its id
    call = get(http, f"/_batchsim/journal/{ids[1]}")
    assert (call["id"], call["method"], call["path"], call["endpoint"]) == (
        ids[1],
        "POST",
        "/v1/messages/batches",
        "create",
    )
    assert call["headers"]["x-api-key"] == "\u2026a1b2"  # redacted, as GET /_batchsim/journal does
    assert KEY not in http.get(f"/_batchsim/journal/{ids[1]}").text
    assert orjson.loads(call["body"])["requests"][0]["custom_id"] == "journal-1"
    assert call["key"] == "\u2026a1b2" and call["body_truncated"] is False
    for bad in ("999", "x", "1" * 30, "%C2%B2"):
        answer = http.get(f"/_batchsim/journal/{bad}")
        assert answer.status_code == 404 and answer.json()["type"] == "error"
    sim.reset()  # ids go on counting: an old id never names a new call
    http.get("/v1/messages/batches", headers={"x-api-key": KEY})
    assert http.get(f"/_batchsim/journal/{ids[1]}").status_code == 404
    assert get(http, "/_batchsim/journal/recent")["data"][0]["id"] > ids[0]


def test_the_in_progress_share_is_of_requests_finished(sim: Emulator, http: httpx2.Client) -> None:
    batch_id = create(http, ["a", "b", "c", "d"])  # 1 s start, concurrency 2, 10 s each
    sim.advance(seconds=12)
    row = get(http, "/_batchsim/batches")["data"][0]
    assert row["id"] == batch_id
    assert (row["finished"], row["progress"]) == (2, 0.5)  # two of four, whatever the time
    html = http.get("/_batchsim/ui").text
    assert "2 of 4 finished" in html and '<rect class="progress" width="500.0" height="10">' in html


def test_gemini_batches_cancel_delete_and_their_responses_file(sim: Emulator, http: httpx2.Client) -> None:
    with sim.gemini_client(api_key="gemini-key-5555") as client:
        lines = [
            {"key": f"g-{i}", "request": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}} for i in range(3)
        ]
        uploaded = client.files.upload(
            file=io.BytesIO(b"\n".join(orjson.dumps(x) for x in lines)), config={"mime_type": "application/jsonl"}
        )
        filed = str(client.batches.create(model="gemini-2.5-flash", src=str(uploaded.name)).name).removeprefix(
            "batches/"
        )
        running = str(client.batches.create(model="gemini-2.5-flash", src=[{"contents": "Hi"}] * 5).name)
        running = running.removeprefix("batches/")
        assert get(http, f"/_batchsim/batches/{running}")["actions"] == ["cancel"]
        sim.advance(seconds=12)
        canceled = http.post(f"/_batchsim/batches/{running}/cancel")
        assert canceled.status_code == 200 and canceled.json()["cancel_initiated_at"] is not None
        sim.advance(hours=1)
        assert str(client.batches.get(name=f"batches/{running}").state) == "JobState.JOB_STATE_CANCELLED"
        refused = http.post(f"/_batchsim/batches/{running}/cancel")  # ended: Gemini refuses it too
        assert refused.status_code == 400 and refused.json()["type"] == "error"
        detail = get(http, f"/_batchsim/batches/{filed}")
        assert detail["status"] == "BATCH_STATE_SUCCEEDED" and detail["actions"] == ["delete"]
        assert detail["files"] == {"responses": detail["links"]["responses_file"]}
        download = http.get(f"/_batchsim/batches/{filed}/files/responses")
        assert download.status_code == 200
        assert download.content == client.files.download(file=detail["links"]["responses_file"])
        assert http.delete(f"/_batchsim/batches/{filed}").status_code == 200
        assert http.get(f"/_batchsim/batches/{filed}").status_code == 404
        page = http.get("/_batchsim/ui", params={"provider": "gemini"}).text
        assert running in page and filed not in page and "BATCH_STATE_EXPIRED 0</a>" in page
