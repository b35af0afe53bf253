"""``batchsim drift``: does the emulator still answer as the real API does?

One small batch (and the calls around it) goes to the upstream and to a local emulator
(in-process, or a running one with ``--local URL``), for one provider at a time (``--provider``:
each has its script, :class:`AnthropicRun` here, :mod:`.drift_openai`, :mod:`.drift_gemini`). Both
are followed to the end through the same steps, each a raw HTTP call the SDK would make or could
meet: create, retrieve, the wrong-state calls, results, list, delete, and calls with an unknown
id, bad input and no key. What the SDK would see is compared: the status, the request-id and
``content-type`` headers, and the *shape* of each JSON body and results line (every field's path
and type, and the value of enum fields). Values that are meant to differ (ids, timestamps, text,
token counts) are never compared.

The upstream batch is never left running: past ``--max-wait`` it is canceled, and once ended
it is cleaned up (deleted, and the files drift uploaded too), whatever happened in between (an
error, Ctrl-C).

Against a fast upstream (``batchsim serve --clock scaled:3600``) a batch may end before the
in-progress steps reach it: a step is compared only while both batches are still running, and a
delete meant to be refused ("before the end") that deleted an ended batch is followed by a new
batch. The upstream is not trusted: an answer drift cannot read (bad gzip, results lines that
are not JSON, JSON nested too deep) is a difference, never a traceback; an answer is read up to
:data:`MAX_ANSWER` bytes and for ``--timeout`` seconds; an id is used in a path only if it is one
(:data:`BATCH_ID`); everything printed has its control characters escaped.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2
import orjson

from .text import printable
from .upstreams import ANTHROPIC, Upstream

__all__ = ["AnthropicRun", "Difference", "Observation", "Run", "Target", "compare", "probe_requests", "shape"]

PREFIX = "/v1/messages/batches"
VERSION = "2023-06-01"
UNKNOWN_ID = "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"
# Fields whose value (not only its type) is part of Anthropic's contract (each provider has its own).
ENUM_FIELDS = ANTHROPIC.enum_fields
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""What a batch id must be (matched whole) before drift puts it in a URL with the API key."""
MAX_DEPTH = 64
"""JSON nested deeper is compared as "nested deeper than 64 levels" below that depth."""
MAX_ANSWER = 16 * 1024 * 1024
"""The most of one answer drift reads (decoded): the probe's answers are a few kilobytes."""


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


def _kind(value: Any, key: str | None, enums: frozenset[str]) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return f"integer {value}" if key in enums else "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return f"string {value!r}" if key in enums else "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(
    value: Any,
    path: str = "$",
    key: str | None = None,
    into: dict[str, set[str]] | None = None,
    depth: int = 0,
    enums: frozenset[str] = ENUM_FIELDS,
) -> dict[str, set[str]]:
    """Every field path of a JSON value with the kinds seen there (``"[]"`` stands for any item),
    down to :data:`MAX_DEPTH` levels; the value of ``enums`` fields (strings and integers) counts
    as part of their kind."""
    out: dict[str, set[str]] = {} if into is None else into
    if depth >= MAX_DEPTH:
        out.setdefault(path, set()).add(f"nested deeper than {MAX_DEPTH} levels")
        return out
    out.setdefault(path, set()).add(_kind(value, key, enums))
    if isinstance(value, dict):
        for k, v in value.items():
            shape(v, f"{path}.{k}", k, out, depth + 1, enums)
    elif isinstance(value, list):
        for item in value:
            shape(item, f"{path}[]", key, out, depth + 1, enums)
    return out


@dataclass
class Observation:
    """What one call answered, as the SDK sees it. ``lines`` reads the body as JSON lines whatever
    its media type (OpenAI's file content is ``application/octet-stream``)."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    lines: bool = False

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def view(self, api: Upstream = ANTHROPIC) -> dict[str, str]:
        """The comparable facts: status, header names (and the media type), body shape."""
        facts: dict[str, str] = {"status": "no answer" if self.status is None else str(self.status)}
        names = [api.request_id_header] if api.request_id_header else []
        for name in (*names, "content-type"):
            value = self.headers.get(name)
            if name == "content-type" and value is not None:
                facts[f"header {name}"] = value.split(";")[0].strip()
            else:
                facts[f"header {name}"] = "present" if value is not None else "absent"
        media = self.headers.get("content-type", "")
        if (self.lines and self.status == 200) or "jsonl" in media or "x-ndjson" in media or "binary" in media:
            lines, unreadable = [], 0
            for raw in self.body.splitlines():
                if raw.strip():
                    try:
                        lines.append(orjson.loads(raw))
                    except orjson.JSONDecodeError:
                        unreadable += 1
            key = api.request_key
            by_id = {str(line.get(key)): line for line in lines if isinstance(line, dict)}
            facts["lines"] = str(len(lines))
            if unreadable:
                facts["lines that are not JSON"] = str(unreadable)
            for custom_id, line in sorted(by_id.items()):
                for path, kinds in shape(line, f"line[{custom_id}]", enums=api.enum_fields).items():
                    facts[path] = " | ".join(sorted(kinds))
        elif self.body:
            data = self.json()
            if data is None:
                facts["body"] = "not JSON"
            else:
                for path, kinds in shape(data, enums=api.enum_fields).items():
                    facts[path] = " | ".join(sorted(kinds))
        return facts


@dataclass(frozen=True)
class Difference:
    step: str
    where: str
    upstream: str
    local: str


def compare(step: str, upstream: Observation, local: Observation, api: Upstream = ANTHROPIC) -> list[Difference]:
    a, b = upstream.view(api), local.view(api)
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
    wrong-state and bad-input calls, whose first status is what is compared: the SDK retries a 409).
    An answer is read up to :data:`MAX_ANSWER` bytes and for at most ``timeout`` seconds."""

    def __init__(
        self,
        name: str,
        client: httpx2.Client,
        api_key: str,
        *,
        api: Upstream = ANTHROPIC,
        advance: Callable[[float], None] | None = None,
        poll: float = 10.0,
        timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.client = client
        self.api_key = api_key
        self.api = api
        self.advance = advance
        self.poll = poll
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        content_type: str = "application/json",
        key: bool = True,
        retries: int = 4,
        lines: bool = False,
    ) -> Observation:
        headers = self.api.headers()
        if key:
            headers.update(self.api.auth(self.api_key))
        if body is not None:
            content = orjson.dumps(body)
        if content is not None or method == "POST":
            headers["content-type"] = content_type
        for attempt in range(retries + 1):
            try:
                observed = self._send(method, path, headers, content)
            except httpx2.TransportError as exc:
                if attempt == retries:
                    return Observation(None, error=f"{type(exc).__name__}: {exc}")
                time.sleep(_backoff(attempt))
                continue
            except httpx2.HTTPError as exc:  # an answer that cannot be read (bad gzip, ...): no retry
                return Observation(None, error=f"{type(exc).__name__}: {exc}")
            observed.lines = lines
            if (
                observed.status not in _RETRY_STATUSES
                or observed.headers.get("x-should-retry") == "false"
                or attempt == retries
            ):
                return observed
            time.sleep(_retry_after(observed.headers, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, headers: dict[str, str], content: bytes | None) -> Observation:
        """One exchange, its answer read within the bounds (beyond them: no answer, and why)."""
        deadline = time.monotonic() + self.timeout
        request = self.client.build_request(method, path, headers=headers, content=content)
        response = self.client.send(request, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER:
                    return Observation(None, error=f"an answer of more than {MAX_ANSWER} bytes")
                if time.monotonic() > deadline:
                    return Observation(None, error=f"an answer still coming after {self.timeout:g} s")
                chunks.append(chunk)
        finally:
            response.close()
        answer_headers = {k.lower(): v for k, v in response.headers.items()}
        return Observation(response.status_code, answer_headers, b"".join(chunks))

    def wait(self, path: str, ended: Callable[[Any], bool], max_wait: float) -> Observation:
        """Poll ``path`` until its batch has ended (a virtual clock is moved instead of waiting);
        the last answer, which may still show it running when ``max_wait`` ran out."""
        deadline = time.monotonic() + max_wait
        while True:
            seen = self.call("GET", path)
            if seen.status != 200 or ended(seen.json()):
                return seen
            if time.monotonic() >= deadline:
                return seen
            if self.advance is not None:
                self.advance(60.0)
            else:
                time.sleep(self.poll)


def _backoff(attempt: int) -> float:
    return float(min(8.0, 0.5 * 2.0**attempt))


def _retry_after(headers: dict[str, str], attempt: int) -> float:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        with contextlib.suppress(ValueError, TypeError):
            value = float(headers.get(name, ""))
            if 0 <= value * scale <= 60:
                return value * scale
    return _backoff(attempt)


def multipart(fields: list[tuple[str, str | tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body as the SDKs send an upload: plain fields and files (name,
    bytes, media type); and its content type."""
    boundary = "batchsim-drift-9c1e4f"
    parts = []
    for name, value in fields:
        if isinstance(value, str):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
            continue
        filename, data, media = value
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {media}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def local_target(url: str | None, poll: float, api: Upstream = ANTHROPIC) -> Iterator[Target]:
    """The emulator side: one in-process (virtual clock, moved as needed) or the one at ``url``."""
    if url is None:
        from .._emulator import IN_PROCESS_URL, Emulator
        from .._http.transport import SyncASGITransport

        sim = Emulator()
        client = httpx2.Client(transport=SyncASGITransport(sim.app), base_url=IN_PROCESS_URL)

        def advance(seconds: float) -> None:
            sim.advance(seconds)

        with client:
            yield Target("local", client, "batchsim-drift", api=api, advance=advance)
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
        yield Target("local", client, key, api=api, advance=advance_server)


# -- the run --------------------------------------------------------------------------------------


SIDES = ("upstream", "local")


@dataclass
class Run:
    """The steps of one comparison and what each side answered: the machinery every provider's
    script shares (:meth:`steps` and :meth:`clean_up` are the script's)."""

    upstream: Target
    local: Target
    model: str
    max_wait: float
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ids: dict[str, str | None] = field(default_factory=lambda: {"upstream": None, "local": None})
    deleted: dict[str, bool] = field(default_factory=lambda: {"upstream": False, "local": False})

    api: ClassVar[Upstream] = ANTHROPIC
    unknown_id: ClassVar[str] = UNKNOWN_ID
    """A batch id no key has (in a path when a side has no batch)."""

    def target(self, side: str) -> Target:
        return self.upstream if side == "upstream" else self.local

    def both(
        self, step: str, method: str, path: Callable[[str], str] | str, *, compare: bool = True, **kwargs: Any
    ) -> tuple[Observation, Observation]:
        """One call on each side (``path`` of the side's batch id); with ``compare``, their
        differences are kept."""
        return self.each(
            step,
            method,
            lambda side: path(self.ids[side] or self.unknown_id) if callable(path) else path,
            compare=compare,
            **kwargs,
        )

    def each(
        self, step: str, method: str, path: Callable[[str], str], *, compare: bool = True, **kwargs: Any
    ) -> tuple[Observation, Observation]:
        """One call on each side, ``path`` given the side's name."""
        up, local = (self.target(side).call(method, path(side), **kwargs) for side in SIDES)
        if compare:
            self.compare(step, up, local)
        return up, local

    def compare(self, step: str, upstream: Observation, local: Observation) -> None:
        self.differences.extend(compare(step, upstream, local, self.api))

    def kept(
        self,
        what: str,
        seen: dict[str, Observation],
        into: dict[str, str | None],
        *,
        member: str = "id",
        action: str = "create",
        prefix: str = "",
    ) -> None:
        """Keep the id (``member`` of each side's answer, without ``prefix``: see
        :func:`created_id`) of the ``what`` each side made, as soon as it is known (whatever goes
        wrong next, it is cleaned up); a side whose ``action`` failed, or whose id is not one, is
        a :class:`DriftError`."""
        problems = []
        for side, answer in seen.items():
            made = created_id(answer, member)
            if made is not None and made.startswith(prefix) and BATCH_ID.fullmatch(made[len(prefix) :]):
                into[side] = made[len(prefix) :]
            elif made is not None:
                problems.append(
                    f"the {side} answered a {what} id drift will not put in a URL: {made[:200]!r}"
                    f" (delete that {what} yourself)"
                )
            else:
                problems.append(f"the {side} {action} failed: {describe(answer)}")
        if problems:
            raise DriftError("; ".join(problems))

    def _skipped(self, sides: list[str], when: str, what: str) -> None:
        self.notes.append(f"the {' and '.join(sides)} batch had ended {when}: {what} not compared")

    def _id(self, side: str) -> str:
        return self.ids[side] or self.unknown_id

    def steps(self) -> None:
        raise NotImplementedError

    def clean_up(self) -> None:
        """Leave nothing behind on the upstream (called whatever happened)."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """What ``--json`` says the run made (``batches``: the batch ids of each side)."""
        return dict(self.ids)


@dataclass
class AnthropicRun(Run):
    """Anthropic's script: the probe batch through every batch call (the wrong-state ones too),
    and the calls around it: token counting, the model catalogue, a file uploaded, read, refused
    for download and deleted."""

    files: dict[str, str | None] = field(default_factory=lambda: {"upstream": None, "local": None})
    files_deleted: bool = False

    def create(self, sides: tuple[str, ...] = SIDES) -> dict[str, Observation]:
        """Create the probe batch on ``sides``."""
        body = {"requests": probe_requests(self.model)}
        seen = {side: self.target(side).call("POST", PREFIX, body=body) for side in sides}
        self.kept("batch", seen, self.ids)
        return seen

    def steps(self) -> None:
        created = self.create()
        self.compare("create", created["upstream"], created["local"])
        self.in_progress_steps()
        self.around_steps()
        upstream_end = self.upstream.wait(_by_id(self._id("upstream")), _ended, self.max_wait)
        if upstream_end.status != 200:
            raise DriftError(f"the upstream batch {self.ids['upstream']} cannot be retrieved: {describe(upstream_end)}")
        if not _ended(upstream_end.json()):
            self.notes.append(f"the upstream batch did not end within {self.max_wait:g} s: both were canceled")
            self.both("cancel", "POST", lambda b: f"{PREFIX}/{b}/cancel")
            self.upstream.wait(_by_id(self._id("upstream")), _ended, max(self.max_wait, 600.0))
        local_end = self.local.wait(_by_id(self._id("local")), _ended, 3600.0)
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

    def around_steps(self) -> None:
        """The calls a batch job makes around its batches (while the batches run): token
        counting, the model catalogue, and a small file through the Files API."""
        user = [{"role": "user", "content": "Reply with the word OK."}]
        self.both("count tokens", "POST", "/v1/messages/count_tokens", body={"model": self.model, "messages": user})
        invalid = {"model": self.model, "messages": []}
        self.both(
            "count tokens with no messages (bad input)", "POST", "/v1/messages/count_tokens", body=invalid, retries=0
        )
        self.both("models list", "GET", "/v1/models?limit=2")
        self.both("models retrieve", "GET", f"/v1/models/{self.model}")
        self.both("models retrieve an unknown id", "GET", "/v1/models/claude-no-such-model-0")
        content, media = multipart([("file", ("drift.txt", b"batchsim drift\n", "text/plain"))])
        seen = dict(
            zip(
                SIDES,
                self.both("files upload", "POST", "/v1/files", content=content, content_type=media),
                strict=True,
            )
        )
        self.kept("file", seen, self.files, action="file upload")

        def file(path: str) -> Callable[[str], str]:
            return lambda side: path.format(self.files[side] or UNKNOWN_FILE)

        self.each("files retrieve", "GET", file("/v1/files/{}"))
        self.each("files download (refused)", "GET", file("/v1/files/{}/content"), retries=0)
        deleted = self.each("files delete", "DELETE", file("/v1/files/{}"))
        self.files_deleted = deleted[0].status == 200
        self.each("files retrieve after delete", "GET", file("/v1/files/{}"))

    def clean_up(self) -> None:
        """Never leave the upstream batch running: cancel it, wait for the end, delete it (and
        the uploaded file)."""
        file_id = self.files.get("upstream")
        if file_id is not None and not self.files_deleted:
            gone = self.upstream.call("DELETE", f"/v1/files/{file_id}").status in (200, 404)
            if not gone:
                message = f"the upstream file {file_id} could not be deleted; delete it later"
                print(f"batchsim drift: {message}", file=sys.stderr)
        batch_id = self.ids["upstream"]
        if batch_id is None or self.deleted["upstream"]:
            return
        seen = self.upstream.call("GET", f"{PREFIX}/{batch_id}")
        data = seen.json()
        if seen.status == 200 and not _ended(data):
            self.upstream.call("POST", f"{PREFIX}/{batch_id}/cancel")
            seen = self.upstream.wait(_by_id(batch_id), _ended, max(self.max_wait, 600.0))
            data = seen.json()
        ended = seen.status == 200 and _ended(data)
        if ended and self.upstream.call("DELETE", f"{PREFIX}/{batch_id}").status == 200:
            return
        if seen.status != 404:
            message = f"the upstream batch {batch_id} could not be deleted; delete it later"
            print(f"batchsim drift: {message}", file=sys.stderr)


UNKNOWN_FILE = "file_011CNha8iCJcU1wXNR6q4V8w"


def _ended(batch: Any) -> bool:
    """Whether a batch object says it has ended (by either field: the other may have drifted)."""
    return isinstance(batch, dict) and (batch.get("processing_status") == "ended" or bool(batch.get("ended_at")))


def _by_id(batch_id: str) -> str:
    return f"{PREFIX}/{batch_id}"


def describe(seen: Observation) -> str:
    """Why a call failed, in a few words: the error without an answer, else status and body."""
    if seen.status is None:
        return f"no answer ({seen.error})"
    return f"{seen.status} {seen.body[:300].decode('utf-8', 'replace')}"


_ID_MEMBER = re.compile(rb'\s*:\s*"((?:[^"\\]|\\.)*)"')


def created_id(seen: Observation, member: str = "id") -> str | None:
    """The ``member`` (a batch's or a file's id) of a successful create's answer; for JSON too
    deep to parse, that member of its top level, found by scanning (what it names must still be
    cleaned up)."""
    if seen.status != 200:
        return None
    data = seen.json()
    if isinstance(data, dict):
        made = data.get(member)
        return made if isinstance(made, str) else None
    key = orjson.dumps(member)
    body, depth, i = seen.body, 0, 0
    while i < len(body):
        c = body[i]
        if c == 0x22:  # a string: skip it, noting a top-level key named ``member``
            end = i + 1
            while end < len(body) and body[end] != 0x22:
                end += 2 if body[end] == 0x5C else 1
            if depth == 1 and body[i : end + 1] == key:
                found = _ID_MEMBER.match(body, end + 1)
                if found is not None:
                    with contextlib.suppress(ValueError):
                        value = orjson.loads(b'"' + found.group(1) + b'"')
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
