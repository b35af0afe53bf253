"""Running the emulator under uvicorn (``batchsim serve``).

Without ``--db`` the emulator lives in the one server process's memory. With ``--db PATH``
batches, the creation sequence, the virtual clock and the active scenario live in SQLite
(:mod:`batchsim._storage.sqlite`, :mod:`batchsim._storage.shared`): the server can be killed and restarted
without losing anything it acknowledged, and ``--workers N`` runs N uvicorn worker processes
over the one database. Workers are started by uvicorn's supervisor with the app factory
:func:`create_app`, which reads the settings ``serve`` put in ``BATCHSIM_SERVE_CONFIG``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.supervisors import Multiprocess

from .._emulator import Emulator, Limits
from .._engine.scenario import Scenario, ScenarioError, find_scenario
from .._http.bodies import DEFAULT_BODY_BUDGET
from .._http.connection import DroppedConnectionError
from .._http.journal import DEFAULT_BYTES
from .._storage.results_files import MAX_FILE_BYTES, MAX_ONE_FILE_BYTES, sweep_stale_roots
from . import connections
from .guard import allowed_hosts, guarded, is_loopback
from .protocols import PROTOCOLS

__all__ = ["create_app", "serve"]

SERVER_JOURNAL_BODY_PREFIX = 64 * 1024
"""A served journal keeps this much of each body (what ``GET /_batchsim/journal`` shows)."""
_BACKLOG = 2048  # uvicorn's
_CONFIG_ENV = "BATCHSIM_SERVE_CONFIG"
_PARENT_ENV = "BATCHSIM_SERVE_PARENT"


def _syncing(app: ASGIApp, sim: Emulator, *, name_worker: bool) -> ASGIApp:
    """Run :meth:`Emulator.sync` before each request; with ``name_worker`` (several
    workers), name the worker process in an ``x-batchsim-worker`` header (which process answered
    is otherwise invisible; one more header is a noticeable part of a retrieve's cost).

    Requests that read no body (GET, HEAD, DELETE) run to their answer without waiting on
    anything, so they pin the shared row read by ``sync`` (the clock's "now", the change counter)
    for their whole duration instead of reading it again (see :mod:`batchsim._storage.sqlite`).
    Others (create, cancel, control-plane posts) read the database as they go."""
    worker = (b"x-batchsim-worker", str(os.getpid()).encode())
    assert sim.shared is not None
    db = sim.shared.db

    async def synced(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        snapshot = sim.sync()
        assert snapshot is not None

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), worker]}
            await send(message)

        if not name_worker:
            send_named = send

        if scope["method"] not in _PINNING:
            await app(scope, receive, send_named)
            return
        with db.pin(snapshot):
            await app(scope, receive, send_named)

    return synced


_PINNING = frozenset({"GET", "HEAD", "DELETE"})


def _emulator(config: dict[str, Any]) -> Emulator:
    scenario = Scenario.load(config["scenario"]) if config.get("scenario") else Scenario()
    if config.get("seed") is not None:
        scenario = Scenario.of(scenario, seed=config["seed"])
    limits = Limits(
        journal_bytes=config.get("journal_bytes", DEFAULT_BYTES),
        journal_body_prefix=SERVER_JOURNAL_BODY_PREFIX,
        # The budget of body bytes in flight is the server's: each worker takes its share.
        body_budget=max(1, config.get("body_budget", DEFAULT_BODY_BUDGET) // max(1, config.get("workers", 1))),
        results_disk=config.get("results_disk", MAX_FILE_BYTES),
        results_file_max=config.get("results_file_max", MAX_ONE_FILE_BYTES),
        results_root=config.get("results_root"),  # shared by the workers: the bounds are the server's
    )
    sim = Emulator(
        scenario,
        clock=config.get("clock", "virtual"),
        api_keys=config.get("api_keys"),
        journal=config.get("journal", True),
        results_writer="process",  # writing results never competes with the API
        database=config["db"] if config.get("db") else None,
        # A scenario or seed given on the command line replaces the one the database holds.
        publish=bool(config.get("scenario")) or config.get("seed") is not None,
        unique_ids=True,  # a server never hands out an id it handed out before
        admin_token=config.get("admin_token"),
        data_dir=config.get("data_dir"),
        limits=limits,
    )
    sim._ctx.bodies.timeout = config.get("body_timeout")  # a body that stops arriving: 408
    return sim


def _app(sim: Emulator, config: dict[str, Any], *, name_worker: bool = False) -> ASGIApp:
    """The served app: the emulator's, synced with the other workers (``--db``), behind the
    checks of :mod:`batchsim._serve.guard`; the connection bounds set for this process."""
    connections.configure(**config.get("connections", {}))
    app: ASGIApp = sim.app
    if sim.shared is not None:
        app = _syncing(app, sim, name_worker=name_worker)
        connections.every_second(sim.sync)  # a reset elsewhere frees this worker's results files
    bind = config.get("host", "127.0.0.1")
    return guarded(app, allowed_hosts(bind, config.get("allowed_hosts")), any_address=not is_loopback(bind))


def create_app() -> ASGIApp:
    """App factory for uvicorn workers: reads the settings ``serve`` put in the environment."""
    _quiet_injected_drops()
    parent = os.environ.get(_PARENT_ENV)
    if parent is not None:
        _exit_with_parent(int(parent))
    # This factory only runs with several workers: each names itself in its answers.
    config = json.loads(os.environ[_CONFIG_ENV])
    app = _app(_emulator(config), config, name_worker=True)
    gc.freeze()  # what is loaded by now lives as long as the worker: keep it out of collections
    return app


def _exit_with_parent(parent: int) -> None:
    """A worker whose supervisor was killed (``kill -9``) stops instead of serving on."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="batchsim-parent-watch", daemon=True).start()


class _InjectedDropFilter(logging.Filter):
    """Turns uvicorn's traceback for a connection cut on purpose into one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and _is_injected(exc):
            record.msg = "batchsim: %s"
            record.args = (exc,)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _is_injected(exc: BaseException) -> bool:
    if isinstance(exc, DroppedConnectionError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_injected(e) for e in exc.exceptions)
    return False


def _quiet_injected_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _InjectedDropFilter) for f in logger.filters):
        logger.addFilter(_InjectedDropFilter())


def _uvicorn_options(log_level: str, http: str = "auto") -> dict[str, Any]:
    """uvicorn's settings; ``http`` is ``httptools``, ``h11`` or ``auto`` (httptools when
    installed). Either runs with the protocol subclass that lets faults close a connection
    before answering (:mod:`batchsim._serve.protocols`)."""
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
    if http == "auto":
        try:
            import httptools  # noqa: F401

            http = "httptools"
        except ImportError:  # pragma: no cover
            http = "h11"
    options["http"] = PROTOCOLS[http]
    return options


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM after its graceful shutdown, so that
    ``batchsim serve`` exits 0 on either signal."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def _check(args: argparse.Namespace) -> str | None:
    """A usage problem with the options, or ``None``. A ready-made scenario's name becomes its file."""
    if args.scenario:
        try:
            args.scenario = str(find_scenario(args.scenario))
        except ScenarioError as exc:
            return f"--scenario: {exc}"
    if args.workers < 1:
        return "--workers must be at least 1"
    if args.data_dir and not os.path.isdir(args.data_dir):
        return f"--data-dir {args.data_dir}: not a folder"
    if args.workers > 1 and not args.db:
        return (
            "--workers > 1 needs --db PATH: workers are separate processes and share batches only through the database"
        )
    return None


def bind(host: str, port: int) -> socket.socket | str:
    """A socket bound to ``host:port`` (``0``: a free port) and listening, or why it cannot be
    had. It listens at once: a client that connects as soon as the address is printed waits in
    the backlog until the server accepts it, instead of being refused."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        return f"cannot listen on {host}:{port}: {exc}"
    return sock


def _data_dir(args: argparse.Namespace) -> str | None:
    """The folder canned results set over HTTP may come from: ``--data-dir``, else the scenario
    file's folder, else none."""
    if args.data_dir:
        return os.path.realpath(str(args.data_dir))
    if args.scenario:
        return os.path.dirname(os.path.realpath(str(args.scenario)))
    return None


def serve(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"batchsim: {problem}", file=sys.stderr)
        return 2
    config: dict[str, Any] = {
        "scenario": os.path.abspath(args.scenario) if args.scenario else None,
        "clock": args.clock,
        "seed": args.seed,
        "api_keys": args.api_keys,
        "admin_token": args.admin_token,
        "db": os.path.abspath(args.db) if args.db else None,
        "data_dir": _data_dir(args),
        "journal_bytes": args.journal_bytes,
        "body_budget": args.body_budget,
        "results_disk": args.results_disk,
        "results_file_max": args.results_file_max,
        "workers": args.workers,
        "results_root": None,
        "host": args.host,
        "allowed_hosts": args.allowed_hosts,
        "body_timeout": args.body_timeout,
        "connections": {
            "headers_max": args.headers_max,
            "url_max": args.url_max,
            "header_timeout": args.header_timeout,
            "send_timeout": args.send_timeout,
            "connections_max": args.connections_max,
        },
    }
    try:
        # Validates the settings and prepares the database before binding. A scenario or seed
        # given on the command line replaces the one the database holds.
        sim = _emulator(config)
    except (ScenarioError, ValueError, OSError) as exc:
        print(f"batchsim: {exc}", file=sys.stderr)
        return 2
    sock = bind(args.host, args.port)
    if isinstance(sock, str):
        print(f"batchsim: {sock}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    where = f"database {config['db']}" if config["db"] else "in memory"
    workers = f", {args.workers} workers" if args.workers > 1 else ""
    print(
        f"batchsim serving on http://{shown}:{port} (clock {sim.clock.kind}, {where}{workers}); Ctrl-C stops it",
        flush=True,
    )
    if args.api_keys and not args.admin_token:
        print(
            "batchsim: warning: --api-key without --admin-token: every key can read every key's calls and "
            "batches on the control plane and reset the server (set --admin-token)",
            file=sys.stderr,
            flush=True,
        )
    connections.raise_descriptor_limit()  # workers inherit it
    options = _uvicorn_options(args.log_level, args.http)
    sweep_stale_roots()  # results files a killed server left behind
    if args.workers == 1:
        server = _Server(uvicorn.Config(_app(sim, config), **options))
        _quiet_injected_drops()  # after uvicorn has configured its loggers
        gc.freeze()  # what is loaded by now lives as long as the server: keep it out of collections
        try:
            server.run(sockets=[sock])
        finally:
            sim.close()  # its results files and their writer go with it
    else:
        sim.close()  # the workers build their own emulators
        config["scenario"] = None  # the database holds the active scenario now
        config["seed"] = None
        results_root = tempfile.mkdtemp(
            prefix="batchsim-results-"
        )  # every worker's results files (each its own PID-* folder)
        config["results_root"] = results_root
        os.environ[_CONFIG_ENV] = json.dumps(config)
        os.environ[_PARENT_ENV] = str(os.getpid())
        sock.listen(2048)
        uv_config = uvicorn.Config(
            "batchsim._serve.server:create_app",
            factory=True,
            workers=args.workers,
            timeout_worker_healthcheck=math.ceil(args.worker_healthcheck_timeout),
            **options,
        )
        try:
            Multiprocess(uv_config, sockets=[sock]).run()
        finally:
            shutil.rmtree(results_root, ignore_errors=True)
    print("batchsim stopped", flush=True)
    return 0
