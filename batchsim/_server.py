"""Running the emulator under uvicorn (``batchsim serve``)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from ._emulator import Emulator
from ._scenario import Scenario, ScenarioError

__all__ = ["create_app", "serve"]

_CONFIG_ENV = "BATCHSIM_SERVE_CONFIG"


def _emulator(config: dict[str, Any]) -> Emulator:
    scenario = Scenario.load(config["scenario"]) if config.get("scenario") else Scenario()
    sim = Emulator(
        scenario,
        clock=config.get("clock", "virtual"),
        seed=config.get("seed"),
        api_keys=config.get("api_keys"),
        journal=config.get("journal", True),
    )
    sim.admin_token = config.get("admin_token")
    return sim


def create_app() -> Starlette:
    """App factory for uvicorn workers: reads the settings ``serve`` put in the environment."""
    return _emulator(json.loads(os.environ[_CONFIG_ENV])).app


def _uvicorn_options(log_level: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "log_level": log_level,
        "access_log": False,
        "server_header": False,
        "date_header": False,
    }
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:  # pragma: no cover - uvicorn[standard] ships it where it builds
        options["loop"] = "asyncio"
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:  # pragma: no cover
        options["http"] = "h11"
    return options


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM after its graceful shutdown, so that
    ``batchsim serve`` exits 0 on either signal."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def serve(args: argparse.Namespace) -> int:
    config = {
        "scenario": os.path.abspath(args.scenario) if args.scenario else None,
        "clock": args.clock,
        "seed": args.seed,
        "api_keys": args.api_keys,
        "admin_token": args.admin_token,
        "db": os.path.abspath(args.db) if args.db else None,
    }
    try:
        sim = _emulator(config)  # validates the settings before binding anything
    except (ScenarioError, ValueError, OSError) as exc:
        print(f"batchsim: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1 or config["db"]:
        print("batchsim: --db and --workers are not available in this build", file=sys.stderr)
        return 2
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"batchsim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"batchsim serving on http://{shown}:{port} (clock {sim.clock.kind}); Ctrl-C stops it", flush=True)
    server = _Server(uvicorn.Config(sim.app, **_uvicorn_options(args.log_level)))
    server.run(sockets=[sock])
    print("batchsim stopped", flush=True)
    return 0
