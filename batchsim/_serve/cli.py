"""``batchsim serve``: the emulator as a real HTTP server (uvicorn) for CI in any language."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

_EPILOG = """\
examples:
  batchsim serve                                   # http://127.0.0.1:8000, virtual clock
  batchsim serve --clock scaled:3600 --scenario fixtures/scenarios/flaky.toml
  batchsim serve --db batchsim.db --workers 4 --api-key team-a --api-key team-b --admin-token T
  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=anything python my_job.py

control plane: GET /_batchsim/health, GET /_batchsim/clock, POST /_batchsim/clock/advance
{"seconds": N}, GET|PUT /_batchsim/scenario, POST /_batchsim/reset, GET|DELETE /_batchsim/journal,
GET /_batchsim/openapi.json
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchsim",
        description="An offline emulator of Anthropic's Message Batches API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the emulator as an HTTP server",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("BATCHSIM_HOST", "127.0.0.1"),
        help="interface to bind (default 127.0.0.1; use 0.0.0.0 to expose it)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BATCHSIM_PORT", "8000")),
        help="port (default 8000; 0 picks a free one)",
    )
    serve.add_argument("--scenario", default=os.environ.get("BATCHSIM_SCENARIO"), help="scenario file (.toml or .json)")
    serve.add_argument(
        "--clock",
        default=os.environ.get("BATCHSIM_CLOCK", "virtual"),
        help="virtual (default; moves via POST /_batchsim/clock/advance), real, or scaled:N",
    )
    serve.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    serve.add_argument(
        "--db",
        default=os.environ.get("BATCHSIM_DB"),
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
        default=os.environ.get("BATCHSIM_ADMIN_TOKEN"),
        help="require this token (x-batchsim-admin-token) on the control plane",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes sharing one view (needs --db when > 1)"
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from .server import serve

        return serve(args)
    return 2  # pragma: no cover - argparse enforces a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
