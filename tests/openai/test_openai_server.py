"""OpenAI's API on a real ``batchsim serve``: ``--db`` keeps files (their bytes too), batches and
output files across a ``kill -9`` and a restart; ``--workers 2`` share them; upload bodies are
bounded and spooled, never held whole in memory."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai_helpers import CHAT, chat_lines, jsonl, line, upload
from serverproc import ServerProcess, running_server, start_server, stop_server

pytestmark = pytest.mark.server
MiB = 1024 * 1024
BINARY = bytes(range(256)) * 1000


def sdk(server: ServerProcess, key: str = "key-a", **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, **kwargs)


def get(server: ServerProcess, path: str, key: str = "key-a") -> httpx2.Response:
    """One call on a new connection (with several workers, the kernel picks the worker)."""
    return httpx2.get(f"{server.url}{path}", headers={"authorization": f"Bearer {key}"}, timeout=60)


def snapshot(server: ServerProcess, key: str) -> dict[str, Any]:
    """Everything a client of ``key`` can see: every file with its bytes, every batch."""
    files = get(server, "/v1/files", key).json()
    batches = get(server, "/v1/batches?limit=100", key).json()
    contents = {f["id"]: get(server, f"/v1/files/{f['id']}/content", key).content for f in files["data"]}
    pages = [get(server, "/v1/files?limit=2&order=asc", key).json(), get(server, "/v1/batches?limit=2", key).json()]
    return {"files": files, "batches": batches, "contents": contents, "pages": pages}


def test_files_batches_and_outputs_survive_kill_9_and_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "batchsim.db"
    scenario = {"seed": 5, "outcomes": {"errored": 0.2}, "timing": {"per_request": 60, "concurrency": 500}}
    server = start_server("--db", str(db))
    try:
        server.control("PUT", "scenario", json=scenario).raise_for_status()
        a, b = sdk(server, "key-a"), sdk(server, "key-b")
        big = upload(a, jsonl(chat_lines(1500)))
        blob = upload(a, BINARY, "blob.bin", "user_data")
        completed = a.batches.create(input_file_id=big, endpoint=CHAT, completion_window="24h")
        canceled = a.batches.create(
            input_file_id=upload(a, jsonl(chat_lines(5, "c"))), endpoint=CHAT, completion_window="24h"
        )
        failed = a.batches.create(
            input_file_id=upload(a, jsonl([line("x"), "{"])), endpoint=CHAT, completion_window="24h"
        )
        other = b.batches.create(input_file_id=upload(b, jsonl(chat_lines(3))), endpoint=CHAT, completion_window="24h")
        server.advance(15)
        a.batches.cancel(canceled.id)
        server.advance(3600)
        done = a.batches.retrieve(completed.id)
        assert done.status == "completed" and done.output_file_id and done.error_file_id
        a.files.delete(done.error_file_id)
        a.files.delete(blob)
        before = {key: snapshot(server, key) for key in ("key-a", "key-b")}
        a.close()
        b.close()
    finally:
        assert stop_server(server, signal.SIGKILL) == -signal.SIGKILL

    with running_server("--db", str(db)) as again:
        after = {key: snapshot(again, key) for key in ("key-a", "key-b")}
        assert after == before
        contents = after["key-a"]["contents"]
        assert contents[big] == jsonl(chat_lines(1500))
        assert len(contents[done.output_file_id].splitlines()) == done.request_counts.completed
        statuses = {item["id"]: item["status"] for item in after["key-a"]["batches"]["data"]}
        assert statuses == {completed.id: "completed", canceled.id: "cancelled", failed.id: "failed"}
        assert [item["id"] for item in after["key-b"]["batches"]["data"]] == [other.id]
        for gone in (blob, done.error_file_id):
            assert get(again, f"/v1/files/{gone}").status_code == 404
        # Ids go on from where they were: a new upload and batch never reuse one.
        client = sdk(again)
        new_file = upload(client, jsonl(chat_lines(1)))
        new_batch = client.batches.create(input_file_id=new_file, endpoint=CHAT, completion_window="24h")
        assert new_file not in contents and new_batch.id not in statuses
        client.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("openai-workers") / "shared.db"
    with running_server("--db", str(db), "--workers", "2") as proc:
        yield proc


def on_every_worker(server: ServerProcess, path: str) -> list[httpx2.Response]:
    """The same call, on new connections, until both workers answered it (at most 40 rounds)."""
    answers: list[httpx2.Response] = []
    seen: set[str] = set()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(40):
            round_ = list(pool.map(lambda _: get(server, path), range(8)))
            answers.extend(round_)
            seen |= {r.headers["x-batchsim-worker"] for r in round_}
            if len(seen) == 2:
                return answers
            time.sleep(0.1)
    raise AssertionError(f"every connection went to one worker: {seen}")


@pytest.mark.slow
def test_two_workers_share_files_and_batches(workers: ServerProcess) -> None:
    workers.control("POST", "reset").raise_for_status()
    client = sdk(workers)
    data = jsonl(chat_lines(1200))
    file_id = upload(client, data)
    batch = client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h")
    for answer in on_every_worker(workers, f"/v1/files/{file_id}/content"):
        assert answer.status_code == 200 and answer.content == data
    workers.advance(3600)
    for answer in on_every_worker(workers, f"/v1/batches/{batch.id}"):
        assert answer.json()["status"] == "completed"
    output = client.batches.retrieve(batch.id).output_file_id
    contents = {a.content for a in on_every_worker(workers, f"/v1/files/{output}/content")}
    assert len(contents) == 1 and len(contents.pop().splitlines()) == 1200
    client.files.delete(file_id)
    client.files.delete(output)
    for path in (f"/v1/files/{file_id}", f"/v1/files/{output}", f"/v1/files/{output}/content"):
        assert {a.status_code for a in on_every_worker(workers, path)} == {404}
    ids = {upload(sdk(workers), b"x", f"f{n}.txt", "user_data") for n in range(20)}  # on either worker
    assert len(ids) == 20
    client.close()


def _send_upload_head(server: ServerProcess, declared: int, boundary: str) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        (
            f"POST /v1/files HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer key-a\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {declared}\r\n\r\n"
        ).encode()
    )
    return sock


def _answer(sock: socket.socket) -> tuple[bytes, Any]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(h.split(b":", 1)[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head, json.loads(body)


def test_an_upload_past_512_mb_is_refused_before_it_is_read(fresh_server: ServerProcess) -> None:
    with _send_upload_head(fresh_server, 600 * MiB, "b0undary") as sock:
        with contextlib.suppress(OSError):  # the server may answer and close while this is sent
            sock.sendall(b"--b0undary\r\n" + b" " * MiB)
        head, body = _answer(sock)
    assert head.startswith(b"HTTP/1.1 413") and b"x-request-id: req_" in head
    assert body["error"]["type"] == "invalid_request_error"
    assert set(body["error"]) == {"message", "type", "param", "code"}


def rss(pid: int) -> int:
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.mark.slow
def test_a_batch_file_past_200_mb_is_refused_without_being_held(fresh_server: ServerProcess) -> None:
    """The upload streams to disk as it arrives (a spooled body, parsed into a spooled part): the
    server's memory does not grow by the file's size."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.jsonl"\r\n'
        "content-type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    one = json.dumps(line("r")).encode() + b"\n"
    chunk = one * (MiB // len(one))
    count = 201 * MiB // len(chunk) + 1
    pid = fresh_server.process.pid
    before = rss(pid)
    peak = 0
    with _send_upload_head(fresh_server, len(head) + count * len(chunk) + len(tail), boundary) as sock:
        sock.sendall(head)
        for n in range(count):
            sock.sendall(chunk)
            if n % 16 == 0:
                peak = max(peak, rss(pid) - before)
        sock.sendall(tail)
        answer, body = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert body["error"]["message"] == "File is too large: a batch input file holds at most 209715200 bytes."
    assert peak < 64 * MiB, f"a 201 MiB upload grew the server by {peak / MiB:.0f} MiB"
