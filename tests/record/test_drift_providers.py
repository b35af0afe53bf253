"""``batchsim drift --provider openai|gemini``, and the calls around Anthropic's batches: two
emulators show no difference, each difference planted in a deliberately altered stand-in is
named, and nothing drift made is left behind on the upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import orjson
import pytest

from batchsim import Emulator
from batchsim._pytest.server import SessionServer

from .conftest import UPSTREAM_KEY
from .test_drift import Rewriting

pytestmark = pytest.mark.server

FAST: dict[str, Any] = {
    "timing": {"start_delay": 2.0, "per_request": 0.5},
    "openai": {"validating": 1.0, "finalizing": 1.0, "cancelling": 1.0},
    "gemini": {"pending": 1.0},
}
KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
Rewrite = Callable[[str, str, str, int, Any, bytes], Any]


def drift(provider: str, upstream_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (*KEYS.values(), "GOOGLE_API_KEY")}
    env[KEYS[provider]] = UPSTREAM_KEY
    cmd = [sys.executable, "-m", "batchsim", "drift", "--provider", provider, "--upstream", upstream_url]
    return subprocess.run([*cmd, "--poll", "0.2", *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def stand_in() -> Iterator[Callable[..., str]]:
    """``make(scenario, rewrite)``: an emulator on the real clock standing in for production,
    its answers passed through ``rewrite``; its URL."""
    servers: list[SessionServer] = []

    def make(scenario: dict[str, Any] = FAST, rewrite: Rewrite | None = None) -> str:
        server = SessionServer()
        server.target = Rewriting(Emulator(scenario, clock="real").app, rewrite)
        servers.append(server)
        return server.url

    yield make
    for server in servers:
        server.close()


def leftovers(url: str, provider: str) -> list[Any]:
    """What drift could have left on the upstream: batches (Anthropic, Gemini) and files
    (Anthropic, OpenAI; OpenAI's batches cannot be deleted)."""
    with httpx2.Client(base_url=url, timeout=30) as http:
        if provider == "anthropic":
            headers = {"x-api-key": UPSTREAM_KEY, "anthropic-version": "2023-06-01"}
            return [
                *http.get("/v1/messages/batches", headers=headers).json()["data"],
                *http.get("/v1/files", headers=headers).json()["data"],
            ]
        if provider == "openai":
            return list(http.get("/v1/files", headers={"authorization": f"Bearer {UPSTREAM_KEY}"}).json()["data"])
        found = http.get("/v1beta/batches", headers={"x-goog-api-key": UPSTREAM_KEY}).json()
        return list(found.get("operations", []))


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_two_emulators_show_no_difference(stand_in: Callable[..., str], provider: str) -> None:
    url = stand_in()
    run = drift(provider, url, "--json", "--max-wait", "120")
    assert run.returncode == 0, run.stdout + run.stderr
    report = orjson.loads(run.stdout)
    assert report["provider"] == provider and report["differences"] == []
    assert leftovers(url, provider) == []


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_batch_running_too_long_is_cancelled_and_cleaned_up(stand_in: Callable[..., str], provider: str) -> None:
    # Each stays validating (pending) until canceled: both sides cancel it in the same phase.
    scenario = {
        "timing": {"start_delay": 3600.0},
        "openai": {"validating": 3600.0, "cancelling": 1.0},
        "gemini": {"pending": 3600.0},
    }
    url = stand_in(scenario)
    run = drift(provider, url, "--json", "--max-wait", "0.5")
    assert run.returncode == 0, run.stdout + run.stderr
    report = orjson.loads(run.stdout)
    assert report["differences"] == []
    assert any("did not end within 0.5 s" in note for note in report["notes"]), report["notes"]
    assert leftovers(url, provider) == []


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    return lambda body: body.replace(old, new)


def test_openai_planted_differences_are_named(stand_in: Callable[..., str]) -> None:
    """Batch objects say ``counts`` for ``request_counts``; a cancel of an ended batch answers 400,
    not 409; the list answer has no ``x-request-id``; output lines say ``finish_reason: "end"``."""

    def rewrite(method: str, path: str, query: str, status: int, headers: Any, body: bytes) -> Any:
        if method == "GET" and path.startswith("/v1/batches/"):
            body = body.replace(b'"request_counts"', b'"counts"')
        if path.endswith("/cancel") and status == 409:
            status = 400
        if method == "GET" and path == "/v1/batches":
            headers = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
        if path.endswith("/content"):
            body = body.replace(b'"finish_reason":"stop"', b'"finish_reason":"end"')
        return status, headers, body

    url = stand_in(FAST, rewrite)
    run = drift("openai", url, "--json", "--max-wait", "120")
    assert run.returncode == 1, run.stdout + run.stderr
    found = {(d["step"], d["where"], d["upstream"], d["local"]) for d in orjson.loads(run.stdout)["differences"]}
    assert ("retrieve (ended)", "$.request_counts", "missing", "object") in found
    assert ("retrieve (ended)", "$.counts", "object", "missing") in found
    assert ("cancel after the end (wrong state)", "status", "400", "409") in found
    assert ("list", "header x-request-id", "absent", "present") in found
    where = "line[drift-ok].response.body.choices[].finish_reason"
    assert ("download the output file", where, "string 'end'", "string 'stop'") in found
    steps = {d[0] for d in found}
    assert steps <= {
        "retrieve (running)",
        "retrieve (ended)",
        "retrieve (failed validation)",
        "cancel after the end (wrong state)",
        "list",
        "list with limit=0 (bad input)",
        "download the output file",
    }, steps
    assert leftovers(url, "openai") == []


def test_gemini_planted_differences_are_named(stand_in: Callable[..., str]) -> None:
    """Operations say ``JOB_STATE_SUCCEEDED`` (the SDK's name) on the wire; a cancel of an ended
    batch answers 409, not 400; the list answer is ``text/plain``; results say ``finishReason:
    "OTHER"``."""

    def rewrite(method: str, path: str, query: str, status: int, headers: Any, body: bytes) -> Any:
        if method == "GET" and path.startswith("/v1beta/batches/"):
            body = body.replace(b'"BATCH_STATE_SUCCEEDED"', b'"JOB_STATE_SUCCEEDED"')
            body = body.replace(b'"finishReason":"STOP"', b'"finishReason":"OTHER"')
        if path.endswith(":cancel") and status == 400:
            status = 409
        if method == "GET" and path == "/v1beta/batches":
            headers = [(k, b"text/plain" if k.lower() == b"content-type" else v) for k, v in headers]
        return status, headers, body

    url = stand_in(FAST, rewrite)
    run = drift("gemini", url, "--json", "--max-wait", "120")
    assert run.returncode == 1, run.stdout + run.stderr
    found = {(d["step"], d["where"], d["upstream"], d["local"]) for d in orjson.loads(run.stdout)["differences"]}
    state = "string 'JOB_STATE_SUCCEEDED'", "string 'BATCH_STATE_SUCCEEDED'"
    assert ("get (ended)", "$.metadata.state", *state) in found
    assert ("cancel after the end (wrong state)", "status", "409", "400") in found
    assert ("list", "header content-type", "text/plain", "application/json") in found
    where = "$.response.inlinedResponses.inlinedResponses[].response.candidates[].finishReason"
    assert ("get (ended)", where, "string 'OTHER'", "string 'STOP'") in found
    steps = {
        "get (running)",
        "get (ended)",
        "cancel after the end (wrong state)",
        "list",
        "list with pageSize=-1 (bad input)",
    }
    assert {d[0] for d in found} <= steps
    assert leftovers(url, "gemini") == []


def test_the_calls_around_anthropics_batches_show_drift(stand_in: Callable[..., str]) -> None:
    """count_tokens says ``tokens`` for ``input_tokens``; the models list has no ``has_more``; the
    download of an uploaded file is refused with 403, not 400."""

    def rewrite(method: str, path: str, query: str, status: int, headers: Any, body: bytes) -> Any:
        if path == "/v1/messages/count_tokens":
            body = body.replace(b'"input_tokens"', b'"tokens"')
        if path == "/v1/models":
            data = orjson.loads(body)
            data.pop("has_more", None)
            body = orjson.dumps(data)
        if path.startswith("/v1/files/") and path.endswith("/content") and status == 400:
            status = 403
        return status, headers, body

    url = stand_in(FAST, rewrite)
    run = drift("anthropic", url, "--json", "--max-wait", "120")
    assert run.returncode == 1, run.stdout + run.stderr
    found = {(d["step"], d["where"], d["upstream"], d["local"]) for d in orjson.loads(run.stdout)["differences"]}
    assert found == {
        ("count tokens", "$.input_tokens", "missing", "integer"),
        ("count tokens", "$.tokens", "integer", "missing"),
        ("models list", "$.has_more", "missing", "boolean"),
        ("files download (refused)", "status", "403", "400"),
    }
    assert leftovers(url, "anthropic") == []


def test_without_a_key_each_provider_says_which_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in (*KEYS.values(), "GOOGLE_API_KEY")}
    for provider, names in (("openai", "OPENAI_API_KEY"), ("gemini", "GOOGLE_API_KEY or GEMINI_API_KEY")):
        run = subprocess.run(
            [sys.executable, "-m", "batchsim", "drift", "--provider", provider],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 2
        assert run.stderr.strip() == f"batchsim drift: set {names} to the upstream's key"
