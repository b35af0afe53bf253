"""The control plane against a bare app, as a user's load generator sees it, and where its time goes.

Every route a polling client calls most, of every provider, measured side by side with a bare
Starlette route answering the very bytes batchsim answered (same uvicorn settings: event loop,
HTTP parser, logging; uvicorn's own protocol class): ``wrk -t1 -c32`` against each in turn,
interleaved rounds, every process left where the system puts it (no CPU pinning, as a user runs
it). Each figure is the median of the per-round ratios, with their spread.

* Anthropic: a message batch retrieve and a list (``limit=20`` of 10), the models list and a
  token count (against the bare app reading and parsing the same body);
* OpenAI: a batch retrieve (in progress); Gemini: a batch get.

Then a sampling profile (py-spy, when installed) of ``batchsim serve`` answering retrieves under
the same load: the functions most often on top of the stack, and the share of samples in
batchsim's own code. Last, what each guard (Host check, control-plane change check, journal,
body timeout) costs per request, measured in process with the guard on and off.
"""

from __future__ import annotations

import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from . import _common as c
from .bench_openai import BEARER, make_file, upload_and_create

TARGET = 0.9
_ANTHROPIC = ["x-api-key: bench-key", "anthropic-version: 2023-06-01"]
_GEMINI = ["x-goog-api-key: bench-key"]
_MESSAGES = [{"role": "user", "content": "Summarize the quarterly report in one sentence."}]
_ONE = orjson.dumps(
    {
        "requests": [
            {"custom_id": "one", "params": {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": _MESSAGES}}
        ]
    }
)
_COUNT = orjson.dumps({"model": "claude-sonnet-4-5", "messages": _MESSAGES})
_GEMINI_ONE = orjson.dumps(
    {"batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": "hi"}, "metadata": {"key": "a"}}]}}}}
)


def _call(
    method: str, url: str, headers: list[str], body: bytes | None = None, kind: str = "application/json"
) -> bytes:
    """One call with the standard library (setup only, never timed)."""
    request = urllib.request.Request(url, data=body, method=method)
    for header in headers:
        name, _, value = header.partition(": ")
        request.add_header(name, value)
    if body is not None:
        request.add_header("content-type", kind)
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


class _Route:
    """One measured route: batchsim's URL and headers, the bytes it answers, and the baseline's
    path on the bare app (``/b/NAME`` answering the same bytes, or ``/parse`` for a POST)."""

    def __init__(self, name: str, url: str, headers: list[str], body: bytes | None = None) -> None:
        self.name = name
        self.url = url
        self.headers = headers
        self.body = body
        self.answer = _call("POST" if body else "GET", url, headers, body)


def _routes(url: str) -> list[_Route]:
    anthropic = orjson.loads(_call("POST", f"{url}/v1/messages/batches", _ANTHROPIC, _ONE))["id"]
    for _ in range(9):
        _call("POST", f"{url}/v1/messages/batches", ["x-api-key: list-key", _ANTHROPIC[1]], _ONE)
    _call("POST", f"{url}/v1/messages/batches", ["x-api-key: list-key", _ANTHROPIC[1]], _ONE)
    openai = upload_and_create(url, make_file(1))["id"]
    gemini = orjson.loads(
        _call("POST", f"{url}/v1beta/models/gemini-2.5-flash:batchGenerateContent", _GEMINI, _GEMINI_ONE)
    )
    c.http_json("POST", f"{url}/_batchsim/clock/advance", orjson.dumps({"seconds": 10.5}))  # OpenAI's validated
    return [
        _Route("Anthropic retrieve", f"{url}/v1/messages/batches/{anthropic}", _ANTHROPIC),
        _Route(
            "Anthropic list (limit 20 of 10)",
            f"{url}/v1/messages/batches?limit=20",
            ["x-api-key: list-key", _ANTHROPIC[1]],
        ),
        _Route("Anthropic models list", f"{url}/v1/models", _ANTHROPIC),
        _Route("Anthropic count_tokens", f"{url}/v1/messages/count_tokens", _ANTHROPIC, _COUNT),
        _Route("OpenAI retrieve", f"{url}/v1/batches/{openai}", [BEARER]),
        _Route("Gemini get", f"{url}/v1beta/{gemini['name']}", _GEMINI),
    ]


def _spread(ratios: list[float]) -> str:
    return f"per-round ratios {min(ratios):.2f}-{max(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"


def run() -> list[dict[str, Any]]:
    rounds = 3 if c.QUICK else 5
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, c.batchsim_server(pinned=False) as sim:
        routes = _routes(sim.url)
        folder = Path(tmp) / "bodies"
        folder.mkdir()
        for n, route in enumerate(routes):
            (folder / str(n)).write_bytes(route.answer)
        (Path(tmp) / "empty.json").write_bytes(b"{}")
        with c.bare_server(str(Path(tmp) / "empty.json"), folder=str(folder), pinned=False) as bare:
            loads: dict[str, Any] = {}
            for n, route in enumerate(routes):
                target = f"{bare.url}/parse" if route.body else f"{bare.url}/b/{n}"
                loads[f"ours {n}"] = lambda r=route: c.load(r.url, body=r.body, headers=r.headers, pinned=False)
                loads[f"bare {n}"] = lambda r=route, t=target: c.load(t, body=r.body, headers=r.headers, pinned=False)
            runs = c.interleave(loads, rounds)
        for n, route in enumerate(routes):
            ours, base = runs[f"ours {n}"], runs[f"bare {n}"]
            ratios = [a.rps / b.rps for a, b in zip(ours, base, strict=True)]
            ratio = statistics.median(ratios)
            what = "reading and parsing the same body" if route.body else f"answering the same {len(route.answer)} B"
            rows.append(
                c.row(
                    f"control plane: {route.name}",
                    c.median_rps(ours),
                    "req/s",
                    f"batchsim serve vs a bare Starlette route {what}; no CPU pinning; median of {_spread(ratios)}; "
                    f"{c.load_note(ours, base)}",
                    baseline=c.median_rps(base),
                    ratio=ratio,
                    target=f">= {TARGET:g}",
                    ok=ratio >= TARGET,
                )
            )
        rows.extend(_profile(sim, routes[0]))
    rows.extend(_guards())
    return rows


# -- where the time goes ----------------------------------------------------------------------------

_TOP = 15


def _profile(sim: c.Running, route: _Route) -> list[dict[str, Any]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return [c.row("profile of a retrieve", None, "", "skipped: py-spy is not installed")]
    seconds = 4 if c.QUICK else 10
    out = Path(tempfile.mkdtemp()) / "retrieve.txt"
    record = [spy, "record", "--pid", str(sim.process.pid), "--duration", str(seconds), "--rate", "250"]
    record += ["--format", "raw", "--output", str(out), "--nonblocking"]
    profiler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # the profiler attached (the load below outlasts it)
    c.load(route.url, headers=route.headers, seconds=seconds + 1, pinned=False)
    _, err = profiler.communicate(timeout=60)
    if profiler.returncode != 0 or not out.exists():
        return [c.row("profile of a retrieve", None, "", f"skipped: py-spy failed: {err.decode()[-200:]!r}")]
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = ours = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        total += samples
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
        # The one-write wrapper's own samples are the socket write itself, which the bare app
        # makes too: not batchsim's work.
        writing = bool(frames) and frames[-1].startswith("_HeadWithBody.write")
        if not writing and any("batchsim/" in f for f in frames[-3:]):
            ours += samples
    shutil.rmtree(out.parent, ignore_errors=True)
    if not total:
        return [c.row("profile of a retrieve", None, "", "skipped: no samples")]
    top = "\n".join(
        f"| {n / total:.1%} | {inclusive[frame] / total:.1%} | `{frame}` |" for frame, n in own.most_common(_TOP)
    )
    kernel = inclusive["_serve (batchsim/_http/app.py)"]
    section = (
        "## Where a retrieve's time goes\n\n"
        f"`py-spy record --rate 250` on `batchsim serve` for {seconds} s while `wrk -t1 -c32` retrieves one "
        f"message batch ({total:,} samples, idle samples included). The functions most often on top of the "
        "stack (own), with the share of samples they were anywhere in (inclusive):\n\n"
        "| own | inclusive | function (file) |\n|---:|---:|---|\n"
        f"{top}\n\n"
        f"Samples with batchsim's code among the three innermost frames (the socket write in "
        f"`_HeadWithBody.write` not counted): {ours / total:.1%}; "
        f"inside the kernel's handling of a call (`_serve`, its answer's sending included): {kernel / total:.1%}. "
        "The rest is uvicorn, "
        "the event loop and the socket writes, which the bare app pays too."
    )
    return [{"section": section}]


def _short(frame: str) -> str:
    """``function (path)`` with the path from the package or site-packages folder on (no line:
    a function's samples count together)."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", "/batchsim/", "/lib/python"):
        if marker in where:
            where = where[where.index(marker) + (0 if marker == "/batchsim/" else len(marker)) :].lstrip("/")
            break
    return f"{name} ({where})"


# -- what each guard costs -----------------------------------------------------------------------

_CALLS = 4000


def _guards() -> list[dict[str, Any]]:
    """Each guard's cost per request, measured in process (no socket: the differences are a
    fraction of a microsecond, below what ``wrk`` can resolve): the served app's ASGI call with
    the guard on and off, in interleaved rounds, the median difference."""
    import asyncio

    from batchsim._serve import server
    from batchsim._serve.guard import allowed_hosts, guarded

    config: dict[str, Any] = {"host": "127.0.0.1"}
    sim = server._emulator(config)
    bare = sim.app
    hosted = guarded(bare, allowed_hosts("127.0.0.1", None))
    client = sim.client(api_key="bench-key")
    batch = client.messages.batches.create(requests=orjson.loads(_ONE)["requests"])
    head = [(b"host", b"127.0.0.1:8000"), (b"x-api-key", b"bench-key"), (b"anthropic-version", b"2023-06-01")]
    post = [*head, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(_COUNT))]
    advance = b'{"seconds": 0}'
    control = [
        *head,
        (b"content-type", b"application/json"),
        (b"user-agent", b"curl/8"),
        (b"origin", b"http://127.0.0.1:8000"),
    ]

    def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
        }

    async def calls(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> float:
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"{method} {path}: {message['status']}")

        started = time.perf_counter()
        for _ in range(_CALLS):
            await app(scope(method, path, headers), receive, send)
        return (time.perf_counter() - started) / _CALLS * 1e6

    retrieve = ("GET", f"/v1/messages/batches/{batch.id}", head, b"")
    count = ("POST", "/v1/messages/count_tokens", post, _COUNT)
    clock = ("POST", "/_batchsim/clock/advance", control, advance)

    def journal(on: bool) -> None:
        sim.journal.enabled = on

    def timeout(on: bool) -> None:
        sim._ctx.bodies.timeout = 30.0 if on else None

    cases: list[tuple[str, str, tuple[Any, ...], Any, Any, Any]] = [
        ("Host check (DNS rebinding)", "a retrieve", retrieve, hosted, bare, None),
        (
            "control-plane change check (Host, Origin, Sec-Fetch-Site, content type)",
            "a clock advance",
            clock,
            hosted,
            bare,
            None,
        ),
        ("journal (a call recorded, body prefix kept)", "a retrieve", retrieve, bare, bare, journal),
        ("body timeout (each piece renews a deadline)", "a count_tokens", count, bare, bare, timeout),
    ]
    rounds = 3 if c.QUICK else 7
    rows: list[str] = []

    async def measure() -> None:
        for name, call, (method, path, headers, body), on_app, off_app, toggle in cases:
            diffs: list[float] = []
            for _ in range(rounds):
                if toggle is not None:
                    toggle(True)
                with_guard = await calls(on_app, method, path, headers, body)
                if toggle is not None:
                    toggle(False)
                without = await calls(off_app, method, path, headers, body)
                diffs.append(with_guard - without)
            if toggle is not None:
                toggle(True)
            rows.append(
                f"| {name} | {call} | {statistics.median(diffs):+.2f} µs | {min(diffs):+.2f} to {max(diffs):+.2f} µs | "
                f"{with_guard:.1f} µs |"
            )

    try:
        sim.journal.enabled = True
        asyncio.run(measure())
    finally:
        sim.close()
    section = (
        "## What each guard costs per request\n\n"
        f"Measured in process (the served app called through ASGI, no socket), {_CALLS:,} calls with the guard "
        f"on and {_CALLS:,} with it off, {rounds} interleaved rounds; the median difference and its spread. "
        "For scale: a retrieve over HTTP costs the server tens of microseconds of CPU (the control-plane "
        "figures above), most of it uvicorn's and the socket's. The connection bounds (head size, head and "
        "send timeouts, open connections) live in the HTTP protocol: a few comparisons per read, their "
        "timeouts checked by one timer per server; their share is inside `data_received` and "
        "`on_headers_complete` in the profile above. Fault injection with no fault configured is one "
        "test of an empty list per call (`FaultInjector.pick`).\n\n"
        "| guard | on | cost per call | spread | the call with it |\n|---|---|---:|---:|---:|\n" + "\n".join(rows)
    )
    return [{"section": section}]
