"""Results files of a real ``batchsim serve`` under pressure: a download is never cut by another
tenant's creates, nobody's files stay open or on disk after a reset (across workers), and the
write jobs (pickled batches, prompts included) stay private and are cleaned up."""

from __future__ import annotations

import functools
import http.client
import os
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from serverproc import ServerProcess, running_server, start_server, stop_server

from .conftest import open_results_files, requests_body, results_on_disk, worker_pids

pytestmark = pytest.mark.server

BATCHES = "/v1/messages/batches"
MiB = 1024 * 1024
_RULE = {"custom_id": ".", "result": "errored", "message": "m" * 4096}  # about 4.5 KB a line


def _wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.05)


def _fresh(server: ServerProcess, method: str, path: str, key: str = "k", **kwargs: Any) -> httpx2.Response:
    """One request on its own connection (so that several workers share the calls)."""
    with httpx2.Client(timeout=60) as client:
        return client.request(method, server.url + path, headers={"x-api-key": key}, **kwargs)


class _SmallWindow(http.client.HTTPConnection):
    """A connection with a 16 KiB receive buffer: a download it does not read stalls at once."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


def test_one_tenants_creates_never_cut_anothers_download() -> None:
    """Tenant A downloads a 9 MB results file slowly while tenant B creates 300 batches, each with
    a results file: past 256 files the least recently used go, but never A's while it is read (it
    was deleted under its reader, and a file still being written was cut short)."""
    with running_server() as server:
        rules = [{"custom_id": "^b", "result": "expired"}, _RULE]  # B's files small, A's 9 MB
        assert _fresh(server, "PUT", "/_batchsim/scenario", json={"rules": rules}).status_code == 200
        big = _fresh(server, "POST", BATCHES, key="tenant-a", json={"requests": requests_body(2000)}).json()["id"]
        server.advance(3600)
        host, port = server.url.removeprefix("http://").split(":")
        slow = _SmallWindow(host, int(port), timeout=60)
        pid = server.process.pid
        try:
            slow.request("GET", f"{BATCHES}/{big}/results", headers={"x-api-key": "tenant-a"})
            answer = slow.getresponse()
            first = answer.read(1024)  # then A stops reading for a while
            with httpx2.Client(timeout=60, headers={"x-api-key": "tenant-b"}) as tenant_b:
                for n in range(300):
                    created = tenant_b.post(server.url + BATCHES, json={"requests": requests_body(1000, f"b{n}")})
                    assert created.status_code == 200, created.text
                    if n % 25 == 24:
                        held = _held_results_files(pid)
                        assert not [t for t in held if t.endswith("(deleted)")], "A's file was deleted under it"
            rest = answer.read()
        finally:
            slow.close()
        whole = _fresh(server, "GET", f"{BATCHES}/{big}/results", key="tenant-a").content
        assert first + rest == whole
        assert whole.count(b"\n") == 2000
        assert len(results_on_disk([pid])) <= 256


def _held_results_files(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if "batchsim-results" in target:
            targets.append(target)
    return targets


def test_no_worker_keeps_results_files_after_a_reset(tmp_path: Path) -> None:
    """Files nobody reads hold no descriptor in any worker, and a reset through one worker
    deletes the others' files too, without waiting for a request to reach them."""
    with running_server("--db", str(tmp_path / "db.sqlite"), "--workers", "2") as server:
        workers = worker_pids(server)
        made = 0
        while not all(results_on_disk([pid]) for pid in workers):  # until each worker has files
            assert made < 40, "the two workers never both served a download"
            batch = _fresh(server, "POST", BATCHES, json={"requests": requests_body(1000, f"b{made}")}).json()
            server.advance(3600)
            assert _fresh(server, "GET", f"{BATCHES}/{batch['id']}/results").text.count("\n") == 1000
            made += 1
        assert open_results_files(workers) == []
        assert _fresh(server, "POST", "/_batchsim/reset").status_code == 200
        _wait_until(lambda: results_on_disk(workers) == [], "every worker to delete its results files")
        assert open_results_files(workers) == []
        assert sorted(worker_pids(server)) == sorted(workers)


def _jobs_parent(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else tmp_path


def _jobs_folders(parent: Path, pid: int) -> list[Path]:
    return list(parent.glob(f"batchsim-jobs-{pid}-*"))


def test_write_jobs_are_private_cleaned_on_stop_and_swept_after_a_kill(tmp_path: Path) -> None:
    parent = _jobs_parent(tmp_path)
    isolated = {"TMPDIR": str(tmp_path)}  # its results files apart from other servers'
    for ending in (signal.SIGTERM, signal.SIGKILL):
        server = start_server(env=isolated)
        pid = server.process.pid
        try:
            assert _fresh(server, "POST", BATCHES, json={"requests": requests_body(1000)}).status_code == 200
            _wait_until(functools.partial(_jobs_folders, parent, pid), "the writer's job folder")
            [folder] = _jobs_folders(parent, pid)
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # nobody else lists or reads its jobs
            assert folder.stat().st_uid == os.getuid()
        finally:
            stop_server(server, ending)
        if ending == signal.SIGTERM:
            assert not folder.exists(), "a server stopping leaves its write jobs behind"
        else:
            assert folder.exists()  # killed outright: nothing could clean up
    with running_server(env=isolated):
        assert not folder.exists(), "the next server to start did not sweep the killed one's jobs"


def test_a_large_create_counts_as_pending_from_its_answer_on() -> None:
    """The results file a create writes ahead starts after its answer (its params are checked
    first): health counts it from the answer on, so a client waiting for ``results_pending`` to
    reach 0 waits for the file, not only until the write begins."""
    with running_server() as server, httpx2.Client(timeout=120) as client:
        headers = {"x-api-key": "k"}
        created = client.post(server.url + BATCHES, json={"requests": requests_body(50_000)}, headers=headers)
        assert created.status_code == 200, created.text[:300]
        health = client.get(server.url + "/_batchsim/health").json()
        assert health["results_pending"] >= 1, health
        deadline = time.monotonic() + 300
        while client.get(server.url + "/_batchsim/health").json()["results_pending"]:
            assert time.monotonic() < deadline, "the results file was never written"
            time.sleep(0.05)
        assert results_on_disk([server.process.pid]), "pending ended with no results file written"
