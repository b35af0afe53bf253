"""Start-up costs, each a fresh process timed from its start, interleaved over rounds:

* importing ``batchsim.pytest_plugin`` on top of pytest (what the plugin adds to a pytest run,
  which has imported pytest before it loads plugins) vs importing ``anthropic`` (``python -c
  'import X'`` minus ``python -c pass``); for context, the plugin alone in a fresh interpreter;
* a one-test pytest run with the plugin installed (the default) vs with ``-p no:batchsim``, the
  environment's other plugins loaded in both; for context, the same with pytest's own plugins
  only (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``) vs adding ``-p batchsim.pytest_plugin``;
* ``batchsim serve --port 0`` from process start to its first 200 from ``/_batchsim/health`` vs a
  bare Starlette app on uvicorn (:mod:`benchmarks._bare`, same uvicorn options) to its first 200
  on the same path.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _common as c

__all__ = ["run"]

_POLL = 0.005  # seconds between health polls while a server starts
_START_TIMEOUT = 120.0  # generous: a loaded 2-core machine may be slow, never this slow


def _rounds() -> int:
    return 3 if c.QUICK else 7


def _wall(cmd: Sequence[str], cwd: str | None = None, env: dict[str, str] | None = None) -> float:
    """Seconds a child takes from start to exit (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    return time.perf_counter() - start


def _python(code: str) -> Callable[[], float]:
    cmd = [sys.executable, "-c", code]
    c.log_command(cmd)
    return lambda: _wall(cmd)


def _measure(runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each run's median over interleaved rounds, after one round of warm-up (the file system
    cache, bytecode caches)."""
    c.interleave(runs, 1)
    samples = c.interleave(runs, _rounds())
    return {name: statistics.median(values) for name, values in samples.items()}


def _row(name: str, seconds: float, baseline: float, note: str, limit: float | None = None) -> dict[str, Any]:
    """A row in milliseconds, its ratio to ``baseline`` and, with ``limit``, the target ``<= limit``."""
    ratio = seconds / baseline
    target, ok = (None, None) if limit is None else (f"<= {limit:g}", ratio <= limit)
    note = f"{note}; median of {_rounds()} rounds"
    return c.row(name, seconds * 1000, "ms", note, baseline=baseline * 1000, ratio=ratio, target=target, ok=ok)


def _imports() -> list[dict[str, Any]]:
    runs = {
        "pass": _python("pass"),
        "plugin": _python("import batchsim.pytest_plugin"),
        "anthropic": _python("import anthropic"),
        "pytest": _python("import pytest"),
        "pytest+plugin": _python("import pytest; import batchsim.pytest_plugin"),
    }
    m = _measure(runs)
    plugin, anthropic = m["plugin"] - m["pass"], m["anthropic"] - m["pass"]
    on_pytest = m["pytest+plugin"] - m["pytest"]
    return [
        _row(
            "import batchsim.pytest_plugin",
            on_pytest,
            anthropic,
            f"what loading the plugin adds to a pytest run (pytest is imported before its plugins): "
            f"`import pytest; import batchsim.pytest_plugin` minus `import pytest`, vs `import anthropic` "
            f"minus `python -c pass` ({m['pass'] * 1000:.0f} ms), fresh interpreters; in a fresh "
            f"interpreter the plugin alone takes {plugin * 1000:.0f} ms ({plugin / anthropic:.2f}x), "
            f"pytest's own import included ({(m['pytest'] - m['pass']) * 1000:.0f} ms)",
            0.1,
        )
    ]


_TEST = "def test_one():\n    assert sum([1, 2]) == 3\n"
_NO_AUTOLOAD = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _pytest_run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="batchsim-bench-startup-") as tmp:
        test = Path(tmp) / "test_one.py"
        test.write_text(_TEST)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        variants = {
            "with": [*base, str(test)],
            "without": [*base, "-p", "no:batchsim", str(test)],
            "alone with": [*base, "-p", "batchsim.pytest_plugin", str(test)],
        }
        for cmd in variants.values():
            c.log_command([*cmd[:-1], "test_one.py"])

        def timed(name: str) -> Callable[[], float]:
            env = _NO_AUTOLOAD if name.startswith("alone") else None
            return lambda: _wall(variants[name], tmp, env)

        runs = {name: timed(name) for name in variants}
        runs["alone without"] = lambda: _wall([*base, str(test)], tmp, _NO_AUTOLOAD)
        m = _measure(runs)
    return [
        _row(
            "one-test pytest run, plugin installed",
            m["with"],
            m["without"],
            "`python -m pytest -q -p no:cacheprovider test_one.py` vs the same with `-p no:batchsim` "
            f"({(m['with'] - m['without']) * 1000:.0f} ms added), the other plugins of the environment loaded in "
            "both; wall time of the process",
            1.1,
        ),
        _row(
            "one-test pytest run, plugin alone",
            m["alone with"],
            m["alone without"],
            "the same with no plugin but pytest's own (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1) vs with "
            f"`-p batchsim.pytest_plugin` ({(m['alone with'] - m['alone without']) * 1000:.0f} ms added)",
        ),
    ]


def _health(port: int) -> bool:
    """Whether GET /_batchsim/health answers 200 now (``False`` while nobody listens)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_START_TIMEOUT)
    try:
        conn.request("GET", "/_batchsim/health")
        return conn.getresponse().status == 200
    except ConnectionError:
        return False
    finally:
        conn.close()


def _first_200(cmd: list[str], port: int | None) -> float:
    """Seconds from starting ``cmd`` to its first 200 on /_batchsim/health; ``port`` None: the
    server prints its URL on its first line (``batchsim serve --port 0``)."""
    start = time.perf_counter()
    process = c.spawn(cmd, stdout=subprocess.PIPE)
    try:
        if port is None:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            if "serving on " not in line:
                raise RuntimeError(f"batchsim serve did not start: {line}")
            port = int(line.split("serving on ", 1)[1].split()[0].rsplit(":", 1)[1])
        while not _health(port):
            if process.poll() is not None or time.perf_counter() - start > _START_TIMEOUT:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"server did not start: {' '.join(cmd)}\n{err}")
            time.sleep(_POLL)
        return time.perf_counter() - start
    finally:
        c.stop(process)
        with contextlib.suppress(OSError):
            if process.stdout is not None:
                process.stdout.close()


def _serve_start() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="batchsim-bench-startup-") as tmp:
        json_file = Path(tmp) / "health.json"
        json_file.write_bytes(b'{"status":"ok","results_pending":0}')

        def bare() -> float:
            port = c.free_port()
            return _first_200(c.bare_command(port, str(json_file)), port)

        runs = {"batchsim": lambda: _first_200(c.batchsim_command(0), None), "bare": bare}
        m = _measure(runs)
    return [
        _row(
            "batchsim serve: start to first 200",
            m["batchsim"],
            m["bare"],
            "`batchsim serve --port 0` from process start to its first 200 from /_batchsim/health vs a bare "
            f"Starlette app on uvicorn (same options); polled every {_POLL * 1000:.0f} ms",
            1.5,
        )
    ]


def run() -> list[dict[str, Any]]:
    return [*_imports(), *_pytest_run(), *_serve_start()]
