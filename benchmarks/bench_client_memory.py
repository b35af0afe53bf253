"""Memory of the thin client: peak RSS of ``batchclient run`` on a 100,000-request job.

The client runs in its own process against a real ``batchsim serve`` (scaled clock); the peak
is that process's own high-water mark (``VmHWM``), compared with the size of the input file. Results are
streamed to a SQLite work store and merged in input order, so the peak follows the size of one
batch's create body (the SDK builds it in memory), not the size of the job: the second row cuts
the same job into 20,000-request batches to show it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import _common as c

_ROOT = Path(__file__).resolve().parent.parent
# The peak is read from /proc (VmHWM, this process's own high-water mark): ``ru_maxrss`` would
# include the parent's peak at fork time on Linux, which a long benchmark run makes large.
_PEAK = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
_MEASURE = f"""\
import sys
from batchclient._cli import main
code = main(sys.argv[1:])
print("PEAK_KB", {_PEAK}, file=sys.stderr)
sys.exit(code)
"""
_IMPORT_ONLY = f"import anthropic; print({_PEAK})"


def _write_input(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            params = {**c.PARAMS, "messages": [{"role": "user", "content": f"Document {i}. {c._TEXT}"}]}
            f.write(json.dumps({"custom_id": f"req-{i:06d}", "params": params}) + "\n")


def _env(url: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(_ROOT / "client"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "bench-key", "PYTHONPATH": path}


def _client_run(url: str, source: Path, out: Path, batch_size: int) -> tuple[int, float]:
    """Run the job in a fresh process; its peak RSS in bytes and the wall time."""
    args = ["run", str(source), "-o", str(out), "-q", "--batch-size", str(batch_size), "--poll-interval", "0.2"]
    cmd = [sys.executable, "-c", _MEASURE, *args]
    c.command_log.append("batchclient " + " ".join(args).replace(str(source.parent) + "/", ""))
    started = time.monotonic()
    done = subprocess.run(cmd, env=_env(url), capture_output=True, text=True, timeout=900, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"batchclient failed ({done.returncode}): {done.stderr[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB"))
    return peak_kb * 1024, elapsed


def run() -> list[dict[str, Any]]:
    n = 20_000 if c.QUICK else 100_000
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-client-") as tmp:
        folder = Path(tmp)
        source = folder / "in.jsonl"
        _write_input(source, n)
        size = source.stat().st_size
        floor = int(subprocess.run([sys.executable, "-c", _IMPORT_ONLY], capture_output=True, text=True).stdout)
        for batch_size in (n, n // 5):
            with c.batchsim_server("--clock", "scaled:1000") as sim:
                out = folder / f"out-{batch_size}.jsonl"
                peak, elapsed = _client_run(sim.url, source, out, batch_size)
            lines = sum(1 for _ in out.open("rb"))
            assert lines == n, f"expected {n} result lines, got {lines}"
            batches = -(-n // batch_size)
            rows.append(
                c.row(
                    f"client memory ({n:,} requests, {batches} batch{'es' if batches > 1 else ''})",
                    peak / 1e6,
                    "MB",
                    f"peak RSS of `batchclient run`; input {size / 1e6:.1f} MB, output "
                    f"{out.stat().st_size / 1e6:.1f} MB, {elapsed:.1f} s wall; importing the SDK alone "
                    f"peaks at {floor / 1024:.0f} MB",
                    baseline=size / 1e6,
                    ratio=peak / size,
                )
            )
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
