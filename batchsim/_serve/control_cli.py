"""The control-plane commands of ``batchsim``: ``advance``, ``reset``, ``scenario``, ``journal``
and ``status``, over HTTP to a running ``batchsim serve`` (``--url``, default ``BATCHSIM_URL``,
else ``http://127.0.0.1:8000``; ``--admin-token``, default ``BATCHSIM_ADMIN_TOKEN``).

They use only the standard library's HTTP client, print one-line errors (never a traceback) and
exit 1 when the server refuses or cannot be reached, 2 for a usage mistake. What the server
sends is printed with its control characters escaped (:func:`~batchsim._serve.text.printable`):
a journal path is whatever a client sent.
``scenario check FILE`` validates a scenario file without any server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .._engine.scenario import MAX_CANNED_LINES, Scenario, ScenarioError
from .text import printable

__all__ = ["COMMANDS", "add_commands", "parse_duration", "run"]

COMMANDS = ("advance", "reset", "scenario", "journal", "status")
DEFAULT_URL = "http://127.0.0.1:8000"
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|min|h|d)?")


class CommandError(Exception):
    """A one-line problem; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``5m``, ``1h30m``, ``2d``."""
    spec = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(spec):
        match = _DURATION.match(spec, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2) or ""]
        pos = match.end()
    if not spec or pos != len(spec):
        raise CommandError(f"not a duration: {text!r} (use seconds or 30s, 5m, 1h, 2d, 1h30m)", 2)
    return total


def add_commands(sub: Any) -> None:
    """Add the control-plane commands to ``batchsim``'s subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        type=_server_url,
        default=os.environ.get("BATCHSIM_URL", DEFAULT_URL),
        help=f"the server (default: BATCHSIM_URL, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--admin-token",
        default=os.environ.get("BATCHSIM_ADMIN_TOKEN"),
        help="the server's admin token (default: BATCHSIM_ADMIN_TOKEN)",
    )
    advance = sub.add_parser("advance", parents=[common], help="move the server's virtual clock forward")
    advance.add_argument("duration", help="how far: seconds, or 30s, 5m, 1h, 2d, 1h30m")
    sub.add_parser("reset", parents=[common], help="forget every batch and call; scenario and clock back to the start")
    scenario = sub.add_parser("scenario", help="show, set or check the scenario")
    actions = scenario.add_subparsers(dest="action", required=True)
    actions.add_parser("show", parents=[common], help="print the server's active scenario as JSON")
    set_ = actions.add_parser("set", parents=[common], help="check a scenario file and make it the server's")
    set_.add_argument("file", help="a .toml or .json scenario file, or a ready-made scenario's name (flaky, ...)")
    check = actions.add_parser("check", help="validate a scenario file (no server needed)")
    check.add_argument("file", help="a .toml or .json scenario file, or a ready-made scenario's name")
    journal = sub.add_parser("journal", parents=[common], help="the API calls the server received, newest first")
    journal.add_argument(
        "--endpoint",
        choices=("create", "retrieve", "list", "cancel", "delete", "results"),
        help="only this endpoint",
    )
    journal.add_argument("--status", type=_status_filter, help="only this status (429) or class (4xx, 5xx)")
    journal.add_argument("--faults", action="store_true", help="only calls that got an injected fault")
    journal.add_argument("--limit", type=_positive, default=50, help="at most this many calls (default 50)")
    journal.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    status = sub.add_parser("status", parents=[common], help="the clock and every batch with its counts, as a table")
    status.add_argument("--status", dest="batch_status", choices=("in_progress", "canceling", "ended"))
    status.add_argument(
        "--limit", type=_positive, default=50, help="at most this many batches, newest first (default 50)"
    )
    status.add_argument("--json", action="store_true", help="the answer as JSON instead of a table")


def _status_filter(text: str) -> str:
    if re.fullmatch(r"[1-5][0-9][0-9]|[1-5]xx", text) is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a status such as 429 or a class such as 4xx")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def _server_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a URL such as http://127.0.0.1:8000")
    return text


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "scenario" and args.action == "check":
            scenario = _load(args.file)
            print(f"{args.file}: ok ({_describe(scenario)})")
            return 0
        return _COMMANDS[args.command](_Server(args.url, args.admin_token), args)
    except CommandError as exc:
        print(f"batchsim: {printable(str(exc))}", file=sys.stderr)
        return exc.status


def _load(path: str) -> Scenario:
    try:
        return Scenario.load(path)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (ScenarioError, OSError, ValueError) as exc:
        text = str(exc)  # a file's problems already start with its path
        raise CommandError(text if text.startswith(f"{path}:") else f"{path}: {text}") from None


def _describe(scenario: Scenario) -> str:
    t = scenario.timing
    parts = [f"seed {scenario.seed}", f"{t.per_request:g} s per request, {t.concurrency} at a time"]
    for name, items in (("rule", scenario.rules), ("fault", scenario.faults)):
        if items:
            parts.append(f"{len(items)} {name}{'s' if len(items) != 1 else ''}")
    return ", ".join(parts)


class _Server:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, data: Any = None, query: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/_batchsim/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "", False)})
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(url, body, method=method)
        request.add_header("accept", "application/json")
        if body is not None:
            request.add_header("content-type", "application/json")
        if self.token:
            request.add_header("x-batchsim-admin-token", self.token)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise CommandError(self._refusal(exc)) from None
        except urllib.error.URLError as exc:
            reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
            raise CommandError(f"cannot reach {self.url} ({reason}): is `batchsim serve` running there?") from None
        except (TimeoutError, ConnectionError) as exc:
            raise CommandError(f"cannot reach {self.url} ({exc}): is `batchsim serve` running there?") from None
        except ValueError:
            raise CommandError(f"{self.url} did not answer with JSON: is it a batchsim server?") from None

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(exc.read())["error"]
            message = f"{exc.code} {error['type']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = f"{exc.code} {exc.reason} from {self.url}"
            if exc.code == 404:
                message += " (is it a batchsim server?)"
        if exc.code == 401:
            message += " (give it with --admin-token or BATCHSIM_ADMIN_TOKEN)"
        return message


def _advance(server: _Server, args: argparse.Namespace) -> int:
    seconds = parse_duration(args.duration)
    clock = server.call("POST", "clock/advance", {"seconds": seconds})
    print(printable(f"clock: {clock['now']} ({clock['kind']})"))
    return 0


def _reset(server: _Server, args: argparse.Namespace) -> int:
    answer = server.call("POST", "reset")
    print(printable(f"reset: no batches, the starting scenario, clock at {answer['now']}"))
    return 0


def _scenario(server: _Server, args: argparse.Namespace) -> int:
    if args.action == "show":
        print(json.dumps(server.call("GET", "scenario"), indent=2))
        return 0
    scenario = _load(args.file)
    data = scenario.to_dict()
    if isinstance(scenario.canned, str):
        # The server reads files only from its own data folder: send the lines themselves.
        data["canned"] = _canned_lines(scenario.canned)
    server.call("PUT", "scenario", data)
    print(f"scenario set from {args.file} ({_describe(scenario)})")
    return 0


def _canned_lines(path: str) -> list[Any]:
    """The results lines of a local canned file, to send inline."""
    try:
        with open(path, "rb") as source:
            lines = [json.loads(line) for line in source if line.strip()]
    except OSError as exc:
        raise CommandError(f"canned file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CommandError(f"canned file {path}: not JSON lines ({exc})") from None
    if len(lines) > MAX_CANNED_LINES:
        raise CommandError(
            f"canned file {path}: {len(lines)} lines, more than the {MAX_CANNED_LINES} a scenario can carry inline; "
            "put it in the server's data folder (batchsim serve --data-dir) and name it there"
        )
    return lines


def _journal(server: _Server, args: argparse.Namespace) -> int:
    query = {"endpoint": args.endpoint, "status": args.status, "fault": "1" if args.faults else None}
    answer = server.call("GET", "journal/recent", query={**query, "limit": args.limit})
    calls = answer["data"]
    if args.json:
        for call in calls:
            print(json.dumps(call))
        return 0
    rows = [
        [c["time"] or "", c["method"], c["path"], str(c["status"]), c["endpoint"], c["key"] or "", c["fault"] or ""]
        for c in calls
    ]
    _table(["time", "method", "path", "status", "endpoint", "key", "fault"], rows)
    shown = f"newest {len(calls)} of {answer['total']}" if answer["total"] > len(calls) else str(len(calls))
    print(f"{shown} call(s)")
    return 0


def _status(server: _Server, args: argparse.Namespace) -> int:
    clock = server.call("GET", "clock")
    page = server.call("GET", "batches", query={"status": args.batch_status, "limit": args.limit})
    if args.json:
        print(json.dumps({"clock": clock, **page}, indent=2))
        return 0
    print(printable(f"clock: {clock['now']} ({clock['kind']})"))
    counts = ("processing", "succeeded", "errored", "canceled", "expired")
    rows = [
        [b["id"], b["key"], b["status"], str(b["requests"])]
        + [str(b["request_counts"][k]) for k in counts]
        + [b["created_at"], b["ended_at"] or ""]
        for b in page["data"]
    ]
    _table(["batch", "key", "status", "requests", *counts, "created", "ended"], rows)
    by_status = ", ".join(f"{n} {s}" for s, n in page["by_status"].items())
    more = f", newest {len(rows)} shown" if page["total"] > len(rows) else ""
    print(printable(f"{page['total']} batch(es){more}: {by_status}"))
    return 0


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Print a table; every cell (a path, a key's tail: what a client sent) has its control
    characters escaped, so the table is what the terminal shows."""
    rows = [[printable(str(cell)) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


_COMMANDS = {"advance": _advance, "reset": _reset, "scenario": _scenario, "journal": _journal, "status": _status}
