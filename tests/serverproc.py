"""Start a real ``batchsim serve`` process on 127.0.0.1 for tests (port picked by the OS)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]
    output: list[str]
    reader: threading.Thread

    def control(self, method: str, path: str, **kwargs: object) -> httpx2.Response:
        """Call the control plane (``path`` under ``/_batchsim/``)."""
        return httpx2.request(method, f"{self.url}/_batchsim/{path}", timeout=30, **kwargs)  # type: ignore[arg-type]

    def advance(self, seconds: float) -> None:
        self.control("POST", "clock/advance", json={"seconds": seconds}).raise_for_status()


def start_server(
    *args: str, env: dict[str, str] | None = None, timeout: float = 20.0, command: str = "serve"
) -> ServerProcess:
    """Run ``python -m batchsim COMMAND --port 0 ARGS`` (``serve``, or ``record``, whose proxy
    forwards the health call to its upstream) and wait until it answers health."""
    cmd = [sys.executable, "-m", "batchsim", command, "--host", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ing on http" not in line:
        proc.kill()
        rest = proc.stdout.read()
        raise RuntimeError(f"batchsim {command} did not start: {line}{rest}")
    url = line.split("ing on ", 1)[1].split()[0]
    output: list[str] = [line]
    # Keep reading what the server prints so a full pipe never blocks it.
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx2.get(f"{url}/_batchsim/health", timeout=2).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"batchsim {command} never answered /_batchsim/health")
        time.sleep(0.05)
    return ServerProcess(url, proc, output, reader)


def stop_server(server: ServerProcess, sig: int = signal.SIGTERM) -> int:
    """Stop the process with ``sig`` and return its exit code."""
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.reader.join(timeout=5)
    if server.process.stdout is not None:
        server.process.stdout.close()
    return server.process.returncode


@contextlib.contextmanager
def running_server(*args: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = start_server(*args, env=env)
    try:
        yield server
    finally:
        stop_server(server)
