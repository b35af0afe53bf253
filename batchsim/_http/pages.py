"""The dashboard's first view, rendered by the server into ``static/index.html``.

The page's script redraws each part from the JSON routes it polls; this module draws the same
parts from the same data (what those routes answer) so that the page shows the batches, a batch
or the journal before its script has run, and without it. Every value is escaped; the markup
holds no script and no style attribute (the page works under ``default-src 'self'``): count
bars are SVG rectangles sized by attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from html import escape
from importlib.resources import files
from string import Template
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["Html", "counts_label", "render_batch", "render_missing", "render_overview", "when"]

UI = "/_batchsim/ui"
OUTCOMES = ("succeeded", "errored", "canceled", "expired")
REQUEST_STATES = (*OUTCOMES, "running", "queued")
_VOID = frozenset({"input", "br", "meta", "link", "img"})
_BAR = 1000  # the bar's width in its own units (its viewBox)
_NEEDS_TOKEN = "This server's control plane needs its admin token: the page shows its data once you give it."


class Html(str):
    """Markup, escaped already."""

    __slots__ = ()


Node = Html | str | int | float | None | Iterable["Node"]


def h(tag: str, attrs: Mapping[str, object] | None = None, *children: Node) -> Html:
    """An element: attribute values and text children escaped (``None``/``False`` attributes
    left out, ``True`` ones bare); :class:`Html` children kept as they are."""
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(f" {name}" if value is True else f' {name}="{escape(str(value), quote=True)}"')
    parts.append(">")
    if tag not in _VOID:
        _children(parts, children)
        parts.append(f"</{tag}>")
    return Html("".join(parts))


def _children(parts: list[str], children: Iterable[Node]) -> None:
    for child in children:
        if child is None:
            continue
        if isinstance(child, Html):
            parts.append(child)
        elif isinstance(child, str | int | float):
            parts.append(escape(str(child), quote=False))
        else:
            _children(parts, child)


def fragment(*children: Node) -> Html:
    parts: list[str] = []
    _children(parts, children)
    return Html("".join(parts))


def when(rfc: str | None) -> str:
    """``2026-01-01T00:10:00.000000Z`` as ``2026-01-01 00:10:00`` (``—`` for none)."""
    if not rfc:
        return "\u2014"
    text = rfc.replace("T", " ")
    text = text.removesuffix("Z")
    dot = text.find(".")
    return text[:dot] if dot >= 0 else text


def number(n: int) -> str:
    return f"{n:,}"


# -- pieces the page's script draws too (app.js: countsCell, batchRow, ...) ------------------------


def counts_label(row: Mapping[str, Any]) -> str:
    """What a count bar says in words: how many have finished while the batch runs, the
    outcomes once it has ended."""
    total = row["requests"]
    counts = row["request_counts"]
    if not total:
        return "no requests"
    if counts.get("processing"):
        return f"{number(row['finished'])} of {number(total)} finished"
    shown = [f"{number(counts[name])} {name}" for name in OUTCOMES if counts.get(name)]
    return " \u00b7 ".join(shown) or f"{number(total)} requests"


def counts_cell(row: Mapping[str, Any]) -> Html:
    """A stacked bar of outcomes (a shade for the requests finished while it runs) and its numbers."""
    total = row["requests"] or 1
    counts = row["request_counts"]
    rects = [h("rect", {"class": "s-processing", "width": _BAR, "height": 10})]
    x = 0.0
    for name in OUTCOMES:
        if counts.get(name):
            width = _BAR * counts[name] / total
            rects.append(h("rect", {"class": f"s-{name}", "x": f"{x:.1f}", "width": f"{width:.1f}", "height": 10}))
            x += width
    if counts.get("processing"):
        rects.append(h("rect", {"class": "progress", "width": f"{_BAR * row['progress']:.1f}", "height": 10}))
    svg = h(
        "svg",
        {
            "class": "bar",
            "viewBox": f"0 0 {_BAR} 10",
            "preserveAspectRatio": "none",
            "aria-hidden": "true",
            "focusable": "false",
        },
        rects,
    )
    return h("span", {"class": "counts"}, svg, h("span", {"class": "bar-label"}, counts_label(row)))


def status_pill(row: Mapping[str, Any], **attrs: object) -> Html:
    return h("span", {"class": f"status phase-{row['phase']}", **attrs}, row["status"])


def batch_href(batch_id: str, **query: object) -> str:
    kept = {k: v for k, v in query.items() if v not in (None, "", 0)}
    return f"{UI}/batches/{quote(batch_id, safe='')}" + (f"?{urlencode(kept)}" if kept else "")


def overview_href(**query: object) -> str:
    kept = {k: v for k, v in query.items() if v not in (None, "", 0)}
    return UI + (f"?{urlencode(kept)}" if kept else "")


def batch_row(row: Mapping[str, Any]) -> Html:
    batch_id = row["id"]
    return h(
        "tr",
        {"data-id": batch_id},
        h("td", {"class": "id"}, h("a", {"href": batch_href(batch_id), "data-key": f"batch:{batch_id}"}, batch_id)),
        h("td", {}, row["provider"]),
        h("td", {"class": "mono"}, row["key"]),
        h("td", {}, status_pill(row)),
        h("td", {"class": "num"}, number(row["requests"])),
        h("td", {}, counts_cell(row)),
        h("td", {"class": "when"}, when(row["created_at"])),
        h("td", {"class": "when"}, when(row["ended_at"])),
        h("td", {"class": "when"}, when(row["expires_at"])),
    )


def journal_row(call: Mapping[str, Any]) -> Html:
    cid = call["id"]
    path = call["path"] + (f"?{call['query']}" if call["query"] else "")
    return h(
        "tr",
        {"data-call": cid},
        h(
            "td",
            {},
            h(
                "button",
                {
                    "type": "button",
                    "class": "expand",
                    "aria-expanded": "false",
                    "aria-controls": f"call-{cid}",
                    "data-call": cid,
                    "data-key": f"call:{cid}",
                },
                h("span", {"aria-hidden": "true"}, "\u25b8"),
                h("span", {"class": "sr-only"}, f"headers and body of call {cid}"),
            ),
        ),
        h("td", {}, when(call["time"])),
        h("td", {}, call["method"]),
        h("td", {"class": "mono path"}, path),
        h("td", {}, call["status"]),
        h("td", {}, call["endpoint"]),
        h("td", {"class": "mono"}, call["key"] or "\u2014"),
        h("td", {}, h("span", {"class": "fault"}, call["fault"]) if call["fault"] else None),
    )


def request_row(batch_id: str, row: Mapping[str, Any], where: Mapping[str, Any], selected: int | None) -> Html:
    index = row["index"]
    chosen = selected == index
    return h(
        "tr",
        {"data-index": index, "class": "selected" if chosen else None},
        h("td", {"class": "muted num"}, index),
        h(
            "td",
            {"class": "id"},
            h(
                "a",
                {
                    "href": batch_href(batch_id, **{**where, "request": index}),
                    "data-index": index,
                    "data-key": f"request:{index}",
                    "aria-current": "true" if chosen else None,
                },
                row["custom_id"],
            ),
        ),
        h("td", {}, h("span", {"class": f"state s-text-{row['state']}"}, row["state"])),
        h("td", {}, row["error_type"] or ""),
        h("td", {}, when(row["finished_at"])),
    )


def pager(node_id: str, page: Mapping[str, Any], href: Any) -> Html:
    """Newer/older links (``href(offset)`` gives each one's URL); a link that leads nowhere is
    shown disabled."""
    offset, limit, total = page["offset"], page["limit"], page["total"]
    newer = max(0, offset - limit) if offset > 0 else None
    older = offset + limit if offset + limit < total else None
    shown = f"{number(offset + 1)}\u2013{number(min(total, offset + limit))} of {number(total)}" if total else "0 of 0"

    def link(target: int | None, text: str, key: str) -> Html:
        if target is None:
            return h("span", {"class": "pager-link", "aria-disabled": "true"}, text)
        return h("a", {"class": "pager-link", "href": href(target), "data-offset": target, "data-key": key}, text)

    return h(
        "nav",
        {"class": "pager", "id": node_id, "aria-label": "pages"},
        link(newer, "\u2039 newer", "pager:newer"),
        h("span", {"class": "muted"}, shown),
        link(older, "older \u203a", "pager:older"),
    )


def table(head: Sequence[str], body_id: str, rows: Iterable[Html], caption: str, empty: str, columns: int) -> Html:
    body = list(rows)
    if not body:
        body = [h("tr", {}, h("td", {"colspan": columns, "class": "muted"}, empty))]
    return h(
        "table",
        {},
        h("caption", {"class": "sr-only"}, caption),
        h("thead", {}, h("tr", {}, [h("th", {"scope": "col"}, name) for name in head])),
        h("tbody", {"id": body_id}, body),
    )


BATCH_COLUMNS = ("id", "provider", "key", "status", "requests", "counts", "created", "ended", "expires")
JOURNAL_COLUMNS = ("", "time", "method", "path", "status", "endpoint", "key", "fault")
REQUEST_COLUMNS = ("#", "custom_id", "state", "error type", "finished")


# -- the overview ----------------------------------------------------------------------------------


def render_overview(
    shell: Mapping[str, Any],
    listed: Mapping[str, Any] | None,
    where: Mapping[str, str],
    journal: Mapping[str, Any] | None,
    problem: str | None,
) -> str:
    """The batches (``listed``: what ``GET /_batchsim/batches`` answers for the filters
    ``where``), the scenario editor and the journal; ``None`` data when the admin token closes
    them."""
    main = fragment(
        h("h1", {"class": "sr-only"}, "batchsim dashboard"),
        _batches_section(shell, listed, where, problem),
        h(
            "section",
            {"id": "scenario", "aria-labelledby": "scenario-heading"},
            h("h2", {"id": "scenario-heading"}, "Scenario"),
            h(
                "p",
                {"class": "muted", "id": "scenario-help"},
                "JSON, the keys of a scenario file; applies to batches created afterwards.",
            ),
            h("label", {"class": "sr-only", "for": "scenario-text"}, "the active scenario, as JSON"),
            h("textarea", {"id": "scenario-text", "spellcheck": "false", "aria-describedby": "scenario-help"}),
            h(
                "div",
                {"class": "toolbar"},
                h("button", {"type": "button", "id": "scenario-apply"}, "apply"),
                h("button", {"type": "button", "id": "scenario-reload"}, "reload"),
                h("span", {"id": "scenario-status", "class": "muted", "role": "status"}),
            ),
            h("div", {"id": "scenario-error", "class": "error", "role": "alert"}),
        ),
        _journal_section(journal),
    )
    return _document(shell, "batchsim", "overview", main)


def _batches_section(
    shell: Mapping[str, Any], listed: Mapping[str, Any] | None, filters: Mapping[str, str], problem: str | None
) -> Html:
    rows = [batch_row(row) for row in listed["data"]] if listed else []
    empty = "no batches" if listed else _NEEDS_TOKEN
    total = sum(listed["by_status"].values()) if listed else None
    return h(
        "section",
        {"id": "batches", "aria-labelledby": "batches-heading"},
        h(
            "h2",
            {"id": "batches-heading"},
            "Batches ",
            h("span", {"id": "batches-total", "class": "muted"}, f"{number(total)} live" if total is not None else ""),
        ),
        _batch_filters(shell, listed, filters),
        h("p", {"id": "batches-problem", "class": "error", "role": "alert"}, problem),
        table(BATCH_COLUMNS, "batches-body", rows, "Batches, newest first", empty, len(BATCH_COLUMNS)),
        pager("batches-pager", listed, lambda offset: overview_href(**{**filters, "offset": offset}))
        if listed
        else h("nav", {"class": "pager", "id": "batches-pager", "aria-label": "pages"}),
    )


def _batch_filters(shell: Mapping[str, Any], listed: Mapping[str, Any] | None, filters: Mapping[str, Any]) -> Html:
    provider = filters.get("provider", "")
    status = filters.get("status", "")
    key = filters.get("key", "")
    by_provider = listed["by_provider"] if listed else {}
    everyone = sum(by_provider.values()) if listed else None
    providers = [h("option", {"value": ""}, "every provider" + (f" ({everyone})" if everyone is not None else ""))]
    for name in shell["providers"]:
        count = by_provider.get(name)
        label = f"{name} ({count})" if count is not None else name
        providers.append(h("option", {"value": name, "selected": name == provider}, label))
    keys = [h("option", {"value": ""}, "every key")]
    for k in listed["keys"] if listed else ():
        keys.append(h("option", {"value": k["key_id"], "selected": k["key_id"] == key}, f"{k['key']} ({k['batches']})"))
    chips: list[Html] = []
    if listed:
        by_status = listed["by_status"]
        all_count = sum(by_status.values())
        entries = [("", f"all {number(all_count)}")]
        entries += [(name, f"{name} {number(n)}") for name, n in by_status.items() if n or provider or name == status]
        for name, label in entries:
            chips.append(
                h(
                    "a",
                    {
                        "class": "chip",
                        "href": overview_href(provider=provider, key=key, status=name),
                        "data-status": name,
                        "data-key": f"status:{name}",
                        "aria-current": "true" if name == status else None,
                    },
                    label,
                )
            )
    return h(
        "form",
        {"id": "batch-filters", "class": "filters", "method": "get", "action": UI},
        h(
            "div",
            {"class": "toolbar"},
            h("label", {"for": "provider-filter"}, "provider"),
            h("select", {"id": "provider-filter", "name": "provider"}, providers),
            h("label", {"for": "key-filter"}, "key"),
            h("select", {"id": "key-filter", "name": "key"}, keys),
            h("noscript", {}, h("button", {"type": "submit"}, "filter")),
        ),
        h("div", {"id": "status-filter", "class": "chips", "role": "group", "aria-label": "status"}, chips),
    )


def _journal_section(journal: Mapping[str, Any] | None) -> Html:
    rows = [journal_row(call) for call in journal["data"]] if journal else []
    total = ""
    if journal:
        shown = len(journal["data"])
        total = f"{number(journal['total'])} calls" + (f", newest {shown} shown" if journal["total"] > shown else "")
    endpoints = [h("option", {"value": ""}, "every endpoint")]
    endpoints += [h("option", {"value": e}, e) for e in (journal["endpoints"] if journal else ())]
    return h(
        "section",
        {"id": "journal", "aria-labelledby": "journal-heading"},
        h("h2", {"id": "journal-heading"}, "Journal ", h("span", {"id": "journal-total", "class": "muted"}, total)),
        h(
            "div",
            {"class": "toolbar"},
            h("label", {"for": "journal-endpoint"}, "endpoint"),
            h("select", {"id": "journal-endpoint"}, endpoints),
            h("label", {"for": "journal-status"}, "status"),
            h(
                "select",
                {"id": "journal-status"},
                [h("option", {"value": s}, s or "every status") for s in ("", "2xx", "4xx", "5xx", "429", "529")],
            ),
            h("label", {}, h("input", {"type": "checkbox", "id": "journal-faults"}), " injected faults only"),
        ),
        table(
            JOURNAL_COLUMNS,
            "journal-body",
            rows,
            "API calls, newest first; open one to see its headers and body",
            "no calls" if journal else _NEEDS_TOKEN,
            len(JOURNAL_COLUMNS),
        ),
    )


# -- one batch -------------------------------------------------------------------------------------


def render_batch(
    shell: Mapping[str, Any],
    batch_id: str,
    detail: Mapping[str, Any] | None,
    listed: Mapping[str, Any] | None,
    where: Mapping[str, str],
    chosen: Mapping[str, Any] | None,
    problem: str | None,
) -> str:
    """One batch (``detail``: what ``GET /_batchsim/batches/{id}`` answers), a page of its
    requests (``listed``, for the filters ``where``) and the request the URL names (``chosen``)."""
    main = fragment(
        _crumbs(),
        h(
            "section",
            {"id": "batch", "aria-labelledby": "batch-title"},
            h(
                "h1",
                {"id": "batch-title"},
                h("span", {"id": "batch-provider", "class": "provider"}, detail["provider"] if detail else "batch"),
                " ",
                h("span", {"class": "mono"}, batch_id),
            ),
            h("div", {"id": "batch-summary"}, batch_summary(detail) if detail else h("p", {}, _NEEDS_TOKEN)),
            h("div", {"id": "batch-origin"}, batch_origin(detail) if detail else None),
            h("div", {"id": "batch-links"}, batch_links(detail) if detail else None),
            h("div", {"id": "batch-actions", "class": "toolbar"}, batch_actions(detail) if detail else None),
            h("p", {"id": "action-status", "role": "status"}),
            h("p", {"id": "batch-problem", "class": "error", "role": "alert"}, problem),
        ),
        h(
            "section",
            {"id": "timeline", "aria-labelledby": "timeline-heading"},
            h("h2", {"id": "timeline-heading"}, "Timeline"),
            h("div", {"id": "timeline-chart"}, h("p", {"class": "muted"}, "The chart is drawn by the page's script.")),
        ),
        h(
            "div",
            {"class": "grid"},
            _requests_section(batch_id, listed, where, chosen),
            h(
                "section",
                {"id": "request-detail", "aria-labelledby": "request-heading"},
                request_detail(chosen) if chosen else _no_request(),
            ),
        ),
    )
    return _document(shell, f"batchsim \u00b7 {batch_id}", "batch", main)


def _crumbs() -> Html:
    return h(
        "nav", {"class": "crumbs", "aria-label": "breadcrumb"}, h("a", {"href": UI, "id": "back"}, "\u2039 all batches")
    )


def render_missing(shell: Mapping[str, Any], batch_id: str) -> str:
    main = fragment(
        _crumbs(),
        h(
            "section",
            {"id": "batch"},
            h("h1", {"id": "batch-title"}, "No such batch"),
            h("p", {"class": "error"}, f"No batch with id {batch_id!r}: deleted, or the emulator was reset."),
        ),
    )
    return _document(shell, "batchsim \u00b7 no such batch", "missing", main)


def batch_summary(d: Mapping[str, Any]) -> Html:
    facts: list[Node] = [
        status_pill(d, id="batch-status"),
        f" {number(d['requests'])} requests \u00b7 key {d['key']} \u00b7 created {when(d['created_at'])} \u00b7 ",
        f"ended {when(d['ended_at'])}" if d["ended_at"] else f"ends {when(d['expected_end'])} as things stand",
        f" \u00b7 expires {when(d['expires_at'])}",
        f" \u00b7 cancel {when(d['cancel_initiated_at'])}" if d["cancel_initiated_at"] else None,
    ]
    legend = [
        h("li", {}, h("i", {"class": f"s-{name}", "aria-hidden": "true"}), f"{name} {number(n)}")
        for name, n in d["request_states"].items()
    ]
    return fragment(
        h("p", {"class": "facts"}, facts),
        h("div", {"class": "counts-wide"}, counts_cell(d)),
        h("ul", {"class": "legend", "aria-label": "requests by state"}, legend),
    )


def batch_origin(d: Mapping[str, Any]) -> Html:
    """The seed and scenario the batch was created under (they never change)."""
    return fragment(
        h("p", {}, "created under seed ", h("b", {"id": "batch-seed"}, d["seed"])),
        h(
            "details",
            {"id": "batch-scenario"},
            h("summary", {}, "the scenario it was created under"),
            h("pre", {"id": "batch-scenario-json"}, json.dumps(d["scenario"], indent=2)),
        ),
    )


def batch_links(d: Mapping[str, Any]) -> Html:
    batch_id = d["id"]
    base = f"/_batchsim/batches/{quote(batch_id, safe='')}"
    links: list[Node] = [h("a", {"id": "raw-json", "href": base, "data-filename": f"{batch_id}.json"}, "raw JSON")]
    if d["phase"] == "ended":
        links += [
            " \u00b7 ",
            h(
                "a",
                {"id": "results-link", "href": f"{base}/results", "download": f"{batch_id}_results.jsonl"},
                "results (JSONL)",
            ),
        ]
    for name, file_id in d["files"].items():
        links += [
            " \u00b7 ",
            h(
                "a",
                {
                    "id": f"file-{name}",
                    "href": f"{base}/files/{quote(name, safe='')}",
                    "download": f"{batch_id}_{name}.jsonl",
                },
                f"{name} file",
            ),
            " ",
            h("span", {"class": "mono muted"}, file_id),
        ]
    facts = [(k, v) for k, v in d["links"].items() if isinstance(v, str | int | float) and not isinstance(v, bool)]
    errors = [e for e in d["links"].get("errors") or () if isinstance(e, Mapping)]
    parts: list[Node] = [h("p", {"class": "links"}, links)]
    if facts:
        parts.append(
            h("dl", {"class": "facts-list"}, [(h("dt", {}, k), h("dd", {"class": "mono"}, v)) for k, v in facts])
        )
    if errors:
        parts.append(h("h2", {"id": "batch-errors-heading"}, "Validation errors"))
        parts.append(
            h(
                "ul",
                {"id": "batch-errors", "aria-labelledby": "batch-errors-heading"},
                [h("li", {}, error_text(e)) for e in errors],
            )
        )
    return fragment(*parts)


def error_text(e: Mapping[str, Any]) -> str:
    where = f"line {e['line']}: " if e.get("line") is not None else ""
    detail = ", ".join(str(e[k]) for k in ("code", "param") if e.get(k))
    return f"{where}{e.get('message', '')}" + (f" ({detail})" if detail else "")


def batch_actions(d: Mapping[str, Any]) -> Html:
    actions = d["actions"]
    parts: list[Node] = []
    if "cancel" in actions:
        parts.append(h("button", {"type": "button", "id": "cancel-batch", "data-key": "cancel"}, "cancel batch"))
    if "delete" in actions:
        attrs = {"type": "button", "id": "delete-batch", "class": "danger", "data-key": "delete"}
        parts.append(h("button", attrs, "delete batch"))
    if not parts:
        why = "canceling: it ends soon" if d["phase"] == "canceling" else "ended (its API has no delete)"
        parts.append(h("span", {"class": "muted"}, f"nothing to do: {why}"))
    return fragment(*parts)


def _requests_section(
    batch_id: str, listed: Mapping[str, Any] | None, where: Mapping[str, Any], chosen: Mapping[str, Any] | None
) -> Html:
    selected = chosen["index"] if chosen else None
    rows = [request_row(batch_id, row, where, selected) for row in listed["data"]] if listed else []
    total = ""
    if listed:
        total = number(listed["total"]) + (" matching" if where.get("state") or where.get("q") else "")
    state = where.get("state", "")
    return h(
        "section",
        {"id": "requests", "aria-labelledby": "requests-heading"},
        h("h2", {"id": "requests-heading"}, "Requests ", h("span", {"id": "requests-total", "class": "muted"}, total)),
        h(
            "form",
            {"class": "toolbar", "id": "requests-filters", "method": "get", "action": batch_href(batch_id)},
            h("label", {"for": "requests-state"}, "state"),
            h(
                "select",
                {"id": "requests-state", "name": "state"},
                h("option", {"value": ""}, "every state"),
                [h("option", {"value": s, "selected": s == state}, s) for s in REQUEST_STATES],
            ),
            h("label", {"for": "requests-q"}, "custom_id contains"),
            h("input", {"id": "requests-q", "name": "q", "value": where.get("q", ""), "type": "search"}),
            h("noscript", {}, h("button", {"type": "submit"}, "filter")),
        ),
        table(REQUEST_COLUMNS, "requests-body", rows, "The batch's requests", "no requests", len(REQUEST_COLUMNS)),
        pager("requests-pager", listed, lambda offset: batch_href(batch_id, **{**where, "offset": offset}))
        if listed
        else h("nav", {"class": "pager", "id": "requests-pager", "aria-label": "pages"}),
    )


def _no_request() -> Html:
    return fragment(h("h2", {"id": "request-heading"}, "Request"), h("p", {"class": "muted"}, "Pick a request."))


def request_detail(req: Mapping[str, Any]) -> Html:
    error = f" ({req['error_type']}: {req['error_message']})" if req["error_type"] else ""
    result = json.dumps(req["result"], indent=2) if req["result"] is not None else "(the batch has not ended)"
    return fragment(
        h(
            "h2",
            {"id": "request-heading"},
            f"Request #{req['index']}: ",
            h("span", {"class": "mono"}, req["custom_id"]),
        ),
        h("p", {}, f"{req['state']}{error} \u00b7 finished {when(req['finished_at'])}"),
        h("h3", {}, "params"),
        h("pre", {"id": "request-params"}, json.dumps(req["params"], indent=2)),
        h("h3", {}, "result"),
        h("pre", {"id": "request-result"}, result),
    )


# -- the document ----------------------------------------------------------------------------------


@cache
def _template() -> Template:
    return Template(files("batchsim").joinpath("_http", "static", "index.html").read_text("utf-8"))


def _document(shell: Mapping[str, Any], title: str, view: str, main: Html) -> str:
    kind = shell["clock_kind"]
    return _template().substitute(
        title=escape(title),
        view=escape(view),
        version=escape(shell["version"]),
        clock_kind=escape(kind) if kind else "\u2026",
        clock_now=escape(when(shell["now"])) if shell["now"] else "\u2026",
        advance_hidden="" if kind == "virtual" else " hidden",
        main=main,
    )
