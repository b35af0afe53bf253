"""``batchsim record --provider openai|gemini``: the unmodified SDKs run their batch workflow through
the proxy in front of a real ``batchsim serve``; the cassette replays offline, each recorded
request's result byte for byte (by custom_id or key) with a lifecycle close to the recorded one;
no key is written anywhere, a Gemini ``?key=`` included."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson
import pytest
from google import genai
from google.genai import types
from serverproc import ServerProcess, running_server, start_server, stop_server

from batchsim._engine.scenario import Scenario
from batchsim._serve.upstreams import parse_time

from .conftest import UPSTREAM_KEY, upstream, write_scenario

pytestmark = pytest.mark.server

RECORDED = """
seed = 3
[timing]
start_delay = 30.0
per_request = 20.0
concurrency = 4
[outcomes]
errored = 0.25
error_types = { api_error = 0.5, overloaded_error = 0.5 }
[[rules]]
custom_id = "^poison-"
result = "errored"
error_type = "rate_limit_error"
[openai]
validating = 12.0
finalizing = 8.0
[gemini]
pending = 4.0
"""
GEMINI_MODEL = "gemini-2.5-flash"
OPENAI_ENDED = ("completed", "failed", "expired", "cancelled")


def recording(provider: str, upstream_url: str, out: Path) -> ServerProcess:
    return start_server("--provider", provider, "--upstream", upstream_url, "--out", str(out), command="record")


def no_key_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert UPSTREAM_KEY.encode() not in path.read_bytes(), path


def until(done: Callable[[], Any], server: ServerProcess, step: float) -> Any:
    """Poll like client code does, moving the server's virtual clock between polls."""
    while True:
        found = done()
        if found:
            return found
        server.advance(step)


# -- OpenAI -------------------------------------------------------------------------------------


def openai_input(prefix: str, n: int) -> bytes:
    lines = [f"{prefix}-{i}" for i in range(n)] + [f"poison-{prefix}"]
    return b"".join(
        orjson.dumps(
            {
                "custom_id": cid,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {cid}"}]},
            }
        )
        + b"\n"
        for cid in lines
    )


def openai_run(client: openai.OpenAI, server: ServerProcess, data: bytes) -> tuple[Any, dict[str, bytes]]:
    """Upload, create, poll, download: the ended batch and every results line by custom_id."""
    uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    ended = until(lambda: (b := client.batches.retrieve(batch.id)).status in OPENAI_ENDED and b, server, 5.0)
    lines: dict[str, bytes] = {}
    for file_id in (ended.output_file_id, ended.error_file_id):
        if file_id is not None:
            for line in client.files.content(file_id).read().splitlines():
                lines[orjson.loads(line)["custom_id"]] = line
    return ended, lines


def test_openai_records_and_replays(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "recorded.toml", RECORDED)
    out = tmp_path / "cassette"
    recorded: dict[str, tuple[bytes, int, dict[str, bytes]]] = {}
    with upstream("--scenario", str(scenario)) as real:
        proxy = recording("openai", real.url, out)
        try:
            with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=UPSTREAM_KEY, max_retries=2) as client:
                for prefix, n in (("small", 6), ("large", 23)):
                    data = openai_input(prefix, n)
                    ended, lines = openai_run(client, real, data)
                    assert ended.status == "completed" and ended.error_file_id is not None
                    recorded[ended.id] = (data, ended.completed_at - ended.created_at, lines)
                    folder = out / "batches" / ended.id
                    output = client.files.content(ended.output_file_id).read()  # a second download: kept once
                    assert (folder / "output.jsonl").read_bytes() == output
                    errors = client.files.content(ended.error_file_id).read()
                    assert (folder / "errors.jsonl").read_bytes() == errors
                    assert orjson.loads((folder / "create.json").read_bytes())["endpoint"] == "/v1/chat/completions"
        finally:
            stop_server(proxy)

    about = orjson.loads((out / "cassette.json").read_bytes())
    assert about == {"format": 1, "upstream": real.url, "provider": "openai"}
    assert len((out / "canned.jsonl").read_bytes().splitlines()) == 7 + 24
    calls = [orjson.loads(line) for line in (out / "calls.jsonl").read_bytes().splitlines()]
    assert {c["endpoint"] for c in calls} >= {"files.create", "batches.create", "batches.retrieve", "files.content"}
    fitted = Scenario.load(out / "scenario.toml")
    settings = fitted.section("openai").to_dict()
    assert (settings["validating"], settings["finalizing"]) == (12.0, 8.0)
    assert 0 < fitted.outcomes.errored < 1
    no_key_in(out)

    # Offline: the same input gives each recorded line byte for byte, ending close to when it did.
    with (
        running_server("--scenario", str(out)) as offline,
        openai.OpenAI(base_url=f"{offline.url}/v1", api_key="offline", max_retries=0) as client,
    ):
        for batch_id, (data, duration, lines) in recorded.items():
            ended, replayed = openai_run(client, offline, data)
            assert replayed == lines, batch_id
            assert abs((ended.completed_at - ended.created_at) - duration) <= 0.1 * duration + 1


# -- Gemini -------------------------------------------------------------------------------------


def inline(prefix: str, n: int) -> list[dict[str, Any]]:
    keys = [f"{prefix}-{i}" for i in range(n)] + [f"poison-{prefix}"]
    return [{"contents": f"Question {key}", "metadata": {"key": key}} for key in keys]


def file_lines(prefix: str, n: int) -> bytes:
    return b"".join(
        orjson.dumps({"key": f"{prefix}-{i}", "request": {"contents": [{"parts": [{"text": f"Q{i}"}]}]}}) + b"\n"
        for i in range(n)
    )


def raw_batch(url: str, name: str, **params: str) -> dict[str, Any]:
    """A batch's operation as the REST API answers it (``?key=``, as Google's guide allows)."""
    answer = httpx2.get(f"{url}/v1beta/{name}", params={"key": UPSTREAM_KEY, **params}, timeout=60)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def gemini_run(client: genai.Client, server: ServerProcess, prefix: str, n: int) -> tuple[Any, Any, bytes]:
    """An inline batch and a file batch, polled to the end; the file batch's responses file."""
    job = client.batches.create(model=GEMINI_MODEL, src=inline(prefix, n))  # type: ignore[arg-type]
    data = file_lines(f"{prefix}-file", n + 3)
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
    filed = client.batches.create(model=GEMINI_MODEL, src=uploaded.name)  # type: ignore[arg-type]
    done = []
    for name in (job.name, filed.name):
        assert name is not None

        def ended(name: str = name) -> Any:
            found = client.batches.get(name=name)
            return found if found.done else None

        done.append(until(ended, server, 5.0))
    body = client.files.download(file=done[1].dest.file_name)
    return done[0], done[1], body


def by_key(body: bytes) -> dict[str, bytes]:
    return {orjson.loads(line)["key"]: line for line in body.splitlines()}


def test_gemini_records_and_replays(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "recorded.toml", RECORDED)
    out = tmp_path / "cassette"
    recorded: list[tuple[str, int, dict[str, Any], dict[str, bytes]]] = []
    with upstream("--scenario", str(scenario)) as real:
        proxy = recording("gemini", real.url, out)
        try:
            client = genai.Client(api_key=UPSTREAM_KEY, http_options=types.HttpOptions(base_url=proxy.url))
            for prefix, n in (("small", 5), ("large", 22)):
                job, filed, body = gemini_run(client, real, prefix, n)
                assert job.state == types.JobState.JOB_STATE_SUCCEEDED
                operation = raw_batch(proxy.url, job.name)  # the key in the query: never written
                assert len(operation["response"]["inlinedResponses"]["inlinedResponses"]) == n + 1
                recorded.append((prefix, n, operation, by_key(body)))
                assert (out / "batches" / filed.name.split("/")[1] / "results.jsonl").read_bytes() == body
            listed = httpx2.get(f"{proxy.url}/v1beta/batches", params={"key": UPSTREAM_KEY, "pageSize": "10"})
            assert listed.status_code == 200 and len(listed.json()["operations"]) == 4
        finally:
            stop_server(proxy)

    assert orjson.loads((out / "cassette.json").read_bytes())["provider"] == "gemini"
    # Each inline batch's results come from its operation, one {"key", "response"|"error"} line each.
    assert len((out / "canned.jsonl").read_bytes().splitlines()) == (6 + 8) + (23 + 25)
    calls = [orjson.loads(line) for line in (out / "calls.jsonl").read_bytes().splitlines()]
    assert {c["endpoint"] for c in calls} >= {"gemini.batches.create", "gemini.batches.get", "gemini.files.download"}
    assert any(c["query"] == "key=REDACTED&pageSize=10" for c in calls)
    assert all(not c["path"].startswith("/upload/") or c["path"].endswith(("/files", "/REDACTED")) for c in calls)
    fitted = Scenario.load(out / "scenario.toml")
    assert fitted.section("gemini").to_dict()["pending"] > 0
    assert 0 < fitted.outcomes.errored < 1
    no_key_in(out)

    # Offline: the same calls give the recorded results (inline and file) byte for byte.
    with running_server("--scenario", str(out / "scenario.toml")) as offline:
        client = genai.Client(api_key="offline", http_options=types.HttpOptions(base_url=offline.url))
        for prefix, n, operation, lines in recorded:
            job, _, body = gemini_run(client, offline, prefix, n)
            again = httpx2.get(f"{offline.url}/v1beta/{job.name}", headers={"x-goog-api-key": "offline"}).json()
            replayed = again["response"]["inlinedResponses"]["inlinedResponses"]
            expected = operation["response"]["inlinedResponses"]["inlinedResponses"]
            assert [orjson.dumps(item) for item in replayed] == [orjson.dumps(item) for item in expected]
            assert by_key(body) == lines
            took = _seconds(again, "endTime") - _seconds(again, "createTime")
            wanted = _seconds(operation, "endTime") - _seconds(operation, "createTime")
            assert abs(took - wanted) <= 0.1 * wanted, (prefix, took, wanted)


def _seconds(operation: dict[str, Any], name: str) -> float:
    found = parse_time(operation["metadata"][name])
    assert found is not None
    return found


def test_a_cassette_of_another_provider_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "cassette"
    with upstream() as real:
        stop_server(recording("openai", real.url, out))
    run = subprocess.run(
        [sys.executable, "-m", "batchsim", "record", "--provider", "gemini", "--port", "0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"batchsim record: {out} holds a cassette of 'openai', not of 'gemini': "
        "record each provider into its own folder"
    ]


# -- the pytest plugin's --batchsim-replay ---------------------------------------------------------


INNER_TEST = """
import os

import orjson

from google.genai import types


def test_openai_job(batchsim):
    client = batchsim.emulator.openai_client()
    with open(os.environ["OPENAI_INPUT"], "rb") as handle:
        uploaded = client.files.create(file=("in.jsonl", handle.read()), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    while (batch := client.batches.retrieve(batch.id)).status != "completed":
        batchsim.advance(seconds=30)
    lines = [client.files.content(f).read() for f in (batch.output_file_id, batch.error_file_id) if f]
    with open(os.environ["OPENAI_OUT"], "wb") as out:
        out.write(b"".join(lines))


def test_gemini_job(batchsim):
    client = batchsim.gemini_client()
    requests = orjson.loads(os.environ["GEMINI_REQUESTS"])
    job = client.batches.create(model="gemini-2.5-flash", src=requests)
    while not (job := client.batches.get(name=job.name)).done:
        batchsim.advance(seconds=30)
    texts = [r.response.text if r.response else r.error.message for r in job.dest.inlined_responses]
    with open(os.environ["GEMINI_OUT"], "wb") as out:
        out.write(orjson.dumps(texts))
"""


def test_the_plugin_replays_openai_and_gemini_cassettes(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "recorded.toml", RECORDED)
    cassettes = {"openai": tmp_path / "openai", "gemini": tmp_path / "gemini"}
    data = openai_input("job", 5)
    with upstream("--scenario", str(scenario)) as real:
        proxy = recording("openai", real.url, cassettes["openai"])
        try:
            with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=UPSTREAM_KEY, max_retries=2) as client:
                _, recorded_lines = openai_run(client, real, data)
        finally:
            stop_server(proxy)
        proxy = recording("gemini", real.url, cassettes["gemini"])
        try:
            gemini = genai.Client(api_key=UPSTREAM_KEY, http_options=types.HttpOptions(base_url=proxy.url))
            job = gemini.batches.create(model=GEMINI_MODEL, src=inline("job", 4))  # type: ignore[arg-type]
            assert job.name is not None
            name = job.name
            done = until(lambda: (found := gemini.batches.get(name=name)).done and found, real, 5.0)
            recorded_texts = [r.response.text if r.response else r.error.message for r in done.dest.inlined_responses]
        finally:
            stop_server(proxy)

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_jobs.py").write_text(INNER_TEST)
    (tmp_path / "in.jsonl").write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_", "BATCHSIM_"))}
    outputs = {"openai": tmp_path / "openai.jsonl", "gemini": tmp_path / "gemini.json"}
    for provider, test in (("openai", "test_openai_job"), ("gemini", "test_gemini_job")):
        extra = {
            "OPENAI_INPUT": str(tmp_path / "in.jsonl"),
            "OPENAI_OUT": str(outputs["openai"]),
            "GEMINI_REQUESTS": orjson.dumps(inline("job", 4)).decode(),
            "GEMINI_OUT": str(outputs["gemini"]),
        }
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        run = subprocess.run(
            [*cmd, f"test_jobs.py::{test}", "--batchsim-replay", str(cassettes[provider])],
            cwd=project,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    replayed = {orjson.loads(line)["custom_id"]: line for line in outputs["openai"].read_bytes().splitlines()}
    assert replayed == recorded_lines
    assert orjson.loads(outputs["gemini"].read_bytes()) == recorded_texts
