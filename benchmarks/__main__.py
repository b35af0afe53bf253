"""``make bench``: every performance figure of batchsim in one run, as ratios.

Runs each ``bench_*`` module (each exposes ``run() -> list[dict]``), prints one markdown table
and writes it with the machine, versions and command lines to ``benchmarks/RESULTS.md``.
``--quick`` runs smaller, shorter versions; ``--only NAME`` (repeatable) runs some modules.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import _common

MODULES = (
    "bench_control",
    "bench_http",
    "bench_create",
    "bench_results",
    "bench_inprocess",
    "bench_memory",
    "bench_uploads",
    "bench_fixture",
    "bench_workers",
    "bench_client_memory",
    "bench_record",
    "bench_startup",
    "bench_contention",
    "bench_fast_paths",
    "bench_around",
    "bench_openai",
    "bench_gemini",
    "bench_scale",
)
RESULTS = Path(__file__).with_name("RESULTS.md")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    rows = [r for r in rows if "section" not in r]
    lines = [
        "| figure | measured | baseline | ratio | target | pass | note |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        unit = r.get("unit") or ""
        measured = f"{_fmt(r.get('value'))} {unit}".strip()
        baseline = f"{_fmt(r.get('baseline'))} {unit}".strip() if r.get("baseline") is not None else ""
        ok = r.get("ok")
        verdict = "" if ok is None else ("pass" if ok else "FAIL")
        lines.append(
            f"| {r['name']} | {measured} | {baseline} | {_fmt(r.get('ratio'))} | {r.get('target') or ''} "
            f"| {verdict} | {r.get('note') or ''} |"
        )
    return "\n".join(lines)


def machine() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("uvicorn", "starlette", "orjson", "uvloop", "httptools", "anthropic", "httpx2")
        if _installed(name)
    )
    split = (
        f"server pinned to CPU {_common.SERVER_CPU}, load generator to CPU {_common.LOAD_CPU} (taskset)"
        if _common.SERVER_CPU is not None
        else "no CPU pinning (fewer than 2 CPUs or no taskset)"
    )
    return [
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- load generator: {'wrk' if _common.WRK else 'Python (benchmarks/_loadgen.py)'}; {split}",
    ]


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller batches, shorter runs")
    parser.add_argument("--only", action="append", help="run only this module (e.g. bench_http)")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not write RESULTS.md")
    args = parser.parse_args(argv)
    _common.QUICK = args.quick
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for name in MODULES:
        if args.only and name not in args.only:
            continue
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{name}":
                raise
            rows.append(_common.row(name, None, "", "skipped: module not present"))
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            rows.extend(module.run())
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            rows.append(_common.row(name, None, "", f"skipped: {type(exc).__name__}: {exc}"))
        print(f"  {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    text = table(rows)
    sections = "".join(f"\n\n{r['section']}" for r in rows if "section" in r)
    print(text + sections)
    command = "make bench" + (" ARGS=--quick" if args.quick else "")
    if not args.no_write:
        RESULTS.write_text(
            "# Benchmark results\n\n"
            f"Written by `{command}` (`python -m benchmarks{' --quick' if args.quick else ''}`) "
            f"in {time.monotonic() - started:.0f} s. Ratios compare two things measured in the same run "
            "(interleaved rounds, medians); absolute numbers depend on the machine and its load and are "
            "context only.\n\n"
            + "\n".join(machine())
            + "\n\n"
            + text
            + sections
            + "\n\n## Command lines\n\n"
            + "\n".join(f"    {cmd}" for cmd in _common.command_log)
            + "\n"
        )
        print(f"\nwritten to {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
