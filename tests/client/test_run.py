"""A whole job against a real server: mixed outcomes, HTTP faults, retry rounds, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serverproc import ServerProcess

from .conftest import (
    created_ids,
    listed_batches,
    make_runner,
    read_jsonl,
    requests_for,
    scenario,
    write_jsonl,
)

pytestmark = pytest.mark.server


def test_mixed_job_ends_with_every_retryable_request_succeeded(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control("PUT", "scenario", json=scenario("client-mixed.toml")).raise_for_status()
    ids = [f"doc-{i:03d}" for i in range(60)] + ["bad-1", "bad-2"]
    ids.insert(10, ids.pop())  # a bad one in the middle of the input
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(ids))
    out = tmp_path / "out.jsonl"

    outcome = make_runner(sim, max_batch_requests=25).run(source, out, retries=8)

    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == ids  # every id once, in input order
    by_id = {line["custom_id"]: line["result"] for line in lines}
    assert {cid for cid, r in by_id.items() if r["type"] != "succeeded"} == {"bad-1", "bad-2"}
    assert by_id["bad-1"]["error"]["error"]["type"] == "invalid_request_error"

    report = outcome.report
    assert report.requests == 62
    assert report.counts == {"succeeded": 60, "errored": 2, "expired": 0, "canceled": 0}
    assert [(f.custom_id, f.error_type) for f in report.failures] == [
        ("bad-2", "invalid_request_error"),
        ("bad-1", "invalid_request_error"),
    ]
    assert report.rounds >= 2  # the scenario's random errors and expiries forced retry rounds
    assert report.usage.input_tokens > 0 and report.usage.output_tokens > 0
    assert report.cost_batch == pytest.approx(report.cost_standard / 2) and report.cost_batch > 0
    assert "2 errored" in report.to_text() and "bad-1: errored invalid_request_error" in report.to_text()

    # Nothing was submitted twice in round 0 despite 529s and a dropped create, and the bad
    # requests were never retried; every batch in the workspace belongs to the job.
    created = created_ids(sim)
    assert set(created) == set(ids)
    assert created["bad-1"] == created["bad-2"] == 1
    assert listed_batches(sim) == set(outcome.batch_ids)
    assert sum(created.values()) == sum(c.requests for c in make_runner(sim).job_state(outcome.state).chunks)


def test_rerunning_a_finished_job_submits_nothing(sim: ServerProcess, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", requests_for([f"r{i}" for i in range(5)]))
    out = tmp_path / "out.jsonl"
    first = make_runner(sim).run(source, out)
    out.unlink()
    second = make_runner(sim).run(source, out)
    assert second.batch_ids == first.batch_ids
    assert sum(created_ids(sim).values()) == 5
    assert [line["custom_id"] for line in read_jsonl(out)] == [f"r{i}" for i in range(5)]


def test_more_retries_on_a_rerun_continue_the_job(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control("PUT", "scenario", json={"rules": [{"custom_id": "^flaky", "result": "errored"}]}).raise_for_status()
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["ok-1", "flaky-1", "ok-2"]))
    out = tmp_path / "out.jsonl"
    first = make_runner(sim).run(source, out, retries=0)
    assert first.report.rounds == 1 and first.report.counts["errored"] == 1
    second = make_runner(sim).run(source, out, retries=2)
    assert second.report.rounds == 3
    assert created_ids(sim) == {"ok-1": 1, "ok-2": 1, "flaky-1": 3}
    assert second.report.failures[0].error_type == "api_error"


def test_iterable_input_and_expired_requests(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control("PUT", "scenario", json={"rules": [{"custom_id": "^late", "result": "expired"}]}).raise_for_status()
    items = requests_for(["a", "late-1", "b"])
    outcome = make_runner(sim).run(iter(items), tmp_path / "out.jsonl", retries=1)
    assert [line["result"]["type"] for line in read_jsonl(tmp_path / "out.jsonl")] == [
        "succeeded",
        "expired",
        "succeeded",
    ]
    assert created_ids(sim)["late-1"] == 2  # expired requests are retried
    assert outcome.report.counts["expired"] == 1 and not outcome.ok


def test_prices_can_be_overridden(sim: ServerProcess, tmp_path: Path) -> None:
    from batchclient import Price

    sim.control("PUT", "scenario", json={"anthropic": {"any_model": True}}).raise_for_status()  # a made-up model
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "b"], model="my-model-x"))
    default = make_runner(sim).run(source, tmp_path / "o1.jsonl", state=tmp_path / "s1.json")
    assert default.report.unpriced_models == ("my-model-x",) and default.report.cost_standard == 0
    priced = make_runner(sim, prices={"my-model": Price(input=1e6, output=0)}).run(
        source, tmp_path / "o2.jsonl", state=tmp_path / "s2.json"
    )
    assert priced.report.cost_standard == priced.report.usage.input_tokens
    assert json.loads(json.dumps(priced.report.to_dict()))["counts"]["succeeded"] == 2


@pytest.mark.parametrize("raw_create", [True, False], ids=["body-bytes", "sdk-create"])
def test_create_sends_the_original_requests_either_way(sim: ServerProcess, tmp_path: Path, raw_create: bool) -> None:
    items = requests_for(["a", "b"]) + requests_for(["c"], system="Résumé ✓", temperature=0.2)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(item, indent=None, separators=(", ", " : ")) + "\n" for item in items))
    runner = make_runner(sim)
    runner.api.raw_create = raw_create  # SDKs whose `post` has no `content=` take the second way
    runner.run(source, tmp_path / "out.jsonl")
    (call,) = [c for c in sim.control("GET", "journal").json()["calls"] if c["endpoint"] == "create"]
    assert json.loads(call["body"]) == {"requests": items}


def test_deleting_the_state_file_starts_the_job_over(sim: ServerProcess, tmp_path: Path) -> None:
    sim.control("PUT", "scenario", json={"rules": [{"custom_id": "^flaky", "result": "errored"}]})
    source = write_jsonl(tmp_path / "in.jsonl", requests_for(["a", "flaky-1"]))
    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    assert make_runner(sim).run(source, out, state=state, retries=2).report.counts["errored"] == 1
    state.unlink()  # the work folder beside it stays behind
    sim.control("PUT", "scenario", json={}).raise_for_status()
    again = make_runner(sim).run(source, out, state=state, retries=2)
    assert again.ok and again.report.rounds == 1
    assert [line["result"]["type"] for line in read_jsonl(out)] == ["succeeded", "succeeded"]


def test_an_iterable_job_resumes_only_with_the_same_requests(sim: ServerProcess, tmp_path: Path) -> None:
    from batchclient import StateError

    out, state = tmp_path / "out.jsonl", tmp_path / "job.json"
    make_runner(sim).run(iter(requests_for(["a", "b"])), out, state=state)
    with pytest.raises(StateError, match="another input"):
        make_runner(sim).run(iter(requests_for(["a", "c"])), out, state=state)
    again = make_runner(sim).run(iter(requests_for(["a", "b"])), out, state=state)
    assert again.ok and sum(created_ids(sim).values()) == 2


def test_the_report_shows_what_prompt_caching_saved(sim: ServerProcess, tmp_path: Path) -> None:
    handbook = "The handbook says: " + "every clause matters and is read with care. " * 200
    system = [{"type": "text", "text": handbook, "cache_control": {"type": "ephemeral"}}]
    ids = [f"q-{i}" for i in range(10)]
    cached = make_runner(sim).run(write_jsonl(tmp_path / "c.jsonl", requests_for(ids, system=system)), tmp_path / "o1")
    plain = make_runner(sim).run(write_jsonl(tmp_path / "p.jsonl", requests_for(ids, system=handbook)), tmp_path / "o2")
    usage = cached.report.usage
    assert (
        usage.cache_creation_input_tokens > 1024
        and usage.cache_read_input_tokens == 9 * usage.cache_creation_input_tokens
    )
    assert plain.report.usage.cache_read_input_tokens == 0 and plain.report.cache_saved == 0
    # Nine reads at a tenth of the price outweigh one write at 1.25 times: the cached job is cheaper.
    assert cached.report.cache_saved > 0
    assert cached.report.cost_batch + cached.report.cache_saved == pytest.approx(plain.report.cost_batch, rel=0.01)
    assert f"prompt caching saved ${cached.report.cache_saved:,.2f}" in cached.report.to_text()
