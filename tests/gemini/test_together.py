"""Gemini beside the other providers: one scenario file and one clock driving batches of all
three, the dashboard's and the control plane's view of Gemini's batches, the journal, and the
``[gemini]`` section's checks."""

from __future__ import annotations

import io
from pathlib import Path

import anthropic
import httpx2
import orjson
import pytest
from google.genai import errors, types
from serverproc import ServerProcess

from batchsim import Emulator, Scenario, ScenarioError

from .conftest import MODEL, inline, over_http

SCENARIO = Path(__file__).with_name("three_providers.toml")


def test_one_scenario_file_drives_all_three_providers_on_one_clock() -> None:
    sim = Emulator(SCENARIO)
    try:
        claude = sim.client(max_retries=0)
        message = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        msgbatch = claude.messages.batches.create(
            requests=[{"custom_id": "poison-a", "params": message}, {"custom_id": "ok-a", "params": message}]  # type: ignore[list-item]
        )
        gpt = sim.openai_client(max_retries=0)
        lines = b"".join(
            orjson.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                          "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}) + b"\n"
            for cid in ("poison-o", "ok-o")
        )  # fmt: skip
        upload = gpt.files.create(file=("in.jsonl", io.BytesIO(lines)), purpose="batch")
        openai_batch = gpt.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        gemini = sim.gemini_client()
        job = gemini.batches.create(model=MODEL, src=inline(1, "poison") + inline(1, "ok"))
        sim.advance(seconds=31)  # one clock: every batch has run its one block of requests
        with pytest.raises(anthropic.InternalServerError):  # the 529 named "retrieve" is Anthropic's
            claude.messages.batches.retrieve(msgbatch.id)
        assert claude.messages.batches.retrieve(msgbatch.id).processing_status == "ended"
        results = {r.custom_id: r.result.type for r in claude.messages.batches.results(msgbatch.id)}
        assert results == {"poison-a": "errored", "ok-a": "succeeded"}
        assert gpt.batches.retrieve(openai_batch.id).status == "completed"
        assert gpt.batches.retrieve(openai_batch.id).request_counts.failed == 1  # type: ignore[union-attr]
        with pytest.raises(errors.ServerError) as unavailable:
            gemini.batches.get(name=job.name)  # type: ignore[arg-type]
        assert unavailable.value.status == "UNAVAILABLE"
        done = gemini.batches.get(name=job.name)  # type: ignore[arg-type]
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        poisoned, fine = done.dest.inlined_responses  # type: ignore[union-attr, misc]
        assert poisoned.error.code == 400 and poisoned.error.message == "poisoned"  # [gemini] error_codes = "http"
        assert fine.response.text.startswith("Simulated reply to ok-0")
    finally:
        sim.close()


def test_the_gemini_section_is_checked() -> None:
    with pytest.raises(ScenarioError, match=r"gemini\.bogus: unknown key"):
        Scenario.of(gemini={"bogus": 1})
    with pytest.raises(ScenarioError, match=r"gemini\.missing_input_file"):
        Scenario.of(gemini={"missing_input_file": "maybe"})
    with pytest.raises(ScenarioError, match=r"faults\.0\.endpoint"):
        Scenario.of(faults=[{"endpoint": "gemini.batches.explode", "times": 1}])
    with pytest.raises(ScenarioError, match=r'\{"key": \.\.\., "response"'):
        Scenario.of(canned=[{"key": "k", "neither": 1}])
    assert Scenario.of(gemini={"pending": 0}).to_dict()["gemini"]["pending"] == 0


def test_a_missing_input_file_can_fail_the_batch_instead(sim: Emulator) -> None:
    sim.scenario = Scenario.of(gemini={"missing_input_file": "fail", "pending": 1})
    client = sim.gemini_client()
    job = client.batches.create(model=MODEL, src="files/nosuchfile")
    assert job.state == types.JobState.JOB_STATE_PENDING
    sim.advance(seconds=1)
    failed = client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert failed.state == types.JobState.JOB_STATE_FAILED and failed.dest is None
    raw = orjson.loads(client._api_client.request("get", str(job.name), {}).body)
    assert raw["done"] is True and raw["error"]["code"] == 3 and "nosuchfile" in raw["error"]["message"]


def test_the_dashboard_and_control_plane_show_gemini_batches(fresh_server: ServerProcess) -> None:
    client = over_http(fresh_server.url, key="dash-key")
    job = client.batches.create(model=MODEL, src=inline(2), config={"display_name": "dash"})
    batch_id = str(job.name).removeprefix("batches/")
    listed = fresh_server.control("GET", "batches", params={"provider": "gemini"}).json()
    assert listed["by_provider"]["gemini"] == 1
    (item,) = listed["data"]
    assert item["provider"] == "gemini" and item["id"] == batch_id and item["status"] == "BATCH_STATE_PENDING"
    assert item["links"]["name"] == job.name and item["links"]["display_name"] == "dash"
    statuses = {p["name"]: p["statuses"] for p in fresh_server.control("GET", "ui/config").json()["providers"]}
    assert statuses["gemini"][0] == "BATCH_STATE_PENDING" and "BATCH_STATE_EXPIRED" in statuses["gemini"]
    fresh_server.advance(600)
    one = fresh_server.control("GET", f"batches/{batch_id}").json()
    assert one["status"] == "BATCH_STATE_SUCCEEDED" and one["provider"] == "gemini"
    results = fresh_server.control("GET", f"batches/{batch_id}/results")
    assert [orjson.loads(x)["key"] for x in results.content.splitlines()] == ["req-0", "req-1"]
    request = fresh_server.control("GET", f"batches/{batch_id}/requests/1").json()
    assert request["custom_id"] == "req-1"
    journal = fresh_server.control("GET", "journal").json()["calls"]
    assert journal[0]["endpoint"] == "gemini.batches.create" and journal[0]["headers"]["x-goog-api-key"] != "dash-key"
    fresh_server.control("POST", "reset").raise_for_status()
    with pytest.raises(errors.ClientError):
        client.batches.get(name=job.name)  # type: ignore[arg-type]
    assert httpx2.get(f"{fresh_server.url}/_batchsim/batches", timeout=30).json()["data"] == []
