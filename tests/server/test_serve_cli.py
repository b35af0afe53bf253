"""``batchsim serve`` as a user starts it: user mistakes are one-line errors, and every option
also reads from a ``BATCHSIM_*`` environment variable."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from serverproc import running_server

from .conftest import requests_body

ROOT = Path(__file__).resolve().parents[2]


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``batchsim serve ARGS`` that is expected to refuse to start (a guard timeout only)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSIM_")}
    return subprocess.run(
        [sys.executable, "-m", "batchsim", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--db", "{missing}/dir/x.db"], {}, "cannot open database {missing}/dir/x.db: folder {missing}/dir"),
        (["--port", "99999"], {}, "batchsim serve: --port: a port is a number from 0 to 65535"),
        (["--port", "http"], {}, "batchsim serve: --port: a port is a number from 0 to 65535"),
        (["--workers", "many"], {}, "batchsim serve: --workers: invalid int value: 'many'"),
        (["--bogus"], {}, "batchsim: unrecognized arguments: --bogus"),
        ([], {"BATCHSIM_PORT": "abc"}, "BATCHSIM_PORT='abc': a port is a number from 0 to 65535"),
        ([], {"BATCHSIM_SEED": "1.5"}, "BATCHSIM_SEED='1.5': not a valid integer (as --seed)"),
        ([], {"BATCHSIM_HTTP": "h3"}, "BATCHSIM_HTTP='h3': expected one of auto, httptools, h11"),
        ([], {"BATCHSIM_LOG_LEVEL": "loud"}, "BATCHSIM_LOG_LEVEL='loud': expected one of critical, error, warning"),
        ([], {"BATCHSIM_WORKERS": "2"}, "--workers > 1 needs --db PATH"),
        (["--clock", "scaled:0"], {}, "clock 'scaled:0': the speed-up N of scaled:N must be a finite number > 0"),
        (["--clock", "scaled:fast"], {}, "clock 'scaled:fast': scaled:N needs a number N > 0"),
        (["--clock", "scaled:1e12"], {}, "clock 'scaled:1e12': the speed-up N of scaled:N is at most 100000"),
        (["--clock", "sundial"], {}, "unknown clock 'sundial'"),
        (["--log-level", "loud"], {}, "batchsim serve: --log-level: invalid choice: 'loud'"),
        (
            ["--scenario", "{folder}"],
            {},
            "batchsim serve: --scenario: {folder} is a folder without scenario.toml; give a scenario file",
        ),
        (
            ["--scenario", "flakey"],
            {},
            "no scenario file 'flakey' and no ready-made scenario of that name (ready-made:",
        ),
    ],
)
def test_user_mistakes_are_one_line_errors(args: list[str], env: dict[str, str], says: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")  # a folder that surely does not exist
    args = [a.format(missing=missing, folder=tmp_path) for a in args]
    says = says.format(missing=missing, folder=tmp_path)
    done = serve(*args, env=env)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()  # one line: no usage block
    assert line.startswith("batchsim"), done.stderr
    assert says in line, done.stderr


@pytest.mark.server
def test_a_cassette_folder_is_a_scenario(tmp_path: Path) -> None:
    """``--scenario DIR`` takes a recorded cassette folder as ``--batchsim-replay DIR`` does."""
    (tmp_path / "canned.jsonl").write_text('{"custom_id": "r-0", "result": {"type": "canceled"}}\n')
    (tmp_path / "scenario.toml").write_text('seed = 123\ncanned = "canned.jsonl"\n')
    with running_server("--scenario", str(tmp_path)) as server:
        assert server.control("GET", "scenario").json()["seed"] == 123
        batches = f"{server.url}/v1/messages/batches"
        created = httpx2.post(batches, headers={"x-api-key": "k"}, json={"requests": requests_body(1)}, timeout=30)
        server.advance(3600)
        results = httpx2.get(f"{batches}/{created.json()['id']}/results", headers={"x-api-key": "k"}, timeout=30)
        assert results.json()["result"] == {"type": "canceled"}


@pytest.mark.server
def test_every_setting_reads_from_the_environment() -> None:
    env = {
        "BATCHSIM_SCENARIO": "flaky",
        "BATCHSIM_SEED": "42",
        "BATCHSIM_API_KEY": "team-a, team-b",
        "BATCHSIM_CLOCK": "scaled:2",
        "BATCHSIM_ADMIN_TOKEN": "T",
        "BATCHSIM_LOG_LEVEL": "INFO",
        "BATCHSIM_HTTP": "h11",
        "BATCHSIM_PORT": "1",  # the command line (--port 0, given by running_server) wins
    }
    with running_server(env=env) as server:
        admin = {"x-batchsim-admin-token": "T"}
        assert httpx2.get(f"{server.url}/_batchsim/scenario", timeout=30).status_code == 401
        scenario = httpx2.get(f"{server.url}/_batchsim/scenario", headers=admin, timeout=30).json()
        assert scenario["seed"] == 42
        assert [r["custom_id"] for r in scenario["rules"]] == ["^poison-"]  # flaky's
        assert httpx2.get(f"{server.url}/_batchsim/clock", headers=admin, timeout=30).json()["kind"] == "scaled:2"
        batches = f"{server.url}/v1/messages/batches"
        assert httpx2.get(batches, headers={"x-api-key": "team-c"}, timeout=30).status_code == 401
        created = httpx2.post(batches, headers={"x-api-key": "team-b"}, json={"requests": requests_body(1)}, timeout=30)
        assert created.status_code in (200, 429)  # flaky's first create is a 429 fault
    log = "".join(server.output)
    assert "(clock scaled:2, in memory)" in log
    assert "INFO:     Application startup complete." in log  # --log-level info


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.server
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("how", ["environment", "make variable"])
def test_make_serve_takes_the_port_from_batchsim_port_or_port(how: str) -> None:
    """``BATCHSIM_PORT=8123 make serve`` serves on 8123, as ``batchsim serve`` would; ``make serve
    PORT=...`` still works. (The installed environment is taken as it is: ``-o`` skips the
    install step, and BIN names this interpreter's scripts.)"""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHSIM_") and k not in ("HOST", "PORT")}
    args = ["make", "--no-print-directory", "-o", ".venv/.installed", "serve", f"BIN={Path(sys.executable).parent}"]
    if how == "environment":
        env.update(BATCHSIM_PORT=str(port), BATCHSIM_HOST="127.0.0.1")
    else:
        args.append(f"PORT={port}")
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # make echoes its command, then the server says where it serves
            lines.append(line)
            if "serving on" in line or len(lines) > 20:
                break
        assert f"batchsim serving on http://127.0.0.1:{port} " in "".join(lines), "".join(lines)
        assert httpx2.get(f"http://127.0.0.1:{port}/_batchsim/health", timeout=30).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()
