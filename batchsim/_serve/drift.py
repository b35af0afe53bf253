"""``batchsim drift``: does the emulator still answer as the real API does?

One small batch (a success, a request with invalid params, a forced tool use) goes to the
upstream and to a local emulator (in-process, or a running one with ``--local URL``). Both are
followed to the end through the same steps, each a raw HTTP call the SDK would make or could
meet: create, retrieve, the wrong-state calls of the README's table, results, list, delete, and
calls with an unknown id, a bad ``limit`` and no key. What the SDK would see is compared: the
status, the ``request-id`` and ``content-type`` headers, and the *shape* of each JSON body and
results line (every field's path and type, and the value of enum fields). Values that are
meant to differ (ids, timestamps, text, token counts) are never compared.

The upstream batch is never left running: past ``--max-wait`` it is canceled, and once ended
it is deleted, whatever happened in between (an error, Ctrl-C).

Against a fast upstream (``batchsim serve --clock scaled:3600``) a batch may end before the
in-progress steps reach it: a step is compared only while both batches are still running, and a
delete meant to be refused ("before the end") that deleted an ended batch is followed by a new
batch. The upstream is not trusted: an answer drift cannot read (bad gzip, results lines that
are not JSON, JSON nested too deep) is a difference, never a traceback; an id is used in a path
only if it is one (:data:`BATCH_ID`); everything printed has its control characters escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from .text import printable

__all__ = ["Difference", "Observation", "compare", "main", "probe_requests", "shape"]

PREFIX = "/v1/messages/batches"
VERSION = "2023-06-01"
UNKNOWN_ID = "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"
# Fields whose value (not only its type) is part of the contract.
ENUM_FIELDS = frozenset({"type", "processing_status", "stop_reason", "role", "service_tier"})
HEADERS = ("request-id", "content-type")
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What a batch id must be (matched whole) before drift puts it in a URL with the API key."""
MAX_DEPTH = 64
"""JSON nested deeper is compared as "nested deeper than 64 levels" below that depth."""


def probe_requests(model: str) -> list[dict[str, Any]]:
    """The probe batch: tiny and cheap, one success, one invalid-params error, one tool use."""
    user = [{"role": "user", "content": "Reply with the word OK."}]
    tool = {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    return [
        {"custom_id": "drift-ok", "params": {"model": model, "max_tokens": 32, "messages": user}},
        {"custom_id": "drift-invalid", "params": {"model": model, "messages": user}},  # no max_tokens
        {
            "custom_id": "drift-tool",
            "params": {
                "model": model,
                "max_tokens": 128,
                "tools": [tool],
                "tool_choice": {"type": "tool", "name": "get_weather"},
                "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            },
        },
    ]


# -- shapes ---------------------------------------------------------------------------------------


def _kind(value: Any, key: str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return f"string {value!r}" if key in ENUM_FIELDS else "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(
    value: Any, path: str = "$", key: str | None = None, into: dict[str, set[str]] | None = None, depth: int = 0
) -> dict[str, set[str]]:
    """Every field path of a JSON value with the kinds seen there (``"[]"`` stands for any item),
    down to :data:`MAX_DEPTH` levels."""
    out: dict[str, set[str]] = {} if into is None else into
    if depth >= MAX_DEPTH:
        out.setdefault(path, set()).add(f"nested deeper than {MAX_DEPTH} levels")
        return out
    out.setdefault(path, set()).add(_kind(value, key))
    if isinstance(value, dict):
        for k, v in value.items():
            shape(v, f"{path}.{k}", k, out, depth + 1)
    elif isinstance(value, list):
        for item in value:
            shape(item, f"{path}[]", key, out, depth + 1)
    return out


@dataclass
class Observation:
    """What one call answered, as the SDK sees it."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def view(self) -> dict[str, str]:
        """The comparable facts: status, header names (and the media type), body shape."""
        facts: dict[str, str] = {"status": "no answer" if self.status is None else str(self.status)}
        for name in HEADERS:
            value = self.headers.get(name)
            if name == "content-type" and value is not None:
                facts[f"header {name}"] = value.split(";")[0].strip()
            else:
                facts[f"header {name}"] = "present" if value is not None else "absent"
        media = self.headers.get("content-type", "")
        if "jsonl" in media or "x-ndjson" in media or "binary" in media:
            lines, unreadable = [], 0
            for raw in self.body.splitlines():
                if raw.strip():
                    try:
                        lines.append(orjson.loads(raw))
                    except orjson.JSONDecodeError:
                        unreadable += 1
            by_id = {str(line.get("custom_id")): line for line in lines if isinstance(line, dict)}
            facts["lines"] = str(len(lines))
            if unreadable:
                facts["lines that are not JSON"] = str(unreadable)
            for custom_id, line in sorted(by_id.items()):
                for path, kinds in shape(line, f"line[{custom_id}]").items():
                    facts[path] = " | ".join(sorted(kinds))
        elif self.body:
            data = self.json()
            if data is None:
                facts["body"] = "not JSON"
            else:
                for path, kinds in shape(data).items():
                    facts[path] = " | ".join(sorted(kinds))
        return facts


@dataclass(frozen=True)
class Difference:
    step: str
    where: str
    upstream: str
    local: str


def compare(step: str, upstream: Observation, local: Observation) -> list[Difference]:
    a, b = upstream.view(), local.view()
    return [
        Difference(step, where, a.get(where, "missing"), b.get(where, "missing"))
        for where in sorted(set(a) | set(b), key=_order)
        if a.get(where) != b.get(where)
    ]


def _order(where: str) -> tuple[int, str]:
    return (0 if where == "status" else 1 if where.startswith("header") else 2, where)


# -- targets --------------------------------------------------------------------------------------


class Target:
    """One side of the comparison: raw HTTP calls with the SDK's headers and retries (none for the
    wrong-state and bad-input calls, whose first status is what is compared: the SDK retries a 409)."""

    def __init__(
        self,
        name: str,
        client: httpx2.Client,
        api_key: str,
        *,
        advance: Callable[[float], None] | None = None,
        poll: float = 10.0,
    ) -> None:
        self.name = name
        self.client = client
        self.api_key = api_key
        self.advance = advance
        self.poll = poll

    def call(self, method: str, path: str, *, body: Any = None, key: bool = True, retries: int = 4) -> Observation:
        headers = {"anthropic-version": VERSION, "accept": "application/json"}
        if key:
            headers["x-api-key"] = self.api_key
        content = orjson.dumps(body) if body is not None else None
        if content is not None or method == "POST":
            headers["content-type"] = "application/json"
        for attempt in range(retries + 1):
            try:
                response = self.client.request(method, path, headers=headers, content=content)
            except httpx2.TransportError as exc:
                if attempt == retries:
                    return Observation(None, error=f"{type(exc).__name__}: {exc}")
                time.sleep(_backoff(attempt))
                continue
            except httpx2.HTTPError as exc:  # an answer that cannot be read (bad gzip, ...): no retry
                return Observation(None, error=f"{type(exc).__name__}: {exc}")
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
            observed = Observation(response.status_code, answer_headers, response.content)
            if (
                response.status_code not in _RETRY_STATUSES
                or response.headers.get("x-should-retry") == "false"
                or attempt == retries
            ):
                return observed
            time.sleep(_retry_after(response.headers, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, batch_id: str, max_wait: float) -> Observation:
        """Poll until the batch has ended (a virtual clock is moved instead of waiting); the last
        retrieve, which may still show it running when ``max_wait`` ran out."""
        deadline = time.monotonic() + max_wait
        while True:
            seen = self.call("GET", f"{PREFIX}/{batch_id}")
            data = seen.json()
            if seen.status != 200 or _ended(data):
                return seen
            if time.monotonic() >= deadline:
                return seen
            if self.advance is not None:
                self.advance(60.0)
            else:
                time.sleep(self.poll)


def _ended(batch: Any) -> bool:
    """Whether a batch object says it has ended (by either field: the other may have drifted)."""
    return isinstance(batch, dict) and (batch.get("processing_status") == "ended" or bool(batch.get("ended_at")))


def _backoff(attempt: int) -> float:
    return float(min(8.0, 0.5 * 2.0**attempt))


def _retry_after(headers: httpx2.Headers, attempt: int) -> float:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        with contextlib.suppress(ValueError, TypeError):
            value = float(headers.get(name, ""))
            if 0 <= value * scale <= 60:
                return value * scale
    return _backoff(attempt)


@contextlib.contextmanager
def local_target(url: str | None, poll: float) -> Iterator[Target]:
    """The emulator side: one in-process (virtual clock, moved as needed) or the one at ``url``."""
    if url is None:
        from .._emulator import IN_PROCESS_URL, Emulator
        from .._http.transport import SyncASGITransport

        sim = Emulator()
        client = httpx2.Client(transport=SyncASGITransport(sim.app), base_url=IN_PROCESS_URL)

        def advance(seconds: float) -> None:
            sim.advance(seconds)

        with client:
            yield Target("local", client, "batchsim-drift", advance=advance)
        return
    with httpx2.Client(base_url=url, timeout=60.0) as client:

        def advance_server(seconds: float) -> None:
            # A virtual clock moves on request; any other clock runs by itself.
            try:
                moved = client.post("/_batchsim/clock/advance", json={"seconds": seconds}).status_code == 200
            except httpx2.HTTPError:
                moved = False
            if not moved:
                time.sleep(min(poll, 1.0))

        key = os.environ.get("BATCHSIM_DRIFT_LOCAL_KEY", "batchsim-drift")
        yield Target("local", client, key, advance=advance_server)


# -- the run --------------------------------------------------------------------------------------


SIDES = ("upstream", "local")


@dataclass
class Run:
    """The steps of one comparison and what each side answered."""

    upstream: Target
    local: Target
    model: str
    max_wait: float
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ids: dict[str, str | None] = field(default_factory=lambda: {"upstream": None, "local": None})
    deleted: dict[str, bool] = field(default_factory=lambda: {"upstream": False, "local": False})

    def target(self, side: str) -> Target:
        return self.upstream if side == "upstream" else self.local

    def both(
        self, step: str, method: str, path: Callable[[str], str] | str, *, compare: bool = True, **kwargs: Any
    ) -> tuple[Observation, Observation]:
        """One call on each side; with ``compare``, their differences are kept."""
        seen = []
        for side in SIDES:
            where = path(self.ids[side] or UNKNOWN_ID) if callable(path) else path
            seen.append(self.target(side).call(method, where, **kwargs))
        if compare:
            self.compare(step, seen[0], seen[1])
        return seen[0], seen[1]

    def compare(self, step: str, upstream: Observation, local: Observation) -> None:
        self.differences.extend(compare(step, upstream, local))

    def create(self, sides: tuple[str, ...] = SIDES) -> dict[str, Observation]:
        """Create the probe batch on ``sides``. Each id is kept as soon as it is known (whatever
        goes wrong next, that batch is cleaned up); a side whose create failed, or whose id is
        not one, is a :class:`DriftError`."""
        body = {"requests": probe_requests(self.model)}
        seen = {side: self.target(side).call("POST", PREFIX, body=body) for side in sides}
        problems = []
        for side, answer in seen.items():
            batch_id = _created_id(answer)
            if batch_id is not None and BATCH_ID.fullmatch(batch_id):
                self.ids[side] = batch_id
            elif batch_id is not None:
                problems.append(
                    f"the {side} answered a batch id drift will not put in a URL: {batch_id[:200]!r}"
                    " (delete that batch yourself)"
                )
            else:
                problems.append(f"the {side} create failed: {_describe(answer)}")
        if problems:
            raise DriftError("; ".join(problems))
        return seen

    def steps(self) -> None:
        created = self.create()
        self.compare("create", created["upstream"], created["local"])
        self.in_progress_steps()
        upstream_end = self.upstream.wait(self._id("upstream"), self.max_wait)
        if upstream_end.status != 200:
            raise DriftError(
                f"the upstream batch {self.ids['upstream']} cannot be retrieved: {_describe(upstream_end)}"
            )
        if not _ended(upstream_end.json()):
            self.notes.append(f"the upstream batch did not end within {self.max_wait:g} s: both were canceled")
            self.both("cancel", "POST", lambda b: f"{PREFIX}/{b}/cancel")
            self.upstream.wait(self._id("upstream"), max(self.max_wait, 600.0))
        local_end = self.local.wait(self._id("local"), 3600.0)
        upstream_end = self.upstream.call("GET", f"{PREFIX}/{self._id('upstream')}")
        self.compare("retrieve (ended)", upstream_end, local_end)
        self.both("results", "GET", lambda b: f"{PREFIX}/{b}/results")
        self.both("cancel after the end (wrong state)", "POST", lambda b: f"{PREFIX}/{b}/cancel", retries=0)
        self.both("list", "GET", f"{PREFIX}?limit=1")
        self.both("list with limit=0 (bad input)", "GET", f"{PREFIX}?limit=0", retries=0)
        self.both("list after an unknown id (bad input)", "GET", f"{PREFIX}?after_id={UNKNOWN_ID}", retries=0)
        self.both("retrieve an unknown id", "GET", f"{PREFIX}/{UNKNOWN_ID}")
        self.both("retrieve without a key", "GET", _by_id, key=False)
        up, local = self.both("delete", "DELETE", _by_id)
        self.deleted = {"upstream": up.status == 200, "local": local.status == 200}
        self.both("retrieve after delete", "GET", _by_id)

    def in_progress_steps(self) -> None:
        """Retrieve, delete and results while both batches run. Each is compared only if neither
        batch had ended when it was called: against a fast upstream a batch may end first. A
        "wrong-state" delete that deleted an ended batch is followed by a new batch on that side."""
        step = "retrieve (in progress)"
        up, local = self.both(step, "GET", _by_id, compare=False)
        ended = [side for side, seen in zip(SIDES, (up, local), strict=True) if _ended(seen.json())]
        if ended:
            self._skipped(ended, "by its first retrieve", "the in-progress steps were")
            return
        self.compare(step, up, local)
        step = "delete before the end (wrong state)"
        up, local = self.both(step, "DELETE", _by_id, compare=False, retries=0)
        gone = tuple(side for side, seen in zip(SIDES, (up, local), strict=True) if seen.status == 200)
        if gone:
            for side in gone:
                self.ids[side] = None  # deleted by the probe: nothing to clean up
            self._skipped(
                list(gone), "before the delete probe, which deleted it", f"{step!r} and the results probe were"
            )
            self.notes.append(f"a new batch was created on the {' and '.join(gone)} side to compare the rest")
            self.create(gone)
            return
        self.compare(step, up, local)
        step = "results before the end (wrong state)"
        up, local = self.both(step, "GET", lambda b: f"{PREFIX}/{b}/results", compare=False, retries=0)
        ended = [side for side, seen in zip(SIDES, (up, local), strict=True) if seen.status == 200]
        if ended:
            self._skipped(ended, "before the results probe", f"{step!r} was")
            return
        self.compare(step, up, local)

    def _skipped(self, sides: list[str], when: str, what: str) -> None:
        self.notes.append(f"the {' and '.join(sides)} batch had ended {when}: {what} not compared")

    def _id(self, side: str) -> str:
        return self.ids[side] or UNKNOWN_ID

    def clean_up(self) -> None:
        """Never leave the upstream batch running: cancel it, wait for the end, delete it."""
        batch_id = self.ids["upstream"]
        if batch_id is None or self.deleted["upstream"]:
            return
        seen = self.upstream.call("GET", f"{PREFIX}/{batch_id}")
        data = seen.json()
        if seen.status == 200 and not _ended(data):
            self.upstream.call("POST", f"{PREFIX}/{batch_id}/cancel")
            seen = self.upstream.wait(batch_id, max(self.max_wait, 600.0))
            data = seen.json()
        ended = seen.status == 200 and _ended(data)
        if ended and self.upstream.call("DELETE", f"{PREFIX}/{batch_id}").status == 200:
            return
        if seen.status != 404:
            message = f"the upstream batch {batch_id} could not be deleted; delete it later"
            print(f"batchsim drift: {message}", file=sys.stderr)


def _by_id(batch_id: str) -> str:
    return f"{PREFIX}/{batch_id}"


def _describe(seen: Observation) -> str:
    """Why a call failed, in a few words: the error without an answer, else status and body."""
    if seen.status is None:
        return f"no answer ({seen.error})"
    return f"{seen.status} {seen.body[:300].decode('utf-8', 'replace')}"


_ID_MEMBER = re.compile(rb'\s*:\s*"((?:[^"\\]|\\.)*)"')


def _created_id(seen: Observation) -> str | None:
    """The ``id`` of a successful create's batch object; for JSON too deep to parse, the ``id``
    member of its top level, found by scanning (that batch must still be cleaned up)."""
    if seen.status != 200:
        return None
    data = seen.json()
    if isinstance(data, dict):
        batch_id = data.get("id")
        return batch_id if isinstance(batch_id, str) else None
    body, depth, i = seen.body, 0, 0
    while i < len(body):
        c = body[i]
        if c == 0x22:  # a string: skip it, noting a top-level "id" key
            end = i + 1
            while end < len(body) and body[end] != 0x22:
                end += 2 if body[end] == 0x5C else 1
            if depth == 1 and body[i : end + 1] == b'"id"':
                member = _ID_MEMBER.match(body, end + 1)
                if member is not None:
                    with contextlib.suppress(ValueError):
                        value = orjson.loads(b'"' + member.group(1) + b'"')
                        return value if isinstance(value, str) else None
            i = end + 1
            continue
        depth += 1 if c in b"{[" else -1 if c in b"}]" else 0
        i += 1
    return None


class DriftError(Exception):
    """The comparison could not be run (the upstream refused the probe batch, ...)."""


def table(differences: list[Difference]) -> str:
    """The differences as a text table; every cell has its control characters escaped."""
    rows = [
        ("step", "where", "upstream", "local"),
        *((printable(d.step), printable(d.where), printable(d.upstream), printable(d.local)) for d in differences),
    ]
    widths = [min(60, max(len(row[i]) for row in rows)) for i in range(4)]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell[:60].ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def _url_problem(option: str, url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.port != 0:
            return None
    except ValueError:  # a port out of range, a broken IPv6 address
        pass
    return f"{option} must be an http(s) URL, got {printable(repr(url))}"


def main(args: argparse.Namespace) -> int:
    """Exit status: 0 no difference, 1 differences (an answer drift cannot read is one), 2 the
    comparison could not run (no key, a bad URL, the upstream unreachable or refusing the batch)."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        print("batchsim drift: set ANTHROPIC_API_KEY to the upstream's key", file=sys.stderr)
        return 2
    for option, url in (("--upstream", args.upstream), ("--local", args.local)):
        problem = None if url is None else _url_problem(option, url)
        if problem is not None:
            print(f"batchsim drift: {problem}", file=sys.stderr)
            return 2
    with (
        httpx2.Client(base_url=args.upstream.rstrip("/"), timeout=120.0) as http,
        local_target(args.local, args.poll) as local,
    ):
        run = Run(Target("upstream", http, key, poll=args.poll), local, args.model, args.max_wait)
        try:
            run.steps()
        except DriftError as exc:
            print(f"batchsim drift: {printable(str(exc))}", file=sys.stderr)
            return 2
        finally:
            run.clean_up()
    if args.json:
        report = {
            "upstream": args.upstream,
            "differences": [d.__dict__ for d in run.differences],
            "notes": run.notes,
            "batches": run.ids,
        }
        print(json.dumps(report, indent=2))  # ASCII only: every control character escaped
    else:
        for note in run.notes:
            print(f"note: {printable(note)}")
        if run.differences:
            print(f"{len(run.differences)} difference(s) between {printable(args.upstream)} and the emulator:\n")
            print(table(run.differences))
        else:
            print(f"no differences between {printable(args.upstream)} and the emulator")
    return 1 if run.differences else 0
