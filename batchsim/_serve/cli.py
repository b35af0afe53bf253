"""``batchsim serve``: the emulator as a real HTTP server (uvicorn) for CI in any language."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from . import control_cli
from .env import EnvError, read_environment

__all__ = ["main"]

_EPILOG = """\
examples:
  batchsim serve                                   # http://127.0.0.1:8000, virtual clock
  batchsim serve --clock scaled:3600 --scenario flaky   # a ready-made scenario, or a file
  batchsim serve --db batchsim.db --workers 4 --api-key team-a --api-key team-b --admin-token T
  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=anything python my_job.py

every serve option also reads from the environment: --foo-bar from BATCHSIM_FOO_BAR (the command
line wins; --api-key takes a comma-separated list: BATCHSIM_API_KEY=team-a,team-b)

control plane: GET /_batchsim/health, GET /_batchsim/clock, POST /_batchsim/clock/advance
{"seconds": N}, GET|PUT /_batchsim/scenario, POST /_batchsim/reset, GET|DELETE /_batchsim/journal,
GET /_batchsim/openapi.json; the dashboard: http://127.0.0.1:8000/ (/_batchsim/ui)

drive a running server (--url, default BATCHSIM_URL or http://127.0.0.1:8000; --admin-token):
  batchsim status                     # the clock and every batch, with counts
  batchsim advance 1h                 # move the virtual clock (30s, 5m, 2d, 1h30m, or seconds)
  batchsim reset                      # no batches, starting scenario and clock
  batchsim scenario show | set FILE   # the active scenario
  batchsim scenario check FILE        # validate a scenario file, no server needed
  batchsim journal --endpoint create  # the calls received, newest first (--json for JSON lines)
"""


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _size(text: str) -> int:
    """A byte count: ``1048576``, ``64K``, ``64M``, ``4G`` (binary units)."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    number = raw[: len(raw) - len(unit)]
    if not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive byte count such as 1048576, 64M or 4G; got {text!r}")
    return int(number) * _UNITS[unit]


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0; got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400; got {text!r}")
    return value


_SIZES = (  # option, default, what it bounds (docs/security.md); each also reads BATCHSIM_<OPTION>
    ("--journal-bytes", "64M", "memory the request journal may hold; oldest calls dropped first"),
    ("--body-budget", "1G", "request body bytes in flight at once, server-wide; beyond it: 529 overloaded_error"),
    ("--results-disk", "4G", "disk all results files may take together, across workers"),
    (
        "--results-file-max",
        "1G",
        "largest results file kept for one batch; what does not fit is generated at each download",
    ),
    ("--headers-max", "64K", "a request's header block; beyond it: 431 and the connection closed"),
    ("--url-max", "16K", "a request's URL (path and query); beyond it: 414 and the connection closed"),
)

_TIMEOUTS = (  # option, default, what it times out (docs/security.md)
    ("--header-timeout", "30", "a request head not complete this long after its first byte: 408, closed"),
    ("--body-timeout", "30", "a request body that stops arriving this long: 408 timeout_error, closed"),
    ("--send-timeout", "60", "an answer the client stops reading this long: the connection is cut"),
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr naming the command and the option
    (``batchsim serve: --port: a port is ...``), exit status 2, without the usage block. Every
    subcommand's parser is one too (``add_subparsers`` makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.removeprefix('argument ')}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="batchsim",
        description="An offline emulator of Anthropic's Message Batches API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"batchsim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the emulator as an HTTP server",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; use 0.0.0.0 to expose it)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port (default 8000; 0 picks a free one)",
    )
    serve.add_argument(
        "--scenario",
        help="scenario file (.toml or .json), a cassette folder (batchsim record --out DIR) "
        "or a ready-made scenario's name: expiring, flaky, overloaded",
    )
    serve.add_argument(
        "--clock",
        default="virtual",
        help="virtual (default; moves via POST /_batchsim/clock/advance), real, or scaled:N",
    )
    serve.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    serve.add_argument(
        "--db",
        help="SQLite file that keeps batches, clock and scenario across restarts and crashes (default: in memory)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        default=None,
        metavar="KEY",
        help="accept only this key (repeatable); default: any key, each key its own workspace",
    )
    serve.add_argument(
        "--admin-token",
        help="require this token (x-batchsim-admin-token) on the control plane",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes sharing one view (needs --db when > 1)"
    )
    serve.add_argument(
        "--worker-healthcheck-timeout",
        type=_seconds,
        default="60",
        metavar="SECONDS",
        help="with --workers: how long a worker may take to answer the supervisor's health check before it is "
        "restarted (default 60; uvicorn's own default of 5 restarts busy workers on a loaded machine)",
    )
    serve.add_argument(
        "--data-dir",
        help="the only folder a scenario set over HTTP may read canned results from "
        "(default: the --scenario file's folder; without either, canned results over HTTP must be inline)",
    )
    for option, default, text in _SIZES:
        serve.add_argument(option, type=_size, default=default, metavar="BYTES", help=f"{text} (default {default})")
    for option, default, text in _TIMEOUTS:
        serve.add_argument(
            option, type=_seconds, default=default, metavar="SECONDS", help=f"{text} (default {default})"
        )
    serve.add_argument(
        "--connections-max",
        type=_count,
        default=0,
        metavar="N",
        help="open connections per process; beyond it a new one gets 529 overloaded_error and is closed "
        "(default 0: half the file descriptors the process may open)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        default=None,
        metavar="NAME",
        help="also answer requests naming this host (repeatable; '*' for any). Bound to a loopback "
        "address the server answers only loopback names and addresses; bound elsewhere, any host unless "
        "names are given (a guard against DNS rebinding)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=_LOG_LEVELS,
        default="warning",
        help="what uvicorn logs to stderr: warning (default) only problems, info also start-up and shutdown, "
        "debug also connections; never one line per request (the journal keeps the calls)",
    )
    _add_http(serve)
    _add_record_and_drift(sub)
    control_cli.add_commands(sub)
    return parser


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _add_http(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="uvicorn's HTTP implementation (default auto: httptools when installed, else h11)",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0; got {text!r}")
    return value


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535 (0 picks a free one), got {value!r}")
    return port


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return cast(argparse.ArgumentParser, action.choices[name])
    raise LookupError(name)  # pragma: no cover - the parser always has its subcommands


def _add_record_and_drift(sub: Any) -> None:
    record = sub.add_parser(
        "record",
        help="a recording proxy: forward to the real API, keep a cassette (results, timeline, fitted scenario)",
        description="Forward every batch API call of --provider to --upstream unchanged and record a cassette "
        "in --out: create bodies, results (a canned file), each batch's timeline and a fitted scenario.toml "
        "for `batchsim serve --scenario OUT/scenario.toml`. API keys are never written.",
    )
    _add_provider(record)
    record.add_argument(
        "--upstream", default=None, help="the API to forward to (default: the provider's production API)"
    )
    record.add_argument("--out", required=True, help="the cassette folder (created; a second run appends)")
    record.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    record.add_argument("--port", type=_port, default=8001, help="port (default 8001; 0 picks a free one)")
    record.add_argument(
        "--log-level",
        type=str.lower,
        choices=_LOG_LEVELS,
        default="warning",
        help="uvicorn's log level (default warning)",
    )
    _add_http(record)
    drift = sub.add_parser(
        "drift",
        help="compare the real API with the emulator on one small batch; exit 1 on any difference",
        description="Submit one small batch (and the calls around it) to --upstream (key from ANTHROPIC_API_KEY, "
        "OPENAI_API_KEY, or GEMINI_API_KEY/GOOGLE_API_KEY) and to a local emulator, follow both to the end and "
        "compare what the SDK sees: fields and types, enum values, headers, wrong-state statuses, error "
        "envelopes, results lines. The upstream batch is canceled if it runs too long and cleaned up.",
    )
    _add_provider(drift)
    drift.add_argument("--upstream", default=None, help="the API to check (default: the provider's production API)")
    drift.add_argument("--local", default=None, help="a running emulator's URL (default: one in-process)")
    drift.add_argument("--json", action="store_true", help="print the differences as JSON")
    drift.add_argument("--model", default=None, help="model of the probe requests (default: a small one)")
    drift.add_argument(
        "--max-wait",
        type=_positive_seconds,
        default=3600.0,
        help="seconds to wait for the upstream batch before canceling it",
    )
    drift.add_argument(
        "--poll", type=_positive_seconds, default=10.0, help="seconds between polls of the upstream (default 10)"
    )
    drift.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=120.0,
        help="seconds one call to the upstream may take, its answer included (default 120)",
    )


def _add_provider(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        choices=("anthropic", "openai", "gemini"),
        default="anthropic",
        help="whose batch API (default anthropic)",
    )


def _scenario_folder(args: argparse.Namespace) -> str | None:
    """``--scenario DIR``: a cassette folder (``batchsim record --out DIR``) stands for its
    ``scenario.toml``, as ``--batchsim-replay DIR`` takes it; any other folder is a usage problem."""
    if not args.scenario or not os.path.isdir(args.scenario):
        return None
    scenario = os.path.join(args.scenario, "scenario.toml")
    if not os.path.isfile(scenario):
        return (
            f"--scenario: {args.scenario} is a folder without scenario.toml; give a scenario file, "
            "a ready-made scenario's name or a cassette folder (batchsim record --out DIR)"
        )
    args.scenario = scenario
    return None


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `batchsim status | head`: the reader left, which is no error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's last flush at exit must not fail again
        return 0


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .server import serve

        try:  # BATCHSIM_* variables are defaults: parse again with them, the command line winning
            read_environment(_subparser(parser, "serve"))
        except EnvError as exc:
            print(f"batchsim serve: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
        problem = _scenario_folder(args)
        if problem is not None:
            print(f"batchsim serve: {problem}", file=sys.stderr)
            return 2
        return serve(args)
    if args.command == "record":
        from .record import record

        return record(args.upstream, args.out, args.host, args.port, args.log_level, args.http, args.provider)
    if args.command == "drift":
        from .drift_cli import main as drift

        return drift(args)
    if args.command in control_cli.COMMANDS:
        return control_cli.run(args)
    return 2  # pragma: no cover - argparse enforces a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
