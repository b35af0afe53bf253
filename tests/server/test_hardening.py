"""A server a team can leave running: what a client can make it read, leak, hold or write.

Memory and disk are measured from ``/proc`` of the real ``batchsim serve`` process; every wait
is bounded by a client timeout, so a server that hangs fails the test instead of stalling it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from serverproc import ServerProcess, running_server

from .conftest import (
    PARAMS,
    assert_envelope,
    call,
    no_traceback,
    open_results_files,
    requests_body,
    results_on_disk,
    rss,
    sdk,
    spooled,
    worker_pids,
)

pytestmark = pytest.mark.server

BATCHES = "/v1/messages/batches"
MiB = 1024 * 1024


def health_answers_within(server: ServerProcess, seconds: float) -> bool:
    try:
        return httpx2.get(f"{server.url}/_batchsim/health", timeout=seconds).status_code == 200
    except httpx2.TransportError:
        return False


def create(server: ServerProcess, body: Any, *, key: str = "key-a", timeout: float = 60) -> httpx2.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"content-type": "application/json", "x-api-key": key}
    return httpx2.post(server.url + BATCHES, content=content, headers=headers, timeout=timeout)


def put_scenario(server: ServerProcess, scenario: dict[str, Any], timeout: float = 10) -> httpx2.Response:
    return httpx2.put(f"{server.url}/_batchsim/scenario", json=scenario, timeout=timeout)


# -- 1. canned results: only from the operator's folder, only regular files --------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hardening")
    data = root / "data"
    data.mkdir()
    line = {"custom_id": "c-0", "result": {"type": "errored", "error": {"type": "error", "error": {}}}}
    (data / "canned.jsonl").write_text(json.dumps(line) + "\n")
    (data / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "outside.jsonl").write_text(json.dumps(line) + "\n")
    (data / "escape.jsonl").symlink_to(root / "outside.jsonl")
    os.mkfifo(data / "pipe.jsonl")
    os.mkfifo(root / "pipe.jsonl")
    with open(data / "huge.jsonl", "wb") as handle:
        handle.truncate(65 * MiB)  # sparse: larger than the cap without using the disk
    return data


@pytest.fixture(scope="module")
def data_server(data_dir: Path) -> Iterator[ServerProcess]:
    with running_server("--data-dir", str(data_dir)) as proc:
        yield proc


REFUSED = [
    "/dev/zero",
    "/dev/urandom",
    "/etc/passwd",
    "/etc",
    "/nonexistent/results.jsonl",
    "../outside.jsonl",
    "../pipe.jsonl",
    "escape.jsonl",
    "pipe.jsonl",
    "huge.jsonl",
    "missing.jsonl",
    ".",
]


def test_canned_paths_outside_the_data_dir_or_not_regular_files_are_refused_alike(
    data_server: ServerProcess, data_dir: Path
) -> None:
    data_server.control("POST", "reset").raise_for_status()
    messages = set()
    for path in REFUSED:
        target = path if path.startswith("/") else str(data_dir / path) if path.startswith("..") else path
        for value in (path, target):
            started = time.monotonic()
            response = put_scenario(data_server, {"canned": value})
            assert time.monotonic() - started < 5, f"{value}: answered after {time.monotonic() - started:.1f} s"
            body = assert_envelope(response, 400, "invalid_request_error")
            messages.add(body["error"]["message"])
            assert health_answers_within(data_server, 1.0)
    # One text for every refusal: it never tells whether a path exists or what it is.
    assert len(messages) == 1, messages
    assert "data folder" in messages.pop()
    assert data_server.control("GET", "scenario").json().get("canned") is None
    no_traceback(data_server)


def test_canned_files_under_the_data_dir_and_inline_lines_are_replayed(
    data_server: ServerProcess, data_dir: Path
) -> None:
    data_server.control("POST", "reset").raise_for_status()
    client = sdk(data_server)
    for value in ("canned.jsonl", str(data_dir / "canned.jsonl")):
        assert put_scenario(data_server, {"canned": value}).status_code == 200
        batch = client.messages.batches.create(requests=requests_body(2, "c"))
        data_server.advance(3600)
        results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
        assert results == {"c-0": "errored", "c-1": "succeeded"}
    # A file under the folder that is not a results file: a 400 naming the line, not a 500.
    body = assert_envelope(put_scenario(data_server, {"canned": "notes.txt"}), 400, "invalid_request_error")
    assert "notes.txt:1" in body["error"]["message"] and "root:x" not in body["error"]["message"]
    inline = [{"custom_id": "c-1", "result": {"type": "expired"}}]
    assert put_scenario(data_server, {"canned": inline}).status_code == 200
    batch = client.messages.batches.create(requests=requests_body(2, "c"))
    data_server.advance(86_400 * 2)
    results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert results == {"c-0": "succeeded", "c-1": "expired"}
    no_traceback(data_server)


def test_without_a_data_dir_canned_results_over_http_must_be_inline(fresh_server: ServerProcess) -> None:
    for value in ("/dev/zero", "/etc/passwd", "fixtures/results.jsonl"):
        assert_envelope(put_scenario(fresh_server, {"canned": value}), 400, "invalid_request_error")
    inline = [{"custom_id": "x", "result": {"type": "canceled"}}]
    assert put_scenario(fresh_server, {"canned": inline}).json()["canned"] == inline


# -- 2. the journal never hands out credentials --------------------------------------------------

KEY_A = "sk-team-a-0123456789abcdef-a1b2"
KEY_B = "sk-team-b-fedcba9876543210-c3d4"


@pytest.fixture(scope="module")
def two_tenants() -> Iterator[ServerProcess]:
    with running_server("--api-key", KEY_A, "--api-key", KEY_B) as proc:
        yield proc


def test_the_journal_redacts_keys_and_failed_guesses(two_tenants: ServerProcess) -> None:
    two_tenants.control("POST", "reset").raise_for_status()
    guess = "sk-guessed-secret-value-zz99"
    assert call(two_tenants, "GET", BATCHES, key=KEY_B).status_code == 200
    assert call(two_tenants, "GET", BATCHES, key=None, headers={"authorization": f"Bearer {KEY_B}"}).status_code == 200
    assert call(two_tenants, "GET", BATCHES, key=guess).status_code == 401
    text = two_tenants.control("GET", "journal").text  # tenant A has no admin token: it can read this
    for secret in (KEY_B, guess, KEY_B[:-4], guess[:-4]):
        assert secret not in text
    calls = json.loads(text)["calls"]
    assert calls[0]["headers"]["x-api-key"] == "\u2026c3d4"
    assert calls[1]["headers"]["authorization"] == "Bearer \u2026c3d4"
    assert calls[2]["headers"]["x-api-key"] == "\u2026zz99"
    assert calls[2]["status"] == 401


# -- 3. rule patterns run in linear time -------------------------------------------------------


def test_a_backtracking_rule_pattern_does_not_stall_the_server(fresh_server: ServerProcess) -> None:
    rule = {"custom_id": "^(a+)+$", "result": "errored", "error_type": "invalid_request_error"}
    assert put_scenario(fresh_server, {"rules": [rule]}).status_code == 200
    ids = ["a" * 60, *(("a" * (40 + i)) + "-" for i in range(20))]
    answer: list[httpx2.Response] = []
    worker = threading.Thread(
        target=lambda: answer.append(
            create(fresh_server, {"requests": [{"custom_id": c, "params": PARAMS} for c in ids]})
        )
    )
    worker.start()
    assert health_answers_within(fresh_server, 1.0)
    worker.join(timeout=30)
    assert answer and answer[0].status_code == 200, "the create never answered"
    fresh_server.advance(3600)
    lines = call(fresh_server, "GET", f"{BATCHES}/{answer[0].json()['id']}/results").text.splitlines()
    results = {json.loads(line)["custom_id"]: json.loads(line)["result"]["type"] for line in lines}
    assert results["a" * 60] == "errored"
    assert sum(kind == "succeeded" for kind in results.values()) == 20


# -- 4. one create cannot fill the disk --------------------------------------------------------


@pytest.fixture(scope="module")
def small_results() -> Iterator[ServerProcess]:
    with running_server("--results-file-max", "1M", "--results-disk", "3M") as proc:
        yield proc


def test_a_long_rule_message_is_refused_naming_the_key(fresh_server: ServerProcess) -> None:
    rule = {"custom_id": ".", "result": "errored", "message": "m" * (512 * 1024)}
    body = assert_envelope(put_scenario(fresh_server, {"rules": [rule]}), 400, "invalid_request_error")
    assert "rules.0.message" in body["error"]["message"]


def test_a_results_file_never_exceeds_its_cap(small_results: ServerProcess) -> None:
    small_results.control("POST", "reset").raise_for_status()
    rule = {"custom_id": ".", "result": "errored", "message": "m" * 4096}
    assert put_scenario(small_results, {"rules": [rule]}).status_code == 200
    batch = create(small_results, {"requests": requests_body(1000)}).json()
    small_results.advance(3600)
    pid = small_results.process.pid
    for _ in range(2):  # the first download may write the file, the second reads what was kept
        response = call(small_results, "GET", f"{BATCHES}/{batch['id']}/results")
        lines = response.text.splitlines()
        assert len(lines) == 1000 and all("m" * 4096 in line for line in lines)
        assert len(response.content) > 4 * MiB
        kept = results_on_disk([pid])
        assert kept and all(size <= MiB for size in kept), kept


# -- 5. the journal is bounded in bytes --------------------------------------------------------


def test_the_journal_is_bounded_in_bytes(tmp_path: Path) -> None:
    with running_server("--journal-bytes", "4M") as server:
        pid = server.process.pid
        big = b'{"extra": 1, "requests": [{"custom_id": "a", "params": {"pad": "' + b"x" * MiB + b'"}}]}'
        create(server, big)  # warm up: the first large body sizes the server's buffers
        before = rss(pid)
        for _ in range(120):
            assert create(server, big).status_code == 400  # refused, and journaled
        grown = rss(pid) - before
        calls = server.control("GET", "journal").json()["calls"]
        assert sum(len(c["body"]) for c in calls) <= 4 * MiB
        assert all(c["body_truncated"] for c in calls if c["endpoint"] == "create")
        assert len(calls) < 120
        assert grown < 48 * MiB, f"the server grew by {grown / MiB:.0f} MiB for 120 MiB of refused bodies"


# -- 6. control-plane values cannot poison the server -------------------------------------------


def test_out_of_range_values_are_400_naming_the_key(fresh_server: ServerProcess) -> None:
    for seconds in (1e300, 1e15, -1):
        response = fresh_server.control("POST", "clock/advance", json={"seconds": seconds})
        assert "seconds" in assert_envelope(response, 400, "invalid_request_error")["error"]["message"]
    for key, value in (("per_request", 1e300), ("start_delay", 1e14), ("cancel_delay", 1e20), ("concurrency", 10**12)):
        response = put_scenario(fresh_server, {"timing": {key: value}})
        assert f"timing.{key}" in assert_envelope(response, 400, "invalid_request_error")["error"]["message"]
    response = put_scenario(fresh_server, {"seed": 2**64 - 1})
    assert "seed" in assert_envelope(response, 400, "invalid_request_error")["error"]["message"]
    assert create(fresh_server, {"requests": requests_body(2)}).status_code == 200
    assert fresh_server.control("GET", "clock").status_code == 200


def test_every_accepted_extreme_leaves_the_server_working(fresh_server: ServerProcess) -> None:
    timing = {
        "start_delay": 2_592_000,
        "per_request": 2_592_000,
        "concurrency": 1,
        "jitter": 1,
        "cancel_delay": 2_592_000,
    }
    scenario = {
        "seed": 2**63 - 1,
        "timing": timing,
        "faults": [{"times": 10**9, "status": 429, "retry_after": 2_592_000}],
    }
    assert put_scenario(fresh_server, {**scenario, "faults": []}).status_code == 200
    first = create(fresh_server, {"requests": requests_body(50)}).json()
    # Move the clock as far as it goes, then one second more (refused).
    latest = fresh_server.control("POST", "clock/advance", json={"seconds": 2.2e11 - 1})
    assert latest.status_code == 200, latest.text
    assert fresh_server.control("POST", "clock/advance", json={"seconds": 3e9}).status_code == 400
    second = create(fresh_server, {"requests": requests_body(50)}).json()
    for batch in (first, second):
        assert call(fresh_server, "GET", f"{BATCHES}/{batch['id']}").status_code == 200
        assert call(fresh_server, "POST", f"{BATCHES}/{batch['id']}/cancel").status_code in (200, 400)
    assert call(fresh_server, "GET", f"{BATCHES}/{first['id']}/results").status_code in (200, 404)
    assert call(fresh_server, "GET", BATCHES, params={"limit": 1000}).status_code == 200
    assert put_scenario(fresh_server, scenario).status_code == 200
    response = create(fresh_server, {"requests": requests_body(1)})
    assert response.status_code == 429 and response.headers["retry-after"] == "2.592e+06"
    assert fresh_server.control("GET", "clock").status_code == 200
    no_traceback(fresh_server)


# -- 7. deeply nested params -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [254, 600, 1020])
def test_deeply_nested_params_are_a_400_at_create(fresh_server: ServerProcess, depth: int) -> None:
    nested = b"[" * depth + b"1" + b"]" * depth
    body = b'{"requests":[{"custom_id":"a","params":{"model":"m","max_tokens":5,"metadata":' + nested + b"}}]}"
    error = assert_envelope(create(fresh_server, body), 400, "invalid_request_error")
    assert error["error"]["message"].startswith("requests.0.params: Input is nested too deeply")


def test_params_as_deep_as_allowed_are_accepted_and_answered(fresh_server: ServerProcess) -> None:
    nested = b"[" * 252 + b"1" + b"]" * 252  # with the params object and "metadata": 254 levels
    body = (
        b'{"requests":[{"custom_id":"a","params":{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":'
        + nested
        + b"}}]}"
    )
    batch = create(fresh_server, body)
    assert batch.status_code == 200, batch.text
    fresh_server.advance(3600)
    line = call(fresh_server, "GET", f"{BATCHES}/{batch.json()['id']}/results").json()
    assert line["result"]["type"] == "succeeded"


# -- 8. request bodies: spooled, with a server-wide budget ---------------------------------------


def _start_upload(server: ServerProcess, declared: int, send: int) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST {BATCHES} HTTP/1.1\r\nhost: {host}\r\nx-api-key: key-a\r\n"
        f"content-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode())
    chunk = b" " * MiB
    for _ in range(send // MiB):
        sock.sendall(chunk)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """The whole answer: its head, then as many body bytes as its content-length says."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


@pytest.mark.slow
def test_slow_uploads_hold_neither_memory_nor_health(tmp_path: Path) -> None:
    with running_server("--body-budget", "128M") as server:
        pid = server.process.pid
        before = rss(pid)
        uploads = [_start_upload(server, 200 * MiB, 8 * MiB) for _ in range(12)]  # 96 MiB in flight
        try:
            _wait_until(lambda: sum(spooled(pid)) >= 96 * MiB, "the server to take in the 96 MiB sent")
            grown = rss(pid) - before
            assert grown < 40 * MiB, f"12 stalled uploads of 8 MiB grew the server by {grown / MiB:.0f} MiB"
            assert health_answers_within(server, 1.0)
            # Past the budget: the API's overloaded_error, with a retry-after, before the body is all sent.
            extra = _start_upload(server, 200 * MiB, 0)
            with contextlib.suppress(OSError):  # the server answered and closed: that is the point
                extra.sendall(b" " * (40 * MiB))
            answer = _answer(extra)
            extra.close()
            assert answer.startswith(b"HTTP/1.1 529"), answer[:200]
            assert b"retry-after:" in answer.lower() and b"overloaded_error" in answer
        finally:
            for sock in uploads:
                sock.close()
        _wait_until(lambda: spooled(pid) == [], "the server to let the uploads' spool files go")
        assert rss(pid) - before < 40 * MiB
        # The budget is back: an ordinary create goes through.
        assert create(server, {"requests": requests_body(3)}).status_code == 200
        no_traceback(server)


@pytest.mark.slow
def test_an_oversize_chunked_body_is_refused_without_holding_it(plain: ServerProcess) -> None:
    pid = plain.process.pid
    before = rss(pid)
    host, port = plain.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {BATCHES} HTTP/1.1\r\nhost: {host}\r\nx-api-key: k\r\ntransfer-encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n" % MiB + b" " * MiB + b"\r\n"
        peak = 0
        with contextlib.suppress(OSError):  # the server answered and closed
            for i in range(300):
                sock.sendall(chunk)
                if i % 16 == 0:
                    peak = max(peak, rss(pid) - before)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert peak < 64 * MiB, f"a 257 MiB chunked body grew the server by {peak / MiB:.0f} MiB before its 413"


@pytest.fixture(scope="module")
def plain() -> Iterator[ServerProcess]:
    with running_server() as proc:
        yield proc


# -- 9. results files: bounded across workers, released at once --------------------------------


def _fresh(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    """One request on its own connection (so that several workers share the calls)."""
    with httpx2.Client(timeout=60) as client:
        return client.request(method, server.url + path, headers={"x-api-key": "key-a"}, **kwargs)


def test_results_files_are_bounded_across_workers(tmp_path: Path) -> None:
    args = ("--db", str(tmp_path / "db.sqlite"), "--workers", "2", "--results-disk", "3M")
    with running_server(*args) as server:
        ids = [
            _fresh(server, "POST", BATCHES, json={"requests": requests_body(1000, f"b{i}")}).json()["id"]
            for i in range(10)
        ]
        server.advance(3600)
        for batch_id in ids:
            assert len(_fresh(server, "GET", f"{BATCHES}/{batch_id}/results").text.splitlines()) == 1000
            workers = worker_pids(server)
            assert sum(results_on_disk(workers)) <= 3 * MiB, results_on_disk(workers)
        assert len(worker_pids(server)) == 2


def test_reset_and_delete_release_results_files_at_once(plain: ServerProcess) -> None:
    plain.control("POST", "reset").raise_for_status()
    pid = plain.process.pid
    for ending in ("reset", "delete"):
        batch = create(plain, {"requests": requests_body(1000)}).json()
        plain.advance(3600)
        assert len(call(plain, "GET", f"{BATCHES}/{batch['id']}/results").text.splitlines()) == 1000
        assert results_on_disk([pid]), "a 1,000-request batch keeps a results file"
        assert open_results_files([pid]) == [], "a file nobody reads holds no descriptor"
        if ending == "reset":
            plain.control("POST", "reset").raise_for_status()
        else:
            assert call(plain, "DELETE", f"{BATCHES}/{batch['id']}").status_code == 200
        assert results_on_disk([pid]) == [], f"{ending} left results files"
        assert open_results_files([pid]) == [], f"{ending} left results files open"


# -- 10. workers survive a machine too busy to answer health checks in 5 s ------------------------


@pytest.mark.slow
def test_a_worker_paused_past_uvicorns_default_health_check_is_not_restarted(tmp_path: Path) -> None:
    with running_server("--db", str(tmp_path / "db.sqlite"), "--workers", "2") as server:
        workers = worker_pids(server)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGSTOP)  # as starved of CPU as a process can be
        try:
            # Stopped for longer than uvicorn's default of 5 s (and the supervisor's 0.5 s between
            # checks): the worker stays the same process throughout.
            paused_until = time.monotonic() + 9
            while time.monotonic() < paused_until:
                assert sorted(worker_pids(server)) == sorted(workers), "a worker was killed and restarted"
                time.sleep(0.1)
        finally:
            os.kill(workers[0], signal.SIGCONT)
        _wait_until(lambda: _answered_by(server) == workers[0], "the resumed worker to answer a request")
        assert sorted(worker_pids(server)) == sorted(workers), "a worker was killed and restarted"


def _answered_by(server: ServerProcess) -> int | None:
    """The worker that answered a health check on a new connection."""
    with contextlib.suppress(httpx2.TransportError):
        return int(httpx2.get(f"{server.url}/_batchsim/health", timeout=10).headers["x-batchsim-worker"])
    return None


def _wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.05)


def test_the_worker_health_check_timeout_is_an_option() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "batchsim", "serve", "--worker-healthcheck-timeout", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--worker-healthcheck-timeout: expected seconds between 0 and 86400" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_server_starting_removes_what_killed_servers_left(tmp_path: Path) -> None:
    """Results folders of servers killed outright (every owner process gone) are deleted when a
    server starts; those of a live process, and fresh empty ones, stay."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / "batchsim-results-stale"
    (stale / f"{gone.pid}-abc").mkdir(parents=True)
    (stale / f"{gone.pid}-abc" / "results-x.jsonl").write_bytes(b"x" * 1000)
    live = tmp_path / "batchsim-results-live"
    (live / f"{os.getpid()}-def").mkdir(parents=True)
    fresh = tmp_path / "batchsim-results-fresh"
    fresh.mkdir()
    with running_server(env={"TMPDIR": str(tmp_path)}):
        pass
    assert not stale.exists()
    assert live.exists() and fresh.exists()
