"""Input checks and batch cutting: everything that happens before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchclient import BatchRunner, InputError, Progress
from batchclient._input import BODY_OVERHEAD, read_entries, request_size
from batchclient._state import ChunkState, JobState, load_state, save_state
from batchclient._store import WorkStore

from .conftest import requests_for


def _index(tmp_path: Path, text: str) -> WorkStore:
    path = tmp_path / "in.jsonl"
    path.write_text(text)
    store = WorkStore(tmp_path / "work.sqlite")
    store.index(read_entries(path))
    return store


def _line(cid: object, **params: object) -> str:
    base = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": cid, "params": {**base, **params}}) + "\n"


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json\n", "not valid JSON"),
        ('["a list"]\n', "expected a JSON object"),
        ('{"custom_id": "x"}\n', "missing 'params'"),
        ('{"custom_id": "x", "params": {}, "extra": 1}\n', "unexpected key(s) 'extra'"),
        (_line("has space"), "custom_id 'has space' must be 1-64 characters"),
        (_line("x" * 65), "must be 1-64 characters"),
        (_line(""), "must be 1-64 characters"),
        (_line(7), "custom_id 7 must be"),
        (_line("x", max_tokens=0), "params.max_tokens must be an integer >= 1"),
        ('{"custom_id": "x", "params": {"model": "m", "max_tokens": 5}}\n', "params.messages is required"),
        (_line("first"), "duplicate custom_id 'first' (first on line 1)"),
    ],
)
def test_a_bad_line_is_named_with_its_number(tmp_path: Path, bad_line: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        _index(tmp_path, _line("first") + "\n" + bad_line)
    assert info.value.problems[0][0] == 3  # blank lines are skipped but still counted
    assert message in info.value.problems[0][1]
    assert "line 3: " in str(info.value) and message in str(info.value)


def test_a_duplicate_is_reported_whatever_else_is_wrong(tmp_path: Path) -> None:
    first_bad = '{"custom_id": "a", "params": {}}\n'
    with pytest.raises(InputError) as info:
        _index(tmp_path, first_bad + _line("a") + _line("a", max_tokens=0) + '{"custom_id": "a"}\n' + _line("b"))
    problems = dict(info.value.problems)
    assert sorted(problems) == [1, 2, 3, 4]
    assert "duplicate" not in problems[1]
    assert problems[2] == "duplicate custom_id 'a' (first on line 1)"
    assert problems[3] == (
        "custom_id 'a': params.max_tokens must be an integer >= 1; duplicate custom_id 'a' (first on line 1)"
    )
    assert problems[4] == "missing 'params'; duplicate custom_id 'a' (first on line 1)"


def test_every_problem_is_listed_up_to_a_limit(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        _index(tmp_path, "".join(_line(f"bad id {i}") for i in range(25)))
    assert len(info.value.problems) == 20
    assert "... and 5 more problem(s)" in str(info.value)


def test_an_empty_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the input is empty"):
        _index(tmp_path, "\n\n")


def test_bad_input_sends_nothing(tmp_path: Path) -> None:
    import anthropic

    # A base URL where nothing listens: any API call would fail with a connection error.
    client = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0)
    runner = BatchRunner(client, progress=Progress(None))
    with pytest.raises(InputError, match="line 2"):
        runner.run(iter([*requests_for(["a"]), {"custom_id": "a"}]), tmp_path / "o.jsonl")
    client.close()


def test_batches_are_cut_by_count_and_by_bytes_in_input_order(tmp_path: Path) -> None:
    store = _index(tmp_path, "".join(_line(f"r{i}", system="x" * (100 * i)) for i in range(10)))
    by_count = store.plan_round(0, 4, 10**9)
    assert [p.requests for p in by_count] == [4, 4, 2]
    assert [cid for cid, _, _ in store.members(0, 2)] == ["r8", "r9"]

    sizes = [request_size(json.loads(_line(f"r{i}", system="x" * (100 * i)))) for i in range(10)]
    budget = BODY_OVERHEAD + sum(sizes[:5])  # exactly the first five fit
    by_bytes = store.plan_round(0, 100, budget)
    assert by_bytes[0].requests == 5
    assert all(p.bytes <= budget for p in by_bytes)
    assert sum(p.requests for p in by_bytes) == 10


def test_request_size_bounds_what_the_sdk_sends() -> None:
    request = {"custom_id": "a", "params": {"messages": [{"role": "user", "content": "héllo ✓ 日本"}]}}
    sent = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
    assert request_size(request) > len(sent)


def test_state_file_round_trips_and_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    state = JobState("abc", "in.jsonl", "/out.jsonl", chunks=[ChunkState(0, 0, 3, 100, "h", batch_id="b1")])
    save_state(path, state)
    save_state(path, state)
    assert load_state(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]  # no temp file left behind
