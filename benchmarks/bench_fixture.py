"""Per-test overhead of the ``batchsim`` pytest fixture.

Inner pytest sessions (in this process) run N generated tests each, interleaved over rounds; a
small plugin records pytest's own setup/call/teardown durations of every test. Two comparisons:

* fixture setup + teardown of an empty test using ``batchsim`` vs an empty test with no fixture;
* a whole test doing create → advance → results for 100 requests through the SDK with the
  ``batchsim`` fixture vs the same SDK calls over a bare ``httpx2.MockTransport`` answering canned
  responses (the cheapest an SDK-level test can be). This one is context: the difference is the
  emulator doing the work (validating, planning, writing 100 results), not the fixture.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from batchsim import Emulator

from . import _common as c

__all__ = ["run"]

_REQUESTS = [
    {
        "custom_id": f"doc-{i}",
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]},
    }
    for i in range(100)
]

_WITH_FIXTURE = """
import json, pathlib
REQUESTS = json.loads((pathlib.Path(__file__).parent / "requests.json").read_text())

def _cycle(batchsim):
    client = batchsim.client(max_retries=0)
    batch = client.messages.batches.create(requests=REQUESTS)
    batchsim.advance(hours=1)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert len(list(client.messages.batches.results(batch.id))) == 100

{tests}
"""

_BARE = """
import json, pathlib
import anthropic, httpx2
HERE = pathlib.Path(__file__).parent
REQUESTS = json.loads((HERE / "requests.json").read_text())
CANNED = json.loads((HERE / "canned.json").read_text())

def _handler(request):
    path = request.url.path
    if request.method == "POST":
        body = CANNED["create"]
    elif path.endswith("/results"):
        jsonl = {{"content-type": "application/x-jsonl"}}
        return httpx2.Response(200, content=CANNED["results"].encode(), headers=jsonl)
    else:
        body = CANNED["retrieve"]
    return httpx2.Response(200, content=body.encode(), headers={{"content-type": "application/json"}})

def _cycle():
    http_client = httpx2.Client(transport=httpx2.MockTransport(_handler))
    client = anthropic.Anthropic(api_key="k", base_url="http://batchsim.local", max_retries=0, http_client=http_client)
    batch = client.messages.batches.create(requests=REQUESTS)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"
    assert len(list(client.messages.batches.results(batch.id))) == 100

{tests}
"""


class _Durations:
    """Sums pytest's own phase durations per test."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = defaultdict(dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases[report.nodeid][report.when] = report.duration


def _canned() -> dict[str, str]:
    sim = Emulator()
    client = sim.client(max_retries=0)
    created = client.messages.batches.with_raw_response.create(requests=_REQUESTS)  # type: ignore[arg-type]
    batch_id = created.parse().id
    sim.advance(hours=1)
    retrieved = client.messages.batches.with_raw_response.retrieve(batch_id)
    results = client.messages.batches.with_raw_response.results(batch_id)
    return {
        "create": created.http_response.text,
        "retrieve": retrieved.http_response.text,
        "results": results.http_response.read().decode(),
    }


def _write(folder: Path, n: int) -> None:
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (folder / "requests.json").write_bytes(orjson.dumps(_REQUESTS))
    (folder / "canned.json").write_bytes(orjson.dumps(_canned()))
    fixture_tests = "\n".join(f"def test_cycle_{i}(batchsim):\n    _cycle(batchsim)\n" for i in range(n))
    (folder / "test_with_fixture.py").write_text(_WITH_FIXTURE.format(tests=fixture_tests))
    bare_tests = "\n".join(f"def test_cycle_{i}():\n    _cycle()\n" for i in range(n))
    (folder / "test_bare.py").write_text(_BARE.format(tests=bare_tests))
    empty_fixture = "\n".join(f"def test_empty_{i}(batchsim):\n    pass\n" for i in range(n))
    (folder / "test_empty_fixture.py").write_text(empty_fixture)
    empty = "\n".join(f"def test_empty_{i}():\n    pass\n" for i in range(n))
    (folder / "test_empty.py").write_text(empty)


def _session(folder: Path, name: str) -> tuple[float, float]:
    """Median per-test (setup + teardown, whole test) in milliseconds for one file."""
    durations = _Durations()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main([str(folder / name), "-q", "--rootdir", str(folder)], plugins=[durations])
    if code != 0:
        raise RuntimeError(f"the inner pytest run of {name} failed ({code})")
    fixture = [p.get("setup", 0.0) + p.get("teardown", 0.0) for p in durations.phases.values()]
    whole = [sum(p.values()) for p in durations.phases.values()]
    return statistics.median(fixture) * 1000, statistics.median(whole) * 1000


def run() -> list[dict[str, Any]]:
    n = 100 if c.QUICK else 300
    rounds = c.rounds()
    samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
    names = ("test_empty.py", "test_empty_fixture.py", "test_bare.py", "test_with_fixture.py")
    with tempfile.TemporaryDirectory(prefix="batchsim-bench-fixture-") as tmp:
        folder = Path(tmp)
        _write(folder, n)
        for name in names:  # warm-up: imports, first SDK client
            _session(folder, name)
        for _ in range(rounds):
            for name in names:
                samples[name].append(_session(folder, name))

    def median(name: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[name])

    empty, fixture = median("test_empty.py", 0), median("test_empty_fixture.py", 0)
    bare, ours = median("test_bare.py", 1), median("test_with_fixture.py", 1)
    overhead = fixture - empty
    note = f"pytest's own phase durations, median over {n} tests x {rounds} rounds"
    return [
        c.row(
            "pytest fixture `batchsim`: setup + teardown",
            fixture,
            "ms/test",
            f"empty test using the fixture vs an empty test without one ({overhead:.3f} ms added); {note}",
            baseline=empty,
            ratio=fixture / empty if empty else None,
            target="< 1 ms added",
            ok=overhead < 1.0,
        ),
        c.row(
            "pytest test: create -> advance -> results, 100 requests",
            ours,
            "ms/test",
            f"`batchsim` fixture vs the same SDK calls over a bare httpx2.MockTransport with canned answers; {note}",
            baseline=bare,
            ratio=ours / bare,
        ),
    ]


if __name__ == "__main__":  # pragma: no cover - manual run
    for line in run():
        print(line)
