"""Start a real ``batchsim serve`` process on 127.0.0.1 for tests (port picked by the OS)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
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


START_TIMEOUT = 300.0
"""Only a guard against a server that hangs: start-up waits for the server itself (its "serving
on" line, then a 200 from health), however long a loaded machine makes that."""

guard: list[object] = []
"""Set by tests/conftest.py: checks that the running test may start a server (is marked ``server``)."""


def start_server(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
    command: str = "serve",
    program: Sequence[str] = (sys.executable, "-m", "batchsim"),
) -> ServerProcess:
    """Run ``python -m batchsim COMMAND --port 0 ARGS`` (``serve``, or ``record``, whose proxy
    forwards the health call to its upstream; or another ``program``, such as an installed
    ``batchsim`` script) and wait until it answers health."""
    for check in guard:
        check()  # type: ignore[operator]
    cmd = [*program, command, "--host", "127.0.0.1", "--port", "0", *args]
    proc = subprocess.Popen(  # its own process group: stopping it stops whatever it started too
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ing on http" not in line:
        _abandon(proc)
        raise RuntimeError(f"batchsim {command} did not start: {line}")
    url = line.split("ing on ", 1)[1].split()[0]
    output: list[str] = [line]
    # Keep reading what the server prints so a full pipe never blocks it.
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or ()), daemon=True)
    reader.start()
    server = ServerProcess(url, proc, output, reader)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx2.get(f"{url}/_batchsim/health", timeout=10).status_code == 200:
                return server
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            stop_server(server, signal.SIGKILL)
            raise RuntimeError(f"batchsim {command} never answered /_batchsim/health:\n" + "".join(output))
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _abandon(proc: subprocess.Popen[str]) -> None:
    """Kill a server that failed to start, wait for it and close its output (no leaked process
    or pipe for a later test to trip over)."""
    proc.kill()
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.stdout is not None:
        proc.stdout.close()


def stop_server(server: ServerProcess, sig: int = signal.SIGTERM) -> int:
    """Stop the process with ``sig`` and return its exit code. What it started (workers, results
    writers, multiprocessing's resource tracker) is given a moment to end on its own, as it does
    once its parent is gone (the tracker then removes what its processes left behind), and is
    killed after that."""
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _group_alive(server.process.pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):  # whatever did not end by itself
        os.killpg(server.process.pid, signal.SIGKILL)
    server.reader.join()  # the output ends once every process holding it is gone
    if server.process.stdout is not None:
        server.process.stdout.close()
    return server.process.returncode


@contextlib.contextmanager
def running_server(
    *args: str, env: dict[str, str] | None = None, program: Sequence[str] = (sys.executable, "-m", "batchsim")
) -> Iterator[ServerProcess]:
    server = start_server(*args, env=env, program=program)
    try:
        yield server
    finally:
        stop_server(server)
