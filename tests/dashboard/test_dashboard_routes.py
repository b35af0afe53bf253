"""The dashboard's JSON routes, through the emulator's ASGI app (in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
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
