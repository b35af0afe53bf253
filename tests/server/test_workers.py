"""``serve --db PATH --workers N``: several uvicorn worker processes, one emulator."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from serverproc import ServerProcess, running_server, start_server, stop_server

from .conftest import call, requests_body, sdk

pytestmark = [pytest.mark.server, pytest.mark.slow]
WORKERS = 3


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("workers") / "shared.db"
    with running_server("--db", str(db), "--workers", str(WORKERS)) as proc:
        yield proc


@pytest.fixture
def fresh(workers: ServerProcess) -> ServerProcess:
    workers.control("POST", "reset").raise_for_status()
    return workers


def _fresh_connections(
    server: ServerProcess, path: str, n: int, method: str = "GET", **kwargs: object
) -> list[httpx2.Response]:
    """``n`` calls, each on a new connection (so the kernel spreads them over the workers)."""

    def one(_: int) -> httpx2.Response:
        return call(server, method, path, **kwargs)  # type: ignore[arg-type]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def test_workers_need_a_database() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchsim", "serve", "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers > 1 needs --db" in done.stderr
    assert "Traceback" not in done.stderr


def test_many_processes_really_serve(fresh: ServerProcess) -> None:
    assert f"{WORKERS} workers" in fresh.output[0]
    pids: set[str] = set()
    for _ in range(50):  # which worker accepts a connection is up to the kernel (and start-up order)
        pids |= {r.headers["x-batchsim-worker"] for r in _fresh_connections(fresh, "/_batchsim/health", 40)}
        if len(pids) >= 2:
            break
        time.sleep(0.2)
    assert len(pids) >= 2


def test_ids_are_unique_across_workers(fresh: ServerProcess) -> None:
    def create(i: int) -> str:
        return sdk(fresh, "key-a").messages.batches.create(requests=requests_body(2, f"c{i}")).id

    with ThreadPoolExecutor(12) as pool:
        ids = list(pool.map(create, range(60)))
    assert len(set(ids)) == 60
    listed = [b.id for b in sdk(fresh, "key-a").messages.batches.list(limit=100)]
    assert sorted(listed) == sorted(ids)
    for response in _fresh_connections(fresh, "/v1/messages/batches?limit=1000", 12):
        assert sorted(b["id"] for b in response.json()["data"]) == sorted(ids)


def test_clock_advance_is_seen_by_every_worker(fresh: ServerProcess) -> None:
    batch = sdk(fresh).messages.batches.create(requests=requests_body(3))
    fresh.advance(3600)
    for response in _fresh_connections(fresh, "/_batchsim/clock", 20):
        assert response.json()["now"] == "2026-01-01T01:00:00.000000Z"
    for response in _fresh_connections(fresh, f"/v1/messages/batches/{batch.id}", 20):
        assert response.json()["processing_status"] == "ended"
        assert response.json()["request_counts"]["succeeded"] == 3


def test_scenario_put_applies_to_every_worker(fresh: ServerProcess) -> None:
    scenario = {"seed": 5, "timing": {"per_request": 7200.0}, "outcomes": {"errored": 1.0}}
    fresh.control("PUT", "scenario", json=scenario).raise_for_status()
    for response in _fresh_connections(fresh, "/_batchsim/scenario", 20):
        assert response.json()["seed"] == 5
    ids = [sdk(fresh).messages.batches.create(requests=requests_body(2, f"s{i}")).id for i in range(10)]
    fresh.advance(3600)
    for batch_id in ids:  # created on whichever worker: all follow the new timing
        assert sdk(fresh).messages.batches.retrieve(batch_id).processing_status == "in_progress"
    fresh.advance(3600 * 2)
    for batch_id in ids:
        assert sdk(fresh).messages.batches.retrieve(batch_id).request_counts.errored == 2


def test_cancel_and_delete_are_seen_by_every_worker(fresh: ServerProcess) -> None:
    client = sdk(fresh)
    batch = client.messages.batches.create(requests=requests_body(4))
    client.messages.batches.cancel(batch.id)
    for response in _fresh_connections(fresh, f"/v1/messages/batches/{batch.id}", 20):
        assert response.json()["processing_status"] in ("canceling", "ended")
        assert response.json()["cancel_initiated_at"] == "2026-01-01T00:00:00.000000Z"
    fresh.advance(60)
    client.messages.batches.delete(batch.id)
    for response in _fresh_connections(fresh, f"/v1/messages/batches/{batch.id}", 20):
        assert response.status_code == 404


def test_reset_through_one_worker_resets_all(fresh: ServerProcess) -> None:
    sdk(fresh).messages.batches.create(requests=requests_body(1))
    fresh.advance(10)
    fresh.control("POST", "reset").raise_for_status()
    for response in _fresh_connections(fresh, "/v1/messages/batches", 20):
        assert response.json()["data"] == []
    for response in _fresh_connections(fresh, "/_batchsim/clock", 10):
        assert response.json()["now"] == "2026-01-01T00:00:00.000000Z"


def test_killing_the_supervisor_stops_the_workers(tmp_path: Path) -> None:
    server = start_server("--db", str(tmp_path / "k.db"), "--workers", "2")
    stop_server(server, signal.SIGKILL)
    for _ in range(100):
        try:
            httpx2.get(server.url + "/_batchsim/health", timeout=1)
        except httpx2.TransportError:
            return
        time.sleep(0.1)
    pytest.fail("workers kept serving after their supervisor was killed")


def test_one_durable_worker_sends_no_worker_header(tmp_path: Path) -> None:
    with running_server("--db", str(tmp_path / "one.db")) as one:
        response = call(one, "GET", "/_batchsim/health")
    assert response.status_code == 200
    assert "x-batchsim-worker" not in response.headers


def _open_per_worker(server: ServerProcess, count: int) -> dict[str, list[socket.socket]]:
    """Keep-alive connections grouped by the worker process that accepted them."""
    host, port = server.url.removeprefix("http://").split(":")
    by_worker: dict[str, list[socket.socket]] = {}
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(b"GET /_batchsim/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        head = _read_answer(sock)[0]
        worker = next(v for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k == b"x-batchsim-worker")
        by_worker.setdefault(worker.decode(), []).append(sock)
    return by_worker


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_concurrent_cancels_through_several_workers_agree(tmp_path: Path) -> None:
    """A cancel is decided in a database transaction: with a real clock, cancels of one batch sent
    at the same instant through both workers all answer the one cancel time the database keeps."""
    db = tmp_path / "cancels.db"
    with running_server("--db", str(db), "--workers", "2", "--clock", "real") as server:
        scenario = {"timing": {"start_delay": 3600, "per_request": 3600, "cancel_delay": 3600}}
        server.control("PUT", "scenario", json=scenario).raise_for_status()
        by_worker: dict[str, list[socket.socket]] = {}
        try:
            for _ in range(60):  # the kernel decides which worker accepts: ask until both did
                with ThreadPoolExecutor(8) as pool:  # at once, so both workers are woken
                    for found in pool.map(lambda _: _open_per_worker(server, 1), range(8)):
                        for worker, socks in found.items():
                            by_worker.setdefault(worker, []).extend(socks)
                if len(by_worker) == 2 and min(len(socks) for socks in by_worker.values()) >= 2:
                    break
                time.sleep(0.1)
            assert len(by_worker) == 2, "every connection went to one worker"
            _race_cancels(server, [s for socks in by_worker.values() for s in socks[:4]])
        finally:
            for socks in by_worker.values():
                for sock in socks:
                    sock.close()


def _race_cancels(server: ServerProcess, racers: list[socket.socket]) -> None:
    """Cancels of fresh batches sent at the same instant on every connection: one cancel time each."""
    for attempt in range(20):
        batch = sdk(server).messages.batches.create(requests=requests_body(1, f"race{attempt}"))
        request = (
            f"POST /v1/messages/batches/{batch.id}/cancel HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: key-a\r\n"
            "content-length: 0\r\n\r\n"
        ).encode()
        start = threading.Barrier(len(racers))

        def cancel(sock: socket.socket, request: bytes = request, start: threading.Barrier = start) -> bytes:
            start.wait()
            sock.sendall(request)
            return _read_answer(sock)[1]

        with ThreadPoolExecutor(len(racers)) as pool:
            answers = [json.loads(body) for body in pool.map(cancel, racers)]
        stored = call(server, "GET", f"/v1/messages/batches/{batch.id}").json()
        assert stored["processing_status"] == "canceling"
        assert {a["cancel_initiated_at"] for a in answers} == {stored["cancel_initiated_at"]}
