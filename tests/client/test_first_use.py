"""What a new user runs into first: plain price tables."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
from serverproc import ServerProcess

from batchclient import BatchRunner, Price, Progress

from .conftest import SUMMARIZE, cli_env, make_runner

Main = Callable[..., tuple[int, str, str]]


def _journal(server: ServerProcess) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = server.control("GET", "journal").json()["calls"]
    return calls


@pytest.mark.server
def test_a_plain_mapping_prices_like_a_price(sim: ServerProcess, tmp_path: Path) -> None:
    plain = {"claude-sonnet-4-5": {"input": 3.0, "output": 15.0}}  # as the README writes it
    typed = {"claude-sonnet-4-5": Price(input=3.0, output=15.0)}
    from_plain = make_runner(sim, prices=plain).run(SUMMARIZE, out=tmp_path / "a.jsonl").report
    from_typed = make_runner(sim, prices=typed).run(SUMMARIZE, out=tmp_path / "b.jsonl").report
    assert from_plain.cost_standard > 0
    assert from_plain.cost_standard == pytest.approx(from_typed.cost_standard)
    assert from_plain.prices["claude-sonnet-4-5"] == Price(3.0, 15.0)
    assert "estimated cost: $" in from_plain.to_text()


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"claude-sonnet-4-5": {"input": 3.0}}, "prices['claude-sonnet-4-5']: missing 'output'"),
        ({"m": {"input": 3.0, "output": "15"}}, "prices['m']: 'output' must be a number >= 0"),
        ({"m": {"input": -1, "output": 1}}, "'input' must be a number >= 0"),
        ({"m": {"input": True, "output": 1}}, "'input' must be a number >= 0"),
        ({"m": {"input": 1, "output": 1, "cache_wirte": 1}}, "unknown price key(s) 'cache_wirte'"),
        ({"m": 3.0}, 'prices[\'m\']: expected an object like {"input": 3.0, "output": 15.0}'),
        ({"": Price(1.0, 1.0)}, "a model prefix must be a non-empty string"),
    ],
)
def test_a_bad_price_table_fails_when_the_runner_is_built(prices: Any, message: str) -> None:
    client = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0)  # nothing listens
    try:
        with pytest.raises(ValueError, match=re.escape(message)):
            BatchRunner(client, prices=prices, progress=Progress(None))
    finally:
        client.close()


@pytest.mark.server
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("root:x:0:0:root:/root:/bin/bash\n", " is not JSON (Expecting value: line 1 column 1 (char 0)): expected"),
        ("[1, 2]", " holds a JSON list: expected"),
        ('{"claude-sonnet-4-5": {"input": 3}}', ", model 'claude-sonnet-4-5': missing 'output'"),
    ],
    ids=["not-json", "not-an-object", "bad-entry"],
)
def test_a_prices_file_that_is_no_price_table_is_named(
    sim: ServerProcess, tmp_path: Path, main_in_process: Main, content: str, message: str
) -> None:
    prices = tmp_path / "passwd"
    prices.write_text(content)
    out = tmp_path / "o.jsonl"
    code, _, err = main_in_process("run", str(SUMMARIZE), "-o", str(out), "--prices", str(prices), env=cli_env(sim))
    assert code == 2
    assert err.startswith(f"batchclient: prices file {prices}{message}")
    if message.endswith("expected"):
        assert 'expected a JSON object like {"claude-sonnet-4-5": {"input": 3.0, "output": 15.0}}' in err
    assert len(err.strip().splitlines()) == 1
    assert _journal(sim) == []
