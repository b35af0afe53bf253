"""``batchsim record``: a recording proxy in front of a provider's batch API (Anthropic's Message
Batches, OpenAI's Files + Batch API, Gemini's batch mode; see :mod:`.upstreams`).

The proxy is an ASGI app (served by uvicorn, as ``batchsim serve`` is) that forwards every call
to the upstream unchanged with httpx2 (the HTTP client the SDKs themselves use), streaming both
ways, and answers with the upstream's own answer. The only changes lead back through the proxy:
Anthropic's ``results_url`` and Gemini's upload URL (``x-goog-upload-url``). While it forwards, it
writes a *cassette* folder (see :class:`Cassette` and the README, "Recording production"):

* ``batches/<id>/create.json``: each create body as sent;
* ``batches/<id>/timeline.jsonl`` and ``batch.json``: every observation of the batch, the last one;
* ``batches/<id>/results.jsonl`` (OpenAI: ``output.jsonl`` and ``errors.jsonl``): its results as
  streamed, once one download completed (Gemini's inline results: as its operation carried them);
* ``canned.jsonl``: every recorded batch's results lines (a ``canned`` file for a scenario);
* ``scenario.toml``: a scenario fitted to what was seen (timing, outcome fractions, error types);
* ``calls.jsonl``: one line per call (no headers but a few answer headers; never a key).

Every file is replaced atomically (temporary file, fsync, rename) or appended a whole line per
``write``, so a recording stopped at any point leaves a usable folder; a second run appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx2
import orjson

from .._engine.scenario import REQUEST_ERROR_TYPES, Scenario, Timing
from .._http.connection import CLOSE_CONNECTION, DroppedConnectionError
from .upstreams import ANTHROPIC, UPSTREAMS, Facts, Route, Upstream, is_id

__all__ = ["Cassette", "CassetteError", "RecordingProxy", "fit_timing", "record"]

log = logging.getLogger("batchsim.record")
_T = TypeVar("_T")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

FORMAT = 1
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
_RESULTS_URL = re.compile(rb'("results_url"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_ANSWER_HEADERS = (
    "request-id",
    "x-request-id",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "content-type",
)


# -- the cassette folder ------------------------------------------------------------------------


def is_batch_id(value: Any) -> bool:
    """Whether ``value`` may name a batch's folder: 1-128 letters, digits, ``_`` or ``-``
    (matched whole: an id such as "msgbatch_1\\n" would become a folder name and a line break
    in scenario.toml)."""
    return is_id(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def append_line(path: Path, record: Any) -> None:
    """Append one JSON line with a single ``write``: a stop at any moment leaves whole lines."""
    line = orjson.dumps(record) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class _Spill:
    """A temporary file in the cassette that becomes a recorded file on :meth:`commit` (rename),
    or disappears on :meth:`abort`."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        self.path = Path(tmp)
        self.handle: IO[bytes] = os.fdopen(fd, "wb")
        self.failed = False
        """Set when a write failed (a full disk) or what came was not readable: nothing is kept."""

    def write(self, data: bytes) -> None:
        if data and not self.failed:
            try:
                self.handle.write(data)
            except OSError as exc:
                self.failed = True
                log.warning("batchsim record: %s not recorded: %s", self.path.name, exc)

    def commit(self, target: Path) -> None:
        if self.failed:
            self.abort()
            raise OSError(f"{target.name}: the recording failed on the way")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, target)
        _fsync_dir(target.parent)

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


class CassetteError(ValueError):
    """The folder holds another provider's cassette."""


class Cassette:
    """The recording folder of one provider's calls. Thread-safe; every file in it is valid at
    every moment."""

    def __init__(self, root: str | Path, upstream: str = "", api: Upstream = ANTHROPIC) -> None:
        self.root = Path(root)
        self.batches = self.root / "batches"
        self.upstream = _without_credentials(upstream)
        self.api = api
        self._lock = threading.RLock()
        self._results_writing: set[tuple[str, str]] = set()
        self._files: dict[str, tuple[str, str]] = {}
        """A results file's id -> (its batch's id, its name in the batch's folder)."""
        meta = self.root / "cassette.json"
        if meta.exists():
            self._check_provider(meta)
        self.batches.mkdir(parents=True, exist_ok=True)
        for stale in [*self.root.glob(".*.tmp"), *self.batches.glob("*/.*.part"), *self.batches.glob(".*.part")]:
            with contextlib.suppress(OSError):
                stale.unlink()  # left by a run that was killed mid-write
        if not meta.exists():
            about = {"format": FORMAT, "upstream": self.upstream, "provider": api.name}
            write_atomic(meta, orjson.dumps(about, option=orjson.OPT_INDENT_2))
        for batch, _ in self._recorded():
            facts = api.facts(batch)
            if facts is not None:
                self._files.update((file_id, (facts.batch_id, name)) for file_id, name in facts.files.items())
        if not (self.root / "canned.jsonl").exists():
            self.rebuild_canned()
        self.refit()

    def _check_provider(self, meta: Path) -> None:
        """A second run appends to a cassette of the same provider only."""
        try:
            about = orjson.loads(meta.read_bytes())
        except (ValueError, OSError):
            return
        found = about.get("provider", ANTHROPIC.name) if isinstance(about, dict) else None
        if found != self.api.name:
            raise CassetteError(
                f"{self.root} holds a cassette of {str(found)[:40]!r}, not of {self.api.name!r}: "
                "record each provider into its own folder"
            )

    def folder(self, batch_id: str) -> Path:
        if not is_batch_id(batch_id):
            raise ValueError(f"not a batch id: {batch_id!r}")
        return self.batches / batch_id

    # -- what the proxy reports --

    def call(self, entry: dict[str, Any]) -> None:
        with self._lock:
            append_line(self.root / "calls.jsonl", entry)

    def create_spill(self) -> _Spill:
        return _Spill(self.batches, "create")

    def commit_create(self, spill: _Spill, batch_id: str) -> None:
        spill.commit(self.folder(batch_id) / "create.json")

    def observe(self, batch: Any, call: str) -> bool:
        """Record one observation of a batch; returns whether the batch just ended or its
        results just came with it (a refit is due)."""
        facts = self.api.facts(batch)
        if facts is None:
            return False
        folder = self.folder(facts.batch_id)
        encoded = orjson.dumps(batch, option=orjson.OPT_INDENT_2)  # fails (too deep) before anything is written
        inline = self.api.inline_results(batch) if facts.ended else None
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            last = folder / "batch.json"
            was_ended = False
            if last.exists():
                with contextlib.suppress(ValueError, OSError):
                    before = self.api.facts(orjson.loads(last.read_bytes()))
                    was_ended = before is not None and before.ended
            point = {"seen_at": _now(), "call": call, **self.api.point(batch)}
            append_line(folder / "timeline.jsonl", point)
            write_atomic(last, encoded)
            for file_id, name in facts.files.items():
                self._files[file_id] = (facts.batch_id, name)
            results = folder / "results.jsonl"
            if inline is not None and not results.exists():
                write_atomic(results, inline)
                self.rebuild_canned()
                return True
            return facts.ended and not was_ended

    def note(self, batch_id: str, call: str) -> None:
        """A call on a recorded batch whose answer is not the batch (Gemini's cancel, a delete)."""
        if is_batch_id(batch_id) and (self.batches / batch_id).is_dir():
            with self._lock:
                append_line(self.folder(batch_id) / "timeline.jsonl", {"seen_at": _now(), "call": call})

    def deleted(self, batch_id: str) -> None:
        self.note(batch_id, "delete")

    def results_of(self, file_id: str) -> tuple[str, str] | None:
        """``(batch id, name)`` of a recorded batch's results file, if ``file_id`` is one."""
        with self._lock:
            return self._files.get(file_id)

    def results_spill(self, batch_id: str, name: str = "results.jsonl") -> _Spill | None:
        """Where to write a download of ``batch_id``'s results (its ``name`` file), or ``None``
        when they are recorded already (or another download is writing them): nothing is
        recorded twice."""
        if not is_batch_id(batch_id):
            return None
        with self._lock:
            folder = self.folder(batch_id)
            if (folder / name).exists() or (batch_id, name) in self._results_writing:
                return None
            self._results_writing.add((batch_id, name))
        try:
            return _Spill(folder, name.removesuffix(".jsonl"))
        except OSError:
            with self._lock:
                self._results_writing.discard((batch_id, name))
            raise

    def commit_results(self, batch_id: str, spill: _Spill | None, complete: bool, name: str = "results.jsonl") -> None:
        if spill is None:
            return
        try:
            if complete:
                spill.commit(self.folder(batch_id) / name)
            else:
                spill.abort()
        finally:
            with self._lock:
                self._results_writing.discard((batch_id, name))
        if complete:
            self.rebuild_canned()
            self.refit()

    # -- derived files --

    def _recorded(self) -> list[tuple[dict[str, Any], Path]]:
        """``(last batch object, folder)`` of every recorded batch, oldest first."""
        found = []
        for folder in self.batches.iterdir() if self.batches.is_dir() else ():
            last = folder / "batch.json"
            if not is_batch_id(folder.name) or not folder.is_dir() or not last.exists():
                continue
            try:
                batch = orjson.loads(last.read_bytes())
            except (ValueError, OSError):
                continue
            if isinstance(batch, dict):
                found.append((batch, folder))

        def created(item: tuple[dict[str, Any], Path]) -> tuple[float, str]:
            facts = self.api.facts(item[0])
            return (facts.created if facts is not None and facts.created is not None else 0.0, item[1].name)

        found.sort(key=created)
        return found

    def rebuild_canned(self) -> None:
        """``canned.jsonl``: the results of every recorded batch, oldest batch first (a request
        recorded twice: the newer line comes later and wins), replaced atomically."""

        def chunks() -> Iterator[bytes]:
            for _, folder in self._recorded():
                for name in self.api.results_files:
                    results = folder / name
                    if results.exists():
                        last = b"\n"
                        with open(results, "rb") as handle:
                            while chunk := handle.read(1 << 20):
                                last = chunk[-1:]
                                yield chunk
                        if last != b"\n":  # the next file's first line starts a line of its own
                            yield b"\n"

        with self._lock:
            write_atomic(self.root / "canned.jsonl", chunks())

    def refit(self) -> None:
        """Write ``scenario.toml`` fitted to every recorded batch that ended. Values no scenario
        accepts (an upstream's odd timestamps or counts) keep the file as it was, with a warning."""
        with self._lock:
            try:
                text = fitted_scenario(self._recorded(), self.api)
            except Exception as exc:  # whatever the upstream answered, recording goes on
                log.warning("batchsim record: scenario.toml not refitted: %s: %s", type(exc).__name__, exc)
                return
            write_atomic(self.root / "scenario.toml", text.encode())


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts._replace(query="", fragment=""))


# -- fitting a scenario -------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """One ended batch, as the fit sees it: its size and how long it ran (seconds)."""

    batch_id: str
    size: int
    duration: float


def fit_timing(points: list[Observed], default: Timing | None = None) -> Timing:
    """``start_delay``, ``per_request`` and ``concurrency`` under which the emulator ends each
    batch of ``points`` as close as possible to when it ended (the emulator ends a batch of n
    requests at ``start_delay + ceil(n / concurrency) * per_request``).

    Each batch size seen is tried as the concurrency; for each, the two other values are fitted
    by least squares (``start_delay`` >= 0; with one block count only, ``start_delay`` is the
    smaller of 1 s and a tenth of the shortest run). The concurrency with the smallest worst
    relative error wins, ties going to the larger one."""
    base = default or Timing()
    points = [p for p in points if p.size > 0 and p.duration > 0]
    if not points:
        return base
    best: tuple[float, int, float, float] | None = None
    for concurrency in sorted({p.size for p in points}, reverse=True):
        blocks = [math.ceil(p.size / concurrency) for p in points]
        durations = [p.duration for p in points]
        if len(set(blocks)) > 1:
            n = len(points)
            mean_k, mean_d = sum(blocks) / n, sum(durations) / n
            var = sum((k - mean_k) ** 2 for k in blocks)
            per = sum((k - mean_k) * (d - mean_d) for k, d in zip(blocks, durations, strict=True)) / var
            delay = mean_d - per * mean_k
            if delay < 0 or per <= 0:
                delay = 0.0
                per = sum(k * d for k, d in zip(blocks, durations, strict=True)) / sum(k * k for k in blocks)
        else:
            delay = min(1.0, min(durations) / 10)
            per = sum(k * (d - delay) for k, d in zip(blocks, durations, strict=True)) / sum(k * k for k in blocks)
        if per <= 0:
            continue
        error = max(abs(delay + k * per - d) / d for k, d in zip(blocks, durations, strict=True))
        if best is None or error < best[0] - 1e-12:
            best = (error, concurrency, delay, per)
    if best is None:
        return base
    _, concurrency, delay, per = best
    return Timing(
        start_delay=round(delay, 6),
        per_request=max(1e-6, round(per, 6)),
        concurrency=concurrency,
        jitter=0.0,
        cancel_delay=base.cancel_delay,
    )


def fitted_scenario(recorded: list[tuple[dict[str, Any], Path]], api: Upstream = ANTHROPIC) -> str:
    """The text of ``scenario.toml`` for the recorded batches (see :meth:`Cassette.refit`)."""
    points: list[Observed] = []
    ended: list[Facts] = []
    cancel_delays: list[float] = []
    size_total = errored = expired = 0
    error_types: dict[str, int] = {}
    invalid = 0
    for batch, folder in recorded:
        facts = api.facts(batch)
        if facts is None or not facts.ended:
            continue
        ended.append(facts)
        size = facts.size
        if facts.created is not None and facts.ended_at is not None:
            if facts.ending == "canceled" and facts.cancel_at is not None:
                cancel_delays.append(max(0.0, facts.ended_at - facts.cancel_at))
            elif facts.ending not in ("expired", "failed"):  # an expiring batch runs until its window is up
                start = facts.started if facts.started is not None else facts.created
                finish = facts.finished if facts.finished is not None else facts.ended_at
                points.append(Observed(folder.name, size, finish - start))
        needed = set(facts.files.values()) or {"results.jsonl"}
        if all((folder / name).exists() for name in needed):
            seen = _outcomes([folder / name for name in api.results_files if name in needed], api)
            if api.params_check_reproduces_invalid:
                invalid += seen.pop("invalid_request_error", 0)
            batch_errored = sum(v for k, v in seen.items() if k not in ("expired", "canceled", "succeeded"))
            errored += batch_errored
            for kind, count in seen.items():
                if kind not in ("expired", "canceled", "succeeded"):
                    error_types[kind] = error_types.get(kind, 0) + count
            expired += seen.get("expired", 0)
            size_total += size - seen.get("canceled", 0)
        else:
            errored += facts.counts.get("errored", 0)
            expired += facts.counts.get("expired", 0)
            size_total += size - facts.counts.get("canceled", 0)
    cancel_delay = sorted(cancel_delays)[len(cancel_delays) // 2] if cancel_delays else 0.0
    run = fit_timing(points, Timing(cancel_delay=round(cancel_delay, 6)))
    section, timing = api.section(ended, run)
    usable = {k: v for k, v in sorted(error_types.items()) if k in REQUEST_ERROR_TYPES}
    total = max(1, size_total)
    errored_fraction = round(min(1.0, errored / total), 6)
    expired_fraction = round(min(1.0 - errored_fraction, expired / total), 6)
    lines = [
        "# Fitted by `batchsim record` from what the upstream answered; rewritten as batches end.",
        f"# Replay: batchsim serve --scenario THIS_FILE (recorded {api.request_key}s get their recorded lines).",
        f"# {len(recorded)} batch(es) recorded, {len(points)} used for timing"
        f"{f', {len(cancel_delays)} canceled' if cancel_delays else ''}.",
    ]
    for p in points:
        fitted = run.start_delay + math.ceil(p.size / run.concurrency) * run.per_request
        lines.append(
            f"# {p.batch_id}: {p.size} request(s), {api.run_words} {p.duration:.3f} s; "
            f"this scenario: {fitted:.3f} s ({(fitted - p.duration) / p.duration:+.1%})"
        )
    if invalid:
        lines.append(
            f"# {invalid} request(s) ended invalid_request_error: left out of the fractions "
            "(the emulator's own params check reproduces them)."
        )
    skipped = sorted(set(error_types) - set(usable))
    if skipped:
        lines.append(f"# error types seen that scenarios cannot name: {', '.join(skipped)}")
    lines += [
        "seed = 0",
        'canned = "canned.jsonl"',
        "",
        "[timing]",
        f"start_delay = {timing.start_delay!r}",
        f"per_request = {timing.per_request!r}",
        f"concurrency = {timing.concurrency}",
        "jitter = 0.0",
        f"cancel_delay = {timing.cancel_delay!r}",
        "",
        "[outcomes]",
        f"errored = {float(errored_fraction)!r}",
        f"expired = {float(expired_fraction)!r}",
    ]
    total_errors = sum(usable.values())
    weights = ", ".join(f"{k} = {v / total_errors!r}" for k, v in usable.items()) if usable else "api_error = 1.0"
    lines.append(f"error_types = {{ {weights} }}")
    if section:
        lines += ["", f"[{api.name}]", *(f"{k} = {float(v)!r}" for k, v in section.items())]
    text = "\n".join(lines) + "\n"
    Scenario.from_dict(_toml_loads(text))  # never write a scenario that would not load
    return text


_ERROR_TYPE = re.compile(r"[a-z_]{1,64}")


def _toml_loads(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def _outcomes(results: list[Path], api: Upstream) -> dict[str, int]:
    """How many lines of a batch's results files ended each way; errored lines count under their
    error type."""
    seen: dict[str, int] = {}
    for path in results:
        with open(path, "rb") as handle:
            for raw in handle:
                found = api.raw_outcome(raw)
                if found is None:
                    continue
                outcome, kind = found
                if outcome == "errored":
                    outcome = kind if isinstance(kind, str) and _ERROR_TYPE.fullmatch(kind) else "api_error"
                seen[outcome] = seen.get(outcome, 0) + 1
    return seen


# -- the proxy ----------------------------------------------------------------------------------


_JSON_MAX = 32 * 1024 * 1024
"""The largest JSON answer (as sent, and decoded) the proxy reads whole to record it; a larger
one is streamed through unrecorded. A list of 1,000 batches is about 1 MB."""
_PIECE = 1 << 20  # a results chunk is decoded this much at a time: memory stays bounded


class _Decoder:
    """Undoes a ``content-encoding`` the proxy can read (identity, gzip, deflate), never holding
    more than a bounded amount: a small gzip answer may inflate to gigabytes."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self.ok = encoding in ("", "identity", "gzip", "x-gzip", "deflate")
        self._z = None
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()

    @property
    def identity(self) -> bool:
        return self._z is None

    def whole(self, data: bytes, limit: int = _JSON_MAX) -> bytes | None:
        """All of ``data`` decoded, or ``None`` when it is not valid or decodes to more than
        ``limit`` bytes."""
        if self._z is None:
            return data if len(data) <= limit else None
        try:
            out = self._z.decompress(data, limit + 1)
        except zlib.error:
            return None
        return out if len(out) <= limit and not self._z.unconsumed_tail else None

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """``data`` decoded, in pieces of at most 1 MiB; ``zlib.error`` when it is not valid."""
        if self._z is None:
            if data:
                yield data
            return
        while True:
            out = self._z.decompress(data, _PIECE)
            if out:
                yield out
            data = self._z.unconsumed_tail
            if not data and len(out) < _PIECE:
                return


class _CutError(Exception):
    """The upstream cut the connection: the proxy cuts the client's too."""


class _UnreachableError(Exception):
    """The upstream could not be reached: nothing was sent to it."""


_UNREACHABLE = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.UnsupportedProtocol, httpx2.ProxyError)


class RecordingProxy:
    """The ASGI app of ``batchsim record``: forwards to ``upstream`` and records into ``cassette``.

    Recording never fails a call: whatever the upstream answers (bad gzip, JSON nested 1,000
    deep, odd ids) is passed through to the client, and only what cannot be read is left out of
    the cassette (with a warning on stderr)."""

    def __init__(self, upstream: str, cassette: Cassette, *, timeout: float = 600.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.cassette = cassette
        self.api = cassette.api
        self._timeout = timeout
        self._client: httpx2.AsyncClient | None = None

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            # No retries, no redirects, no cookies, no default headers: the client's own request goes out.
            self._client = httpx2.AsyncClient(
                timeout=httpx2.Timeout(self._timeout, connect=30.0),
                follow_redirects=False,
                limits=httpx2.Limits(max_connections=256, max_keepalive_connections=64),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await self._forward(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        method: str = scope["method"]
        path: str = scope["path"]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string") or b""
        route = self.api.route(method, path)
        entry: dict[str, Any] = {
            "at": _now(),
            "method": method,
            "path": self.api.redact_path(path),
            "query": self.api.redact_query(query),
            "endpoint": route.endpoint,
            "batch_id": route.batch_id,
        }
        if route.file_id is not None:
            entry["file_id"] = route.file_id
        sent = _Sent(send)
        spill: _Spill | None = None
        try:
            if not raw_path.startswith(b"/"):  # OPTIONS *, or an absolute URL: not an API call
                entry["status"] = 400
                await self._error(sent, 400, f"batchsim record forwards only paths, not {path!r}")
                return
            url = self.upstream + raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
            has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
            spill = self._create_spill() if route.action == "create" else None
            try:
                content = _body(receive, spill) if has_body else None
                request = httpx2.Request(method, url, headers=headers, content=content)
            except (httpx2.InvalidURL, ValueError) as exc:
                entry["status"] = 400
                await self._error(sent, 400, f"batchsim record cannot forward this call: {exc}")
                return
            try:
                response = await self._http().send(request, stream=True)
            except _UNREACHABLE as exc:
                entry.update(status=502, error=type(exc).__name__)
                raise _UnreachableError(f"{self.cassette.upstream} cannot be reached ({type(exc).__name__})") from None
            except httpx2.HTTPError as exc:
                entry.update(status=None, error=type(exc).__name__)
                raise _CutError(f"upstream {method} {path}: {type(exc).__name__}") from None
            try:
                entry["status"] = response.status_code
                entry.update({h: response.headers[h] for h in _ANSWER_HEADERS if h in response.headers})
                await self._answer(scope, sent, response, route, spill)
                spill = None
            finally:
                await response.aclose()
        except _UnreachableError as down:  # nothing was sent to the client yet either
            await self._error(sent, 502, f"batchsim record: the upstream {down}")
        except _CutError as cut:
            await _cut(scope, receive, sent, str(cut), self._error)
        finally:
            if spill is not None:
                spill.abort()
            entry["ms"] = round((time.monotonic() - started) * 1000, 1)
            try:
                self.cassette.call(entry)
            except OSError as exc:
                log.warning("batchsim record: calls.jsonl not written: %s", exc)

    def _create_spill(self) -> _Spill | None:
        try:
            return self.cassette.create_spill()
        except OSError as exc:
            log.warning("batchsim record: the create body will not be recorded: %s", exc)
            return None

    async def _error(self, send: Send, status: int, message: str) -> None:
        """An answer of the proxy's own, in the provider's error envelope."""
        body, headers = self.api.error(status, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, send: _Sent, response: httpx2.Response, route: Route, spill: _Spill | None
    ) -> None:
        status = response.status_code
        out = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
        kind = response.headers.get("content-type", "")
        decoder = _Decoder(response.headers.get("content-encoding", ""))
        ok = 200 <= status < 300
        if route.action in ("create", "batch", "list") and "json" in kind and decoder.ok:
            # Small JSON answers: read whole, record, rewrite results_url, answer.
            chunks = _raw(response)
            raw, whole = await _read_up_to(chunks, _JSON_MAX)
            if not whole:  # too large to hold: streamed through as it is, not recorded
                if spill is not None:
                    spill.abort()
                await send({"type": "http.response.start", "status": status, "headers": out})
                await send({"type": "http.response.body", "body": raw, "more_body": True})
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
            body = raw
            decoded = decoder.whole(raw) if ok else None
            if decoded is not None:
                await self._record(route, decoded, spill)
                spill = None
                changed = _rewrite_results_urls(decoded, _origin(scope)) if self.api.results_url_field else decoded
                if changed != decoded or not decoder.identity:
                    body = changed
                    out = [(k, v) for k, v in out if k not in (b"content-length", b"content-encoding")]
                    out.append((b"content-length", b"%d" % len(body)))
            elif ok:
                log.warning("batchsim record: a %s answer was not recorded: not readable %s", route.endpoint, kind)
            if spill is not None:
                spill.abort()
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": body})
            return
        if spill is not None:
            spill.abort()
        if route.action in ("delete", "cancel") and route.batch_id and ok:
            await self._recording(f"a {route.action}", self.cassette.note, route.batch_id, route.endpoint)
        if route.action == "upload" and self.api.upload_url_header is not None:
            out = _rewrite_header(out, self.api.upload_url_header.encode(), _origin(scope))
        batch_id, name = route.batch_id, "results.jsonl"
        if route.action == "file" and route.file_id is not None:
            owner = self.cassette.results_of(route.file_id)
            batch_id, name = owner if owner is not None else (None, name)
        results = None
        if route.action in ("results", "file") and batch_id and status == 200 and decoder.ok:
            results = await self._recording("results", self.cassette.results_spill, batch_id, name)
        complete = False
        try:
            await send({"type": "http.response.start", "status": status, "headers": out})
            async for chunk in _raw(response):
                if results is not None:
                    try:
                        for piece in decoder.pieces(chunk):
                            results.write(piece)
                    except zlib.error as exc:
                        log.warning("batchsim record: results of %s not recorded: %s", batch_id, exc)
                        results.failed = True
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            complete = True
        finally:
            if results is not None and batch_id is not None:
                done = complete and not results.failed
                await self._recording("results", self.cassette.commit_results, batch_id, results, done, name)

    async def _record(self, route: Route, body: bytes, spill: _Spill | None) -> None:
        """Record a JSON answer in a worker thread; what cannot be recorded is skipped."""
        try:
            await asyncio.to_thread(self._record_json, route, body, spill)
        except Exception as exc:
            if spill is not None:
                spill.abort()
            what = route.endpoint
            log.warning("batchsim record: a %s answer was not recorded: %s: %s", what, type(exc).__name__, exc)

    async def _recording(self, what: str, fn: Callable[..., _T], *args: Any) -> _T | None:
        """``fn(*args)`` in a worker thread, or ``None`` (with a warning) when it fails."""
        try:
            return await asyncio.to_thread(fn, *args)
        except Exception as exc:
            log.warning("batchsim record: %s not recorded: %s: %s", what, type(exc).__name__, exc)
            return None

    def _record_json(self, route: Route, body: bytes, spill: _Spill | None) -> None:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            if spill is not None:
                spill.abort()
            return
        call = route.endpoint or ""
        if route.action == "list":
            for batch in self.api.listed(data):
                batch_id = self.api.batch_id(batch)
                if batch_id is not None and (self.cassette.batches / batch_id).is_dir():
                    self._observe(batch, call)
            return
        if spill is not None:
            batch_id = self.api.batch_id(data)
            if batch_id is not None:
                self.cassette.commit_create(spill, batch_id)
            else:
                spill.abort()
        self._observe(data, call)

    def _observe(self, batch: Any, call: str) -> None:
        if self.cassette.observe(batch, call):
            self.cassette.refit()


class _Sent:
    """The ASGI ``send`` of one call, noting whether the answer has started."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _read_up_to(chunks: AsyncIterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The first chunks of an answer, up to just past ``limit`` bytes, and whether that is all."""
    read: list[bytes] = []
    size = 0
    async for chunk in chunks:
        read.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(read), False
    return b"".join(read), True


async def _body(receive: Receive, spill: _Spill | None) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _CutError("the client went away while sending its body")
        chunk = message.get("body", b"")
        if chunk:
            if spill is not None:
                spill.write(chunk)
            yield chunk
        if not message.get("more_body", False):
            return


async def _raw(response: httpx2.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx2.HTTPError as exc:
        raise _CutError(f"upstream cut the answer: {type(exc).__name__}") from None


async def _cut(
    scope: Scope, receive: Receive, send: _Sent, reason: str, error: Callable[[Send, int, str], Awaitable[None]]
) -> None:
    """Cut the client's connection as the upstream cut ours: before any byte of an answer when
    nothing was sent yet (through the server's close extension; without it, a 502 in the API's
    envelope), else mid-answer."""
    if not send.started:
        close = (scope.get("extensions") or {}).get(CLOSE_CONNECTION)
        if close is not None:
            await close(receive)
            return
        await error(send, 502, f"batchsim record: {reason}")
        return
    raise DroppedConnectionError(reason)


def _origin(scope: Scope) -> str:
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def _rewrite_header(headers: list[tuple[bytes, bytes]], name: bytes, origin: str) -> list[tuple[bytes, bytes]]:
    """Point the URL of every ``name`` header at ``origin`` (same path and query): an upload
    session's URL leads back through the proxy, as the SDKs' own base URL does."""
    out = []
    for key, value in headers:
        if key == name:
            with contextlib.suppress(ValueError):
                parts = urlsplit(value.decode("latin-1"))
                value = (origin + parts.path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
        out.append((key, value))
    return out


def _rewrite_results_urls(body: bytes, origin: str) -> bytes:
    """Point every ``results_url`` of a JSON answer at ``origin`` (same path and query); the other
    bytes are left exactly as they were."""

    def swap(match: re.Match[bytes]) -> bytes:
        url = match.group(2).replace(b"\\/", b"/").decode("utf-8", "replace")
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL: left as the upstream sent it
            return match.group(0)
        target = origin + parts.path + (f"?{parts.query}" if parts.query else "")
        return match.group(1) + orjson.dumps(target)[1:-1] + match.group(3)  # a JSON string's inside

    return _RESULTS_URL.sub(swap, body)


# -- the command --------------------------------------------------------------------------------


def record(
    upstream: str | None,
    out: str,
    host: str,
    port: int,
    log_level: str = "warning",
    http: str = "auto",
    provider: str = ANTHROPIC.name,
) -> int:
    """Run the recording proxy in front of ``provider``'s API (at ``upstream``, by default its
    production URL) until Ctrl-C/SIGTERM (``batchsim record``)."""
    import sys

    api = UPSTREAMS[provider]
    upstream = api.url if upstream is None else upstream

    import uvicorn

    from .server import _quiet_injected_drops, _Server, _uvicorn_options, bind

    try:
        parts = urlsplit(upstream)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port out of range, a broken IPv6 address
        usable = False
    if not usable:
        print(f"batchsim record: --upstream must be an http(s) URL, got {upstream!r}", file=sys.stderr)
        return 2
    sock = bind(host, port)  # first: a port that is taken leaves no empty cassette folder behind
    if isinstance(sock, str):
        print(f"batchsim record: {sock}", file=sys.stderr)
        return 2
    try:
        cassette = Cassette(out, upstream, api)
    except OSError as exc:
        sock.close()
        print(f"batchsim record: cannot record into {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except CassetteError as exc:
        sock.close()
        print(f"batchsim record: {exc}", file=sys.stderr)
        return 2
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    where = f"http://{shown}:{bound_port} -> {cassette.upstream} ({api.name}) into {cassette.root}"
    print(f"batchsim recording on {where}; Ctrl-C stops it", flush=True)
    proxy = RecordingProxy(upstream, cassette)
    server = _Server(uvicorn.Config(proxy, **_uvicorn_options(log_level, http)))
    _quiet_injected_drops()
    server.run(sockets=[sock])
    print("batchsim recording stopped", flush=True)
    return 0
