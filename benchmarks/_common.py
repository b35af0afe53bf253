"""Shared benchmark plumbing: servers pinned to one core, the load tool on the other, medians.

Every HTTP figure compares two things measured in the same run, interleaved over several
rounds; the table shows the median of each and their ratio. Absolute numbers are context only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

_T = TypeVar("_T")

__all__ = [
    "LOAD_CPU",
    "QUICK",
    "SERVER_CPU",
    "Load",
    "Running",
    "bare_command",
    "bare_server",
    "batchsim_command",
    "batchsim_server",
    "command_log",
    "http_json",
    "interleave",
    "load",
    "log_command",
    "make_body",
    "row",
    "spawn",
    "stop",
    "wait_results_written",
]

QUICK = False
"""Set by ``--quick``: shorter load runs and fewer rounds."""

_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
SERVER_CPU: int | None = _CPUS[0] if len(_CPUS) >= 2 else None
LOAD_CPU: int | None = _CPUS[1] if len(_CPUS) >= 2 else None
_TASKSET = shutil.which("taskset")

command_log: list[str] = []
"""Every command line the benchmarks ran (servers and load tool), for RESULTS.md."""

PARAMS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Summarize the following document. " + "lorem ipsum dolor sit " * 20}],
}


def make_body(n: int) -> bytes:
    """A create body of ``n`` requests of ~500 bytes each (100,000 of them are ~50 MB)."""
    requests = [
        {
            "custom_id": f"req-{i:06d}",
            "params": {**PARAMS, "messages": [{"role": "user", "content": f"Document {i}. {_TEXT}"}]},
        }
        for i in range(n)
    ]
    return orjson.dumps({"requests": requests})


_TEXT = "Summarize the following document. " + "lorem ipsum dolor sit amet, consectetur " * 9


def row(
    name: str,
    value: float | None,
    unit: str,
    note: str = "",
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    target: str | None = None,
    ok: bool | None = None,
) -> dict[str, Any]:
    """One line of the results table (see :mod:`benchmarks.__main__`)."""
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "ok": ok,
        "note": note,
    }


def _pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    if cpu is None or _TASKSET is None:
        return list(cmd)
    return [_TASKSET, "-c", str(cpu), *cmd]


def _show(cmd: Sequence[str]) -> str:
    shown = " ".join(os.path.relpath(c) if c == sys.executable else c for c in cmd)
    shown = re.sub(r"--port \d+", "--port PORT", shown)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", shown)


def log_command(cmd: Sequence[str]) -> None:
    """Add a command line to :data:`command_log` (once; ports and the interpreter path shortened)."""
    shown = _show(cmd)
    if shown not in command_log:
        command_log.append(shown)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]


def spawn(
    cmd: Sequence[str], env: dict[str, str] | None = None, *, pinned: bool = True, stdout: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """Start a server process (pinned to the server's CPU unless ``pinned`` is false), logging its
    command line."""
    full = _pinned(cmd, SERVER_CPU if pinned else None)
    log_command(full)
    return subprocess.Popen(full, stdout=stdout, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process (killing it if it does not stop in 10 s)."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _server(cmd: list[str], port: int, env: dict[str, str] | None = None, *, pinned: bool = True) -> Iterator[Running]:
    process = spawn(cmd, env, pinned=pinned)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{err}")
            time.sleep(0.05)
        yield Running(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)


def batchsim_command(port: int, *args: str) -> list[str]:
    """``batchsim serve`` on 127.0.0.1:``port`` (0: a free port, printed on its first line)."""
    return [sys.executable, "-m", "batchsim", "serve", "--host", "127.0.0.1", "--port", str(port), *args]


def batchsim_server(*args: str, pinned: bool = True) -> contextlib.AbstractContextManager[Running]:
    """``batchsim serve`` (uvloop/httptools when installed, as it always does) on a free port,
    pinned to the server's CPU unless ``pinned`` is false (several workers use every core)."""
    port = free_port()
    return _server(batchsim_command(port, *args), port, pinned=pinned)


def bare_command(port: int, json_file: str, stream_file: str | None = None, folder: str | None = None) -> list[str]:
    """The baseline server (:mod:`benchmarks._bare`) with the uvicorn settings ``batchsim serve``
    uses (event loop, HTTP parser, logging, headers) and uvicorn's own HTTP protocol class,
    handed over on the command line so that the bare process never imports batchsim."""
    from batchsim._serve.server import _uvicorn_options

    options = _uvicorn_options("warning")
    options["http"] = "httptools" if "HttpTools" in str(options["http"]) else "h11"  # uvicorn's own
    cmd = [sys.executable, "-m", "benchmarks._bare", "--port", str(port), "--json", json_file]
    cmd += ["--options", orjson.dumps(options).decode()]
    if stream_file is not None:
        cmd += ["--stream", stream_file]
    if folder is not None:
        cmd += ["--dir", folder]
    return cmd


def record_proxy(upstream: str, out: str) -> contextlib.AbstractContextManager[Running]:
    """``batchsim record`` in front of ``upstream``, recording into ``out``, on a free port."""
    port = free_port()
    cmd = [sys.executable, "-m", "batchsim", "record", "--upstream", upstream, "--out", out, "--port", str(port)]
    return _server(cmd, port)


def bare_server(
    json_file: str, stream_file: str | None = None, folder: str | None = None, *, pinned: bool = True
) -> contextlib.AbstractContextManager[Running]:
    """The baseline: a bare Starlette app under the uvicorn settings ``batchsim serve`` uses."""
    port = free_port()
    return _server(bare_command(port, json_file, stream_file, folder), port, pinned=pinned)


def http_json(method: str, url: str, body: bytes | None = None, key: str = "bench-key", timeout: float = 300) -> Any:
    """One request with the standard library (setup only, never timed)."""
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("x-api-key", key)
    request.add_header("anthropic-version", "2023-06-01")
    if body is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return orjson.loads(response.read())


def wait_results_written(url: str, timeout: float = 120) -> float:
    """Wait until the server at ``url`` has no results file left to write ahead; returns seconds
    waited (setup only, never timed)."""
    start = time.monotonic()
    while http_json("GET", f"{url}/_batchsim/health").get("results_pending", 0):
        if time.monotonic() - start > timeout:
            raise RuntimeError("results still being written ahead")
        time.sleep(0.02)
    return time.monotonic() - start


# -- load generation ---------------------------------------------------------------------------


@dataclass
class Load:
    """One load run: requests per second and how busy the load generator itself was."""

    rps: float
    client_cpu: float  # fraction of one core the load generator used
    tool: str
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def duration() -> float:
    return 1.0 if QUICK else 3.0


def rounds() -> int:
    return 2 if QUICK else 3


WRK = shutil.which("wrk")
CONNECTIONS = 32


WARM_UP = 1
"""Seconds of unmeasured load on the same URL before each measured run (a server that sat idle
while another one was measured starts slower)."""


def load(
    url: str,
    key: str = "bench-key",
    seconds: float | None = None,
    body: bytes | None = None,
    headers: Sequence[str] | None = None,
    *,
    pinned: bool = True,
) -> Load:
    """GET ``url`` (POST ``body`` as JSON, when given) as fast as possible for ``seconds`` with
    ``wrk`` (or the Python fallback), after :data:`WARM_UP` seconds of the same load, not measured.
    ``headers`` (``"name: value"``) replace Anthropic's (``x-api-key: KEY``, ``anthropic-version``);
    ``pinned=False`` leaves the load generator wherever the system puts it."""
    core = LOAD_CPU if pinned else None
    seconds = duration() if seconds is None else seconds
    sent = list(headers) if headers is not None else [f"x-api-key: {key}", "anthropic-version: 2023-06-01"]
    if WRK is not None:
        script: list[str] = []
        if body is not None:
            lua = Path(tempfile.gettempdir()) / f"batchsim-bench-post-{os.getpid()}.lua"
            lua.write_text(
                f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
                'wrk.headers["content-type"] = "application/json"\n'
            )
            script = ["-s", str(lua)]

        def wrk(run_for: float) -> list[str]:
            cmd = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{run_for:g}s", *script]
            return _pinned([*cmd, *(part for h in sent for part in ("-H", h)), url], core)

        _run_measured(wrk(WARM_UP))
        full = wrk(seconds)
        log_command([c if c != WRK else "wrk" for c in full])
        out, cpu = _run_measured(full)
        rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
        errors = int(bad.group(1)) if bad else 0
        return Load(rps, cpu / seconds, "wrk", errors)
    if body is not None:
        raise RuntimeError("a POST load needs wrk")
    warm_up = [sys.executable, "-m", "benchmarks._loadgen", url, key, f"{WARM_UP:g}", str(CONNECTIONS), *sent]
    _run_measured(_pinned(warm_up, core))
    cmd = [sys.executable, "-m", "benchmarks._loadgen", url, key, f"{seconds:g}", str(CONNECTIONS), *sent]
    full = _pinned(cmd, core)
    log_command(full)
    out, cpu = _run_measured(full)
    result = orjson.loads(out)
    return Load(result["rps"], cpu / seconds, "python", result["errors"])


def _run_measured(cmd: list[str]) -> tuple[str, float]:
    """Run a child to completion; return its stdout and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, cpu


def interleave(runs: dict[str, Callable[[], _T]], count: int | None = None) -> dict[str, list[_T]]:
    """Run each measurement once per round, alternating, for several rounds (``count``, or
    :func:`rounds`)."""
    out: dict[str, list[_T]] = {name: [] for name in runs}
    for _ in range(rounds() if count is None else count):
        for name, run in runs.items():
            out[name].append(run())
    return out


def median_rps(loads: list[Load]) -> float:
    return statistics.median(x.rps for x in loads)


def load_note(*groups: list[Load]) -> str:
    every = [x for g in groups for x in g]
    busiest = max(x.client_cpu for x in every)
    errors = sum(x.errors for x in every)
    note = f"{every[0].tool} -c{CONNECTIONS}, load generator at most {busiest:.0%} of its core"
    if errors:
        note += f"; {errors} non-2xx answers"
    return note
