"""The dashboard (``/_batchsim/ui``) and the control-plane routes it draws from.

The page is HTML, CSS and a little JavaScript served from the package (no build step, no CDN:
it works offline). The server renders each view's first state into the page (:mod:`.pages`), so
it shows something before, or without, its script; the script then polls JSON routes of the
control plane and redraws. Every provider's batches appear side by side, each with its
provider's name and statuses (what its console, :class:`~batchsim._http.spec.Console`, says):

* ``GET /_batchsim/batches`` — every batch of every key and provider, newest first, filtered and
  paginated (``provider``, ``status``, ``key`` (a key id), ``offset``, ``limit``), with counts by
  status and by provider;
* ``GET /_batchsim/batches/{id}`` — one batch, the object its API shows, the scenario it was
  created under, its files and its timeline (requests finished over emulator time, by outcome);
* ``POST /_batchsim/batches/{id}/cancel`` and ``DELETE /_batchsim/batches/{id}`` — cancel or
  delete it as its API would (refused as its API refuses: a cancel once it has ended, a delete
  while it runs, a delete of a batch whose API has none);
* ``GET /_batchsim/batches/{id}/requests`` — its requests (custom_id, state, error type, finish
  time), filtered (``state``, ``q``: a custom_id substring) and paginated;
* ``GET /_batchsim/batches/{id}/requests/{index}`` — one request's params and result;
* ``GET /_batchsim/batches/{id}/results`` — the results JSONL;
* ``GET /_batchsim/batches/{id}/files/{name}`` — one of its files (OpenAI's ``output`` and
  ``error``);
* ``GET /_batchsim/journal/recent`` — the newest API calls in summary (``endpoint``, ``method``,
  ``status``, ``key``, ``fault``, ``limit``), each with an ``id``;
* ``GET /_batchsim/journal/{id}`` — one call: its headers (credentials redacted) and body.

They are guarded like the rest of the control plane (the admin token when one is set). An API
key is never shown whole: answers name a key by its tail (``…a1b2``) and an opaque ``key_id``.
The page itself is open: with an admin token set, it is rendered without data.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .._engine.batch import ERRORED, OUTCOME_NAMES, Batch, Phase
from .._engine.errors import DomainError, InvalidError, NotFoundError
from .._engine.ports import Entry
from .._engine.times import rfc3339
from .app import ApiContext
from .control import guarded
from .journal import key_tail
from .pages import render_batch, render_missing, render_overview
from .spec import Console

__all__ = ["dashboard_routes", "key_id", "key_tail"]

UI = "/_batchsim/ui"
_STATIC = ("app.js", "style.css", "favicon.svg")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
RUNNING, QUEUED = 4, 5
STATE_NAMES = (*OUTCOME_NAMES, "running", "queued")
_STATE_CODES = {name: code for code, name in enumerate(STATE_NAMES)}
_MAX_PAGE = 500
_TIMELINE_BINS = 120
_MAX_INDEX_DIGITS = 12


def key_id(key: str) -> str:
    """An opaque, stable name of a key (to filter by), from which the key cannot be read back."""
    return hashlib.sha256(b"batchsim-key:" + key.encode()).hexdigest()[:12]


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 20):
        raise InvalidError(f"{name}: expected an integer, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidError(f"{name}: expected an integer from {low} to {high}")
    return value


# -- what a batch's plan says about its requests ---------------------------------------------------


class RequestStates:
    """Each request's state at one moment (an outcome, ``running`` or ``queued``) and the offset
    from the batch's creation at which it finished (``-1``: not yet)."""

    __slots__ = ("end", "ended", "states", "times")

    def __init__(self, entry: Entry, now: int) -> None:
        batch, cancel = entry.batch, entry.cancel_initiated_at
        created = batch.created_at
        self.ended = now >= batch.ended_at(cancel)
        if self.ended:
            final = batch.final(cancel)
            self.end = final.end
            self.states = bytearray(final.outcomes)
            self.times = batch.finish_times(final)
            return
        self.end = batch.ended_at(cancel) - created
        elapsed = now - created
        planned, start, finish = batch.schedule()  # the plan as it stands: who has finished, who runs
        n = batch.size
        states = bytearray(n)
        times = array("q", [-1]) * n
        for i in range(n):
            f = finish[i]
            if f <= elapsed:
                states[i] = planned[i]
                times[i] = f
            elif start[i] <= elapsed:
                states[i] = RUNNING
            else:
                states[i] = QUEUED
        self.states, self.times = states, times

    def counts(self) -> dict[str, int]:
        return {name: self.states.count(code) for code, name in enumerate(STATE_NAMES)}


def request_states(entry: Entry, now: int) -> RequestStates:
    """:class:`RequestStates` of a batch at ``now``, kept in the batch's memo for a few moments
    (the page asks for the requests and the timeline of one batch at one moment, again and again
    once it has ended); they go with the batch."""
    batch, cancel = entry.batch, entry.cancel_initiated_at
    moment = -1 if now >= batch.ended_at(cancel) else now
    kept: OrderedDict[tuple[int | None, int], RequestStates] = batch.memo.setdefault("dashboard-states", OrderedDict())
    key = (cancel, moment)
    found = kept.get(key)
    if found is None:
        found = kept[key] = RequestStates(entry, now)
        while len(kept) > 4:
            kept.popitem(last=False)
    else:
        kept.move_to_end(key)
    return found


def timeline(entry: Entry, now: int) -> dict[str, Any]:
    """Requests finished over emulator time, by outcome: cumulative counts in equal bins from the
    batch's creation to its end (as planned so far), with its cancel, end and expiry marked."""
    states = request_states(entry, now)
    span = max(1, states.end)
    bins = _TIMELINE_BINS
    series = {name: [0] * bins for name in OUTCOME_NAMES}
    rows = [series[name] for name in OUTCOME_NAMES]
    times, codes = states.times, states.states
    for i, code in enumerate(codes):
        if code < RUNNING:
            rows[code][min(bins - 1, times[i] * bins // span)] += 1
    for row in rows:
        total = 0
        for b in range(bins):
            total += row[b]
            row[b] = total
    created = entry.batch.created_at
    cancel = entry.cancel_initiated_at
    return {
        "span_seconds": span / 1_000_000,
        "bins": bins,
        "series": series,
        "now_seconds": min(now - created, span) / 1_000_000 if not states.ended else None,
        "cancel_seconds": (cancel - created) / 1_000_000 if cancel is not None else None,
        "end_seconds": span / 1_000_000,
        "ended": states.ended,
        "expiry_seconds": entry.batch.policy.window / 1_000_000,
        "requests": len(codes),
    }


# -- rows ------------------------------------------------------------------------------------------


def all_entries(ctx: ApiContext) -> list[tuple[Console, Entry]]:
    """Every live batch of every key and provider, newest first (batches created at the same
    emulator instant in no particular order)."""
    found = [(p.console, entry) for p in ctx.providers for entry in p.console.entries()]
    found.sort(key=_created, reverse=True)  # stable: a key's batches keep their newest-first order
    return found


def _created(item: tuple[Console, Entry]) -> int:
    return item[1].batch.created_at


def find_entry(ctx: ApiContext, batch_id: str) -> tuple[Console, Entry]:
    for provider in ctx.providers:
        entry = provider.console.find(batch_id)
        if entry is not None:
            return provider.console, entry
    raise NotFoundError("batch", batch_id)


def batch_row(console: Console, entry: Entry, now: int) -> dict[str, Any]:
    batch, cancel = entry.batch, entry.cancel_initiated_at
    ended = now >= batch.ended_at(cancel)
    n = batch.size
    created, ended_at = batch.created_at, batch.ended_at(cancel)
    if ended:
        counts = {"processing": 0, **batch.counts(cancel)}
        finished = n
    else:
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        finished = batch.finished(now, cancel)
    return {
        "id": batch.id,
        "provider": console.name,
        "key": key_tail(batch.workspace),
        "key_id": key_id(batch.workspace),
        "status": console.status(entry, now),
        "phase": batch.phase(now, cancel).name.lower(),
        "requests": n,
        "request_counts": counts,
        "finished": finished,
        "progress": finished / n if n else 1.0 if ended else 0.0,
        "created_at": rfc3339(created),
        "ended_at": rfc3339(ended_at) if ended else None,
        "expected_end": rfc3339(ended_at),
        "expires_at": rfc3339(created + batch.policy.window),
        "cancel_initiated_at": rfc3339(cancel) if cancel is not None else None,
        "seed": batch.scenario.seed,
        "links": console.links(entry, now),
        "actions": _actions(console, batch.phase(now, cancel)),
    }


def _actions(console: Console, phase: Phase) -> list[str]:
    """What the control plane can do to a batch in ``phase``: cancel it while it has not ended
    (and is not canceling already), delete it once it has (if its API deletes batches)."""
    if phase == Phase.ENDED:
        return ["delete"] if console.deletable else []
    return [] if phase == Phase.CANCELING else ["cancel"]


def request_row(console: Console, entry: Entry, states: RequestStates, i: int) -> dict[str, Any]:
    batch = entry.batch
    code = states.states[i]
    error = console.error(entry, i) if code == ERRORED else None
    t = states.times[i]
    return {
        "index": i,
        "custom_id": batch.custom_ids[i],
        "state": STATE_NAMES[code],
        "error_type": error[0] if error else None,
        "finished_at": rfc3339(batch.created_at + t) if t >= 0 else None,
    }


def _scenario_of(batch: Batch) -> dict[str, Any]:
    """The scenario a batch was created under, as plain data."""
    return batch.scenario.to_dict()


# -- what the routes answer (the JSON routes and the page's first view alike) -----------------------


def batch_list(ctx: ApiContext, q: Mapping[str, str], now: int) -> dict[str, Any]:
    """``GET /_batchsim/batches``: a page of batches, newest first, with counts by status, by
    provider and by key."""
    status = q.get("status") or None
    provider = q.get("provider") or None
    names = [p.name for p in ctx.providers]
    if provider is not None and provider not in names:
        raise InvalidError(f"provider: expected one of {', '.join(names)}")
    known = [s for p in ctx.providers if provider in (None, p.name) for s in p.console.statuses]
    if status is not None and status not in known:
        raise InvalidError(f"status: expected one of {', '.join(dict.fromkeys(known))}")
    wanted_key = q.get("key") or None
    offset = _int(q, "offset", 0, 0, 1 << 40)
    limit = _int(q, "limit", 50, 1, _MAX_PAGE)
    by_status: dict[str, int] = {}
    by_provider = dict.fromkeys(names, 0)
    keys: dict[str, dict[str, Any]] = {}
    chosen: list[tuple[Console, Entry]] = []
    seen: set[str] = set()
    for console, entry in all_entries(ctx):
        batch = entry.batch
        kid = key_id(batch.workspace)
        key = keys.get(kid)
        if key is None:
            key = keys[kid] = {"key_id": kid, "key": key_tail(batch.workspace), "batches": 0}
        key["batches"] += 1
        by_provider[console.name] += 1
        if wanted_key is not None and kid != wanted_key:
            continue
        if provider is not None and console.name != provider:
            continue
        if console.name not in seen:
            seen.add(console.name)
            for name in console.statuses:
                by_status.setdefault(name, 0)
        batch_status = console.status(entry, now)
        by_status[batch_status] = by_status.get(batch_status, 0) + 1
        if status is None or batch_status == status:
            chosen.append((console, entry))
    if provider is not None and provider not in seen:  # its lifecycle, even with no batch yet
        for name in next(p.console.statuses for p in ctx.providers if p.name == provider):
            by_status.setdefault(name, 0)
    return {
        "now": rfc3339(now),
        "total": len(chosen),
        "offset": offset,
        "limit": limit,
        "by_status": by_status,
        "by_provider": by_provider,
        "keys": list(keys.values()),
        "data": [batch_row(c, e, now) for c, e in chosen[offset : offset + limit]],
    }


def batch_detail(console: Console, entry: Entry, now: int, base_url: str) -> dict[str, Any]:
    """``GET /_batchsim/batches/{id}``: the row, the API's object, the scenario and seed it was
    created under, its files, its timeline and its requests' states."""
    shown = console.show(entry, now, base_url)
    detail = {
        **batch_row(console, entry, now),
        "now": rfc3339(now),
        "object": shown,
        "scenario": _scenario_of(entry.batch),
        "files": console.files(entry, now),
        "timeline": timeline(entry, now),
        "request_states": request_states(entry, now).counts(),
    }
    if console.name == "anthropic":
        detail["message_batch"] = shown
    return detail


def request_list(console: Console, entry: Entry, q: Mapping[str, str], now: int) -> dict[str, Any]:
    """``GET /_batchsim/batches/{id}/requests``: a page of a batch's requests."""
    batch = entry.batch
    state = q.get("state") or None
    if state is not None and state not in _STATE_CODES:
        raise InvalidError(f"state: expected one of {', '.join(STATE_NAMES)}")
    text = q.get("q") or None
    offset = _int(q, "offset", 0, 0, 1 << 40)
    limit = _int(q, "limit", 100, 1, _MAX_PAGE)
    states = request_states(entry, now)
    n = batch.size
    if state is None and text is None:
        total = n
        indices: range | list[int] = range(offset, min(n, offset + limit))
    else:
        code = _STATE_CODES[state] if state is not None else -1
        codes, ids = states.states, batch.custom_ids
        matching = [i for i in range(n) if (code < 0 or codes[i] == code) and (text is None or text in ids[i])]
        total = len(matching)
        indices = matching[offset : offset + limit]
    return {
        "now": rfc3339(now),
        "ended": states.ended,
        "total": total,
        "offset": offset,
        "limit": limit,
        "counts": states.counts(),
        "data": [request_row(console, entry, states, i) for i in indices],
    }


def request_detail(console: Console, entry: Entry, raw: str, now: int) -> dict[str, Any]:
    """``GET /_batchsim/batches/{id}/requests/{index}``: one request, its params and result."""
    batch = entry.batch
    n = batch.size
    if not (raw.isascii() and raw.isdigit() and len(raw) <= _MAX_INDEX_DIGITS) or int(raw) >= n:
        raise NotFoundError("request", raw[:40], f"batch {batch.id} has no request number {raw[:40]!r} (it has {n})")
    i = int(raw)
    states = request_states(entry, now)
    row = request_row(console, entry, states, i)
    error = console.error(entry, i) if states.states[i] == ERRORED else None
    return {
        **row,
        "error_message": error[1] if error else None,
        "params": console.params(entry, i),
        "result": console.result(entry, i) if states.ended else None,
    }


def journal_list(ctx: ApiContext, q: Mapping[str, str]) -> dict[str, Any]:
    """``GET /_batchsim/journal/recent``: the newest calls first, in summary; each call's ``id``
    names it for ``GET /_batchsim/journal/{id}``."""
    endpoint = q.get("endpoint") or None
    method = (q.get("method") or "").upper() or None
    status = q.get("status") or None
    wanted_key = q.get("key") or None
    faults_only = q.get("fault") in ("1", "true")
    limit = _int(q, "limit", 100, 1, 10_000)
    rows: list[dict[str, Any]] = []
    total = 0
    endpoints: set[str] = set()
    first, calls = ctx.journal.numbered()
    for position in range(first + len(calls) - 1, first - 1, -1):
        call = calls[position - first]
        endpoints.add(call.endpoint)
        if endpoint is not None and call.endpoint != endpoint:
            continue
        if method is not None and call.method != method:
            continue
        if status is not None and not _status_matches(call.status, status):
            continue
        if faults_only and call.fault is None:
            continue
        key = call.key
        if wanted_key is not None and (key is None or key_id(key) != wanted_key):
            continue
        total += 1
        if len(rows) < limit:
            rows.append(
                {
                    "id": position,
                    "method": call.method,
                    "path": call.path,
                    "query": call.query,
                    "status": call.status,
                    "endpoint": call.endpoint,
                    "key": key_tail(key) if key is not None else None,
                    "key_id": key_id(key) if key is not None else None,
                    "time": rfc3339(call.at) if call.at is not None else None,
                    "fault": call.fault,
                }
            )
    return {"total": total, "endpoints": sorted(endpoints), "data": rows}


def journal_call(ctx: ApiContext, raw: str) -> dict[str, Any]:
    """``GET /_batchsim/journal/{id}``: one call as the journal keeps it (credentials redacted,
    the body cut to 64 KiB), while the journal keeps it."""
    call = None
    if raw.isascii() and raw.isdigit() and len(raw) <= 20:
        call = ctx.journal.at(int(raw))
    if call is None:
        raise NotFoundError("call", raw[:40], f"the journal has no call {raw[:40]!r} (or no longer keeps it)")
    key = call.key
    return {
        "id": int(raw),
        **call.to_dict(),
        "key": key_tail(key) if key is not None else None,
        "key_id": key_id(key) if key is not None else None,
    }


# -- routes ----------------------------------------------------------------------------------------


@cache
def _static(name: str) -> bytes:
    return files("batchsim").joinpath("_http", "static", name).read_bytes()


def dashboard_routes(ctx: ApiContext) -> list[Route]:
    clock = ctx.clock

    async def root(request: Request) -> Response:
        return RedirectResponse(UI, 307)

    def open_data() -> bool:
        return ctx.admin_token is None  # the page is open: with a token, it is rendered empty

    async def page(request: Request) -> Response:
        now = clock.now()
        shell = _shell(ctx, now)
        if not open_data():
            return _page(render_overview(shell, None, {}, None, None))
        where = {k: v for k in ("provider", "status", "key", "offset") if (v := request.query_params.get(k))}
        try:
            listed, problem = batch_list(ctx, where, now), None
        except DomainError as exc:
            where, problem = {}, exc.message
            listed = batch_list(ctx, where, now)
        journal = journal_list(ctx, {"limit": "100"})
        return _page(render_overview(shell, listed, where, journal, problem))

    async def batch_page(request: Request) -> Response:
        now = clock.now()
        shell = _shell(ctx, now)
        batch_id = request.path_params["batch_id"]
        if not open_data():
            return _page(render_batch(shell, batch_id, None, None, {}, None, None))
        try:
            console, entry = find_entry(ctx, batch_id)
        except NotFoundError:
            return _page(render_missing(shell, batch_id), 404)
        q = request.query_params
        detail = batch_detail(console, entry, now, ctx.base_url(request.scope))
        where = {k: v for k in ("state", "q", "offset") if (v := q.get(k))}
        problem = None
        try:
            listed = request_list(console, entry, where, now)
        except DomainError as exc:
            where, problem = {}, exc.message
            listed = request_list(console, entry, where, now)
        chosen = None
        if q.get("request"):
            try:
                chosen = request_detail(console, entry, q["request"], now)
            except DomainError as exc:
                problem = exc.message
        return _page(render_batch(shell, batch_id, detail, listed, where, chosen, problem))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response(b"not found", 404, media_type="text/plain")
        return _file(name)

    async def config(request: Request) -> Any:
        return {
            "admin_token": ctx.admin_token is not None,
            "version": _version(),
            "providers": [
                {"name": p.name, "statuses": list(p.console.statuses), "deletes": p.console.deletable}
                for p in ctx.providers
            ],
        }

    async def batches(request: Request) -> Any:
        return batch_list(ctx, request.query_params, clock.now())

    async def one_batch(request: Request) -> Any:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        return batch_detail(console, entry, clock.now(), ctx.base_url(request.scope))

    async def cancel(request: Request) -> Any:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        console.cancel(entry)
        console, entry = find_entry(ctx, entry.batch.id)
        return batch_row(console, entry, clock.now())

    async def delete(request: Request) -> Any:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        console.delete(entry)
        return {"id": entry.batch.id, "provider": console.name, "deleted": True}

    async def requests(request: Request) -> Any:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        return request_list(console, entry, request.query_params, clock.now())

    async def one_request(request: Request) -> Any:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        return request_detail(console, entry, request.path_params["index"], clock.now())

    async def results(request: Request) -> Response:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        if clock.now() < entry.batch.ended_at(entry.cancel_initiated_at):
            raise InvalidError(f"batch {entry.batch.id} has not ended: its results are not ready")
        return _download(console.results(entry), f"{entry.batch.id}_results.jsonl")

    async def batch_file(request: Request) -> Response:
        console, entry = find_entry(ctx, request.path_params["batch_id"])
        name = request.path_params["name"]
        return _download(console.file(entry, name), f"{entry.batch.id}_{name}.jsonl")

    async def recent_calls(request: Request) -> Any:
        return journal_list(ctx, request.query_params)

    async def one_call(request: Request) -> Any:
        return journal_call(ctx, request.path_params["call_id"])

    base = "/_batchsim"
    batch = f"{base}/batches/{{batch_id}}"
    return [
        Route("/", root, methods=["GET"]),
        Route(UI, page, methods=["GET"]),
        Route(UI + "/", page, methods=["GET"]),
        Route(UI + "/batches/{batch_id}", batch_page, methods=["GET"]),
        Route(UI + "/static/{name}", static, methods=["GET"]),
        Route(UI + "/config", guarded(ctx, config, open_route=True), methods=["GET"]),
        Route(f"{base}/batches", guarded(ctx, batches), methods=["GET"]),
        Route(batch, guarded(ctx, one_batch), methods=["GET"]),
        Route(batch, guarded(ctx, delete), methods=["DELETE"]),
        Route(f"{batch}/cancel", guarded(ctx, cancel), methods=["POST"]),
        Route(f"{batch}/requests", guarded(ctx, requests), methods=["GET"]),
        Route(f"{batch}/requests/{{index}}", guarded(ctx, one_request), methods=["GET"]),
        Route(f"{batch}/results", guarded(ctx, results), methods=["GET"]),
        Route(f"{batch}/files/{{name}}", guarded(ctx, batch_file), methods=["GET"]),
        Route(f"{base}/journal/recent", guarded(ctx, recent_calls), methods=["GET"]),
        Route(f"{base}/journal/{{call_id}}", guarded(ctx, one_call), methods=["GET"]),
    ]


def _shell(ctx: ApiContext, now: int) -> dict[str, Any]:
    """What the page's frame shows: the version, and the clock unless the data is closed."""
    clock = ctx.clock
    open_data = ctx.admin_token is None
    return {
        "version": _version(),
        "clock_kind": clock.kind if open_data else None,
        "now": rfc3339(now) if open_data else None,
        "providers": [p.name for p in ctx.providers],
        "admin_token": not open_data,
    }


def _download(chunks: Any, filename: str) -> Response:
    response = StreamingResponse(chunks, 200, None, "application/x-jsonl")
    response.headers["content-disposition"] = f'attachment; filename="{filename}"'
    return response


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("batchsim")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "unknown"


_PAGE_HEADERS = {
    "cache-control": "no-cache",
    # Scripts, styles and images only from the package's own files (no inline script or style: the
    # page sizes its bars with SVG attributes); never framed.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


def _file(name: str) -> Response:
    suffix = name[name.rfind(".") :]
    return Response(_static(name), 200, _PAGE_HEADERS, _TYPES[suffix])


def _page(html: str, status: int = 200) -> Response:
    """The rendered page, with the headers the package's files have."""
    headers = {k: v for k, v in _file("favicon.svg").headers.items() if k not in ("content-length", "content-type")}
    return Response(html.encode(), status, headers, _TYPES[".html"])


def _status_matches(status: int, wanted: str) -> bool:
    """``wanted`` is a status (``429``) or a class (``4xx``, ``5xx``, ``2xx``)."""
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0] in "12345":
        return status // 100 == int(wanted[0])
    return str(status) == wanted
