// The batchsim dashboard: plain JavaScript over the control plane's JSON routes (no build, no CDN).
// The server renders each view's first state (batchsim/_http/pages.py draws the same parts from the
// same data); this script keeps them current, every 2 s. No inline script or style, no eval: the
// page works under a Content-Security-Policy of default-src 'self'.
"use strict";

const UI = "/_batchsim/ui";
const OUTCOMES = ["succeeded", "errored", "canceled", "expired"];
const BAR = 1000; // a count bar's width in its own units (its viewBox)
const NS = "http://www.w3.org/2000/svg";
const state = {
  config: { admin_token: false, version: "", providers: [] },
  token: sessionStorage.getItem("batchsim-admin-token") || "",
  view: "overview",
  batchId: null,
  batches: { provider: "", status: "", key: "", offset: 0, limit: 50 },
  journal: { endpoint: "", status: "", fault: false, open: new Set(), calls: new Map(), page: null },
  requests: { state: "", q: "", offset: 0, limit: 100, selected: null, shown: null },
  batch: null,
  scenarioLoaded: false,
  drawn: new Map(),
  busy: false,
  again: false,
};

class ApiFailure extends Error {
  constructor(message, status) { super(message); this.status = status; }
}
class NeedToken extends Error {}

// -- helpers ---------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function $(id) { return document.getElementById(id); }

function when(rfc) { return rfc ? rfc.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "—"; }

function num(n) { return Number(n).toLocaleString("en-US"); }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.abs(seconds);
  if (s < 1) return `${Math.round(seconds * 1000)} ms`;
  if (s < 120) return `${+seconds.toFixed(1)} s`;
  if (s < 7200) return `${+(seconds / 60).toFixed(1)} min`;
  if (s < 172800) return `${+(seconds / 3600).toFixed(1)} h`;
  return `${+(seconds / 86400).toFixed(1)} d`;
}

function parseAmount(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$/i.exec(text || "");
  if (!m) return null;
  const unit = (m[2] || "s").toLowerCase();
  const factor = { s: 1, sec: 1, m: 60, min: 60, h: 3600, d: 86400 }[unit];
  return parseFloat(m[1]) * factor;
}

function query(values) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== "" && v !== null && v !== undefined && v !== 0 && v !== false) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

function batchHref(id, values) { return `${UI}/batches/${encodeURIComponent(id)}${query(values || {})}`; }

// Replace a part of the page only when what it shows changed (text selections and the open state
// of what it holds survive), and give focus back to the element that had it (by its data-key).
function draw(node, signature, build) {
  if (!node || state.drawn.get(node.id) === signature) return;
  const active = document.activeElement;
  const key = active && node.contains(active) ? active.dataset.key : null;
  node.replaceChildren(...[build()].flat(Infinity));
  state.drawn.set(node.id, signature);
  if (key) {
    const again = [...node.querySelectorAll("[data-key]")].find((e) => e.dataset.key === key);
    if (again) again.focus();
  }
}

async function api(path, options) {
  const opts = Object.assign({ method: "GET" }, options || {});
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers["x-batchsim-admin-token"] = state.token;
  if (opts.json !== undefined) {
    headers["content-type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  opts.headers = headers;
  const response = await fetch(path, opts);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (response.status === 401 && state.config.admin_token) {
    askToken(state.token ? "that token was refused" : "");
    throw new NeedToken("admin token needed");
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    throw new ApiFailure(message, response.status);
  }
  return body;
}

function askToken(message) {
  state.token = "";
  sessionStorage.removeItem("batchsim-admin-token");
  $("token-form").hidden = false;
  $("token-error").textContent = message || "";
  $("token-input").focus();
}

// -- where the page is: its URL ---------------------------------------------------------------------

function readLocation() {
  const m = /^\/_batchsim\/ui\/batches\/([^/]+)$/.exec(location.pathname);
  const q = new URLSearchParams(location.search);
  const int = (name) => Math.max(0, parseInt(q.get(name) || "0", 10) || 0);
  if (m) {
    state.view = document.body.dataset.view === "missing" ? "missing" : "batch";
    try { state.batchId = decodeURIComponent(m[1]); } catch (e) { state.batchId = m[1]; }
    const selected = q.get("request");
    Object.assign(state.requests, {
      state: q.get("state") || "", q: q.get("q") || "", offset: int("offset"),
      selected: selected !== null && /^\d+$/.test(selected) ? Number(selected) : null,
    });
  } else {
    state.view = "overview";
    Object.assign(state.batches, {
      provider: q.get("provider") || "", status: q.get("status") || "", key: q.get("key") || "", offset: int("offset"),
    });
  }
}

function requestsWhere() {
  const r = state.requests;
  return { state: r.state, q: r.q, offset: r.offset };
}

function overviewWhere() {
  const b = state.batches;
  return { provider: b.provider, key: b.key, status: b.status, offset: b.offset };
}

function writeLocation() {
  const url = state.view === "overview"
    ? `${UI}${query(overviewWhere())}`
    : batchHref(state.batchId, Object.assign(requestsWhere(), { request: state.requests.selected }));
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
}

// -- the header: clock, advance, reset ---------------------------------------------------------------

async function refreshClock() {
  const clock = await api("/_batchsim/clock");
  $("clock-kind").textContent = clock.kind;
  $("clock-now").textContent = when(clock.now);
  $("advance-controls").hidden = clock.kind !== "virtual";
}

async function advance(seconds) {
  $("clock-error").textContent = "";
  try {
    await api("/_batchsim/clock/advance", { method: "POST", json: { seconds } });
    await refresh();
  } catch (e) {
    if (!(e instanceof NeedToken)) $("clock-error").textContent = e.message;
  }
}

function wireHeader() {
  for (const id of ["advance-60", "advance-3600", "advance-86400"]) {
    $(id).addEventListener("click", () => advance(Number($(id).dataset.seconds)));
  }
  const custom = () => {
    const seconds = parseAmount($("advance-amount").value);
    if (seconds === null) { $("clock-error").textContent = "advance by a number of seconds, or 30s, 5m, 2h, 1d"; return; }
    advance(seconds);
  };
  $("advance-custom").addEventListener("click", custom);
  $("advance-amount").addEventListener("keydown", (e) => { if (e.key === "Enter") custom(); });
  $("reset").addEventListener("click", async () => {
    if (!confirm("Reset the emulator: forget every batch and call, restore the starting scenario and clock?")) return;
    try {
      await api("/_batchsim/reset", { method: "POST" });
      if (state.view !== "overview") { location.assign(UI); return; }
      state.scenarioLoaded = false;
      state.journal.open.clear();
      state.journal.calls.clear();
      await refresh();
    } catch (e) { if (!(e instanceof NeedToken)) $("clock-error").textContent = e.message; }
  });
  $("token-login").addEventListener("submit", async (e) => {
    e.preventDefault();
    state.token = $("token-input").value;
    sessionStorage.setItem("batchsim-admin-token", state.token);
    $("token-form").hidden = true;
    state.scenarioLoaded = false;
    await refresh();
  });
}

// -- pieces drawn in both views (pages.py draws them the same way) -------------------------------------

function countsLabel(row) {
  const counts = row.request_counts;
  if (!row.requests) return "no requests";
  if (counts.processing) return `${num(row.finished)} of ${num(row.requests)} finished`;
  const shown = OUTCOMES.filter((name) => counts[name]).map((name) => `${num(counts[name])} ${name}`);
  return shown.join(" · ") || `${num(row.requests)} requests`;
}

// A stacked bar of outcomes; while a batch runs, a shade as wide as the share of its requests
// that have finished (the row's progress). Its numbers are written beside it.
function countsCell(row) {
  const counts = row.request_counts;
  const total = row.requests || 1;
  const bar = svg("svg", { class: "bar", viewBox: `0 0 ${BAR} 10`, preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
  bar.append(svg("rect", { class: "s-processing", width: BAR, height: 10 }));
  let x = 0;
  for (const name of OUTCOMES) {
    if (!counts[name]) continue;
    const width = (BAR * counts[name]) / total;
    bar.append(svg("rect", { class: `s-${name}`, x: x.toFixed(1), width: width.toFixed(1), height: 10 }));
    x += width;
  }
  if (counts.processing) bar.append(svg("rect", { class: "progress", width: (BAR * row.progress).toFixed(1), height: 10 }));
  return h("span", { className: "counts" }, bar, h("span", { className: "bar-label" }, countsLabel(row)));
}

function statusPill(row, id) {
  return h("span", { className: `status phase-${row.phase}`, id }, row.status);
}

function pagerLinks(page, where, href) {
  const newer = where.offset > 0 ? Math.max(0, where.offset - where.limit) : null;
  const older = where.offset + where.limit < page.total ? where.offset + where.limit : null;
  const link = (target, text, key) => target === null
    ? h("span", { className: "pager-link", "aria-disabled": "true" }, text)
    : h("a", { className: "pager-link", href: href(target), "data-offset": target, "data-key": key }, text);
  return [
    link(newer, "‹ newer", "pager:newer"),
    h("span", { className: "muted" }, page.total ? `${num(where.offset + 1)}–${num(Math.min(page.total, where.offset + where.limit))} of ${num(page.total)}` : "0 of 0"),
    link(older, "older ›", "pager:older"),
  ];
}

function emptyRow(columns, text) {
  return h("tr", {}, h("td", { colspan: columns, className: "muted" }, text));
}

// -- the overview: batches, scenario, journal -------------------------------------------------------------

async function refreshBatches() {
  const b = state.batches;
  const list = () => api(`/_batchsim/batches${query(Object.assign(overviewWhere(), { limit: b.limit }))}`);
  let page, problem = "";
  try { page = await list(); } catch (e) {
    if (!(e instanceof ApiFailure) || e.status !== 400) throw e;
    problem = e.message; // a filter of the URL the server does not know: every batch instead
    Object.assign(b, { provider: "", status: "", key: "", offset: 0 });
    history.replaceState(null, "", UI);
    page = await list();
  }
  const all = Object.values(page.by_status).reduce((a, c) => a + c, 0);
  $("batches-total").textContent = `${num(all)} live`;
  if (problem) $("batches-problem").textContent = problem;
  const everyone = Object.values(page.by_provider).reduce((a, c) => a + c, 0);
  draw($("provider-filter"), JSON.stringify([page.by_provider, b.provider]), () => [
    h("option", { value: "" }, `every provider (${everyone})`),
    Object.entries(page.by_provider).map(([name, n]) => h("option", { value: name, selected: name === b.provider }, `${name} (${n})`))]);
  draw($("key-filter"), JSON.stringify([page.keys, b.key]), () => [
    h("option", { value: "" }, "every key"),
    page.keys.map((k) => h("option", { value: k.key_id, selected: k.key_id === b.key }, `${k.key} (${k.batches})`))]);
  const chips = [["", `all ${num(all)}`]].concat(
    Object.entries(page.by_status).filter(([s, n]) => n || b.provider || s === b.status).map(([s, n]) => [s, `${s} ${num(n)}`]));
  draw($("status-filter"), JSON.stringify([chips, b]), () => chips.map(([s, label]) => h("a", {
    className: "chip", href: `${UI}${query({ provider: b.provider, key: b.key, status: s })}`,
    "data-status": s, "data-key": `status:${s}`, "aria-current": s === b.status ? "true" : null,
  }, label)));
  draw($("batches-body"), JSON.stringify(page.data), () => page.data.length
    ? page.data.map((row) => h("tr", { "data-id": row.id },
      h("td", { className: "id" }, h("a", { href: batchHref(row.id), "data-key": `batch:${row.id}` }, row.id)),
      h("td", {}, row.provider),
      h("td", { className: "mono" }, row.key),
      h("td", {}, statusPill(row)),
      h("td", { className: "num" }, num(row.requests)),
      h("td", {}, countsCell(row)),
      h("td", { className: "when" }, when(row.created_at)),
      h("td", { className: "when" }, when(row.ended_at)),
      h("td", { className: "when" }, when(row.expires_at))))
    : emptyRow(9, "no batches"));
  draw($("batches-pager"), JSON.stringify([page.total, b]), () => pagerLinks(page, b,
    (offset) => `${UI}${query(Object.assign(overviewWhere(), { offset }))}`));
}

async function loadScenario() {
  if (state.scenarioLoaded) return;
  const scenario = await api("/_batchsim/scenario");
  $("scenario-text").value = JSON.stringify(scenario, null, 2);
  $("scenario-error").textContent = "";
  state.scenarioLoaded = true;
}

async function applyScenario() {
  $("scenario-error").textContent = "";
  $("scenario-status").textContent = "";
  let data;
  try { data = JSON.parse($("scenario-text").value); } catch (e) {
    $("scenario-error").textContent = `not JSON: ${e.message}`;
    return;
  }
  try {
    const applied = await api("/_batchsim/scenario", { method: "PUT", json: data });
    $("scenario-text").value = JSON.stringify(applied, null, 2);
    $("scenario-status").textContent = "applied";
  } catch (e) {
    if (!(e instanceof NeedToken)) $("scenario-error").textContent = e.message;
  }
}

async function refreshJournal() {
  const j = state.journal;
  const page = await api(`/_batchsim/journal/recent${query({ limit: 100, endpoint: j.endpoint, status: j.status, fault: j.fault ? "1" : "" })}`);
  j.page = page;
  $("journal-total").textContent = `${num(page.total)} calls${page.total > page.data.length ? `, newest ${page.data.length} shown` : ""}`;
  const select = $("journal-endpoint");
  const have = new Set([...select.options].map((o) => o.value));
  for (const e of page.endpoints) if (!have.has(e)) select.append(h("option", { value: e }, e));
  drawJournal();
}

function drawJournal() {
  const j = state.journal;
  const page = j.page;
  if (!page) return;
  const open = page.data.filter((c) => j.open.has(c.id)).map((c) => [c.id, j.calls.has(c.id)]);
  draw($("journal-body"), JSON.stringify([page.data, open]), () => page.data.length
    ? page.data.map((c) => {
      const isOpen = j.open.has(c.id);
      const row = h("tr", { "data-call": c.id, className: isOpen ? "open" : null },
        h("td", {}, h("button", {
          type: "button", className: "expand", "aria-expanded": isOpen ? "true" : "false", "aria-controls": `call-${c.id}`,
          "data-call": c.id, "data-key": `call:${c.id}`,
        }, h("span", { "aria-hidden": "true" }, isOpen ? "▾" : "▸"), h("span", { className: "sr-only" }, `headers and body of call ${c.id}`))),
        h("td", {}, when(c.time)),
        h("td", {}, c.method),
        h("td", { className: "mono path" }, c.path + (c.query ? `?${c.query}` : "")),
        h("td", {}, c.status),
        h("td", {}, c.endpoint),
        h("td", { className: "mono" }, c.key || "—"),
        h("td", {}, c.fault ? h("span", { className: "fault", title: "injected by the scenario" }, c.fault) : ""));
      return isOpen ? [row, h("tr", { className: "call-detail", id: `call-${c.id}` }, h("td", { colspan: 8 }, callDetail(j.calls.get(c.id))))] : [row];
    }).flat()
    : emptyRow(8, "no calls"));
}

function callDetail(call) {
  if (!call) return h("p", { className: "muted" }, "loading…");
  if (call.error) return h("p", { className: "error" }, call.error);
  let body = call.body;
  if (body) { try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (e) { /* not JSON: shown as sent */ } }
  return h("div", { className: "call" },
    h("h3", {}, `${call.method} ${call.path}${call.query ? `?${call.query}` : ""} → ${call.status}`),
    h("table", { className: "headers" },
      h("caption", {}, "request headers (credentials cut to their tail)"),
      h("tbody", {}, Object.entries(call.headers).map(([k, v]) => h("tr", {}, h("th", { scope: "row", className: "mono" }, k), h("td", { className: "mono" }, v))))),
    h("h4", {}, "request body", call.body_truncated ? h("span", { className: "muted" }, " (only its start: the journal keeps a prefix)") : ""),
    body ? h("pre", { className: "call-body" }, body) : h("p", { className: "muted" }, "(no body)"));
}

async function toggleCall(id) {
  const j = state.journal;
  if (j.open.has(id)) j.open.delete(id);
  else {
    j.open.add(id);
    drawJournal();
    if (!j.calls.has(id)) {
      try { j.calls.set(id, await api(`/_batchsim/journal/${id}`)); } catch (e) {
        if (e instanceof NeedToken) return;
        j.calls.set(id, { error: e.status === 404 ? "the journal no longer keeps this call" : e.message });
      }
      for (const known of [...j.calls.keys()]) if (j.calls.size > 50 && !j.open.has(known)) j.calls.delete(known);
    }
  }
  drawJournal();
}

// -- one batch ---------------------------------------------------------------------------------------

async function download(event, link) {
  if (!state.token) return; // a plain link works without a token
  event.preventDefault();
  const response = await fetch(link.getAttribute("href"), { headers: { "x-batchsim-admin-token": state.token } });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: link.dataset.filename || link.getAttribute("download") || "" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function chart(t) {
  const W = 900, H = 240, L = 56, R = 16, T = 12, B = 30;
  const n = Math.max(1, t.requests);
  const finished = OUTCOMES.map((name) => t.series[name][t.bins - 1]).reduce((a, c) => a + c, 0);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
    "aria-label": `Requests finished over emulator time: ${num(finished)} of ${num(t.requests)} over ${duration(t.span_seconds)}` });
  const el = (tag, attrs, text) => { const node = svg(tag, attrs, text); root.append(node); return node; };
  const x = (seconds) => L + ((W - L - R) * seconds) / t.span_seconds;
  const y = (count) => H - B - ((H - B - T) * count) / n;
  const binX = (b) => x(((b + 1) * t.span_seconds) / t.bins);
  let below = new Array(t.bins).fill(0);
  for (const name of OUTCOMES) {
    const row = t.series[name];
    const top = row.map((v, b) => below[b] + v);
    if (row[row.length - 1] > 0) {
      const pts = [`${x(0)},${y(0)}`];
      top.forEach((v, b) => pts.push(`${binX(b)},${y(v)}`));
      for (let b = t.bins - 1; b >= 0; b--) pts.push(`${binX(b)},${y(below[b])}`);
      el("polygon", { points: pts.join(" "), class: `area s-${name}`, "data-series": name });
    }
    below = top;
  }
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  el("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, num(n));
  el("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0");
  for (let i = 0; i <= 4; i++) {
    const s = (t.span_seconds * i) / 4;
    el("text", { x: x(s), y: H - 10, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, `+${duration(s)}`);
  }
  const mark = (seconds, label) => {
    if (seconds === null || seconds === undefined || seconds > t.span_seconds) return;
    el("line", { x1: x(seconds), y1: T, x2: x(seconds), y2: H - B, class: `mark mark-${label}`, "data-mark": label });
    const right = x(seconds) > W - R - 60; // near the right edge: the label goes on the left of its line
    el("text", { x: right ? x(seconds) - 3 : x(seconds) + 3, y: T + 10, "text-anchor": right ? "end" : "start" }, label);
  };
  mark(t.cancel_seconds, "cancel");
  if (t.ended) mark(t.end_seconds, "end");
  mark(t.now_seconds, "now");
  mark(t.expiry_seconds, "expiry");
  return root;
}

function batchSummary(d) {
  return [
    h("p", { className: "facts" },
      statusPill(d, "batch-status"),
      ` ${num(d.requests)} requests · key ${d.key} · created ${when(d.created_at)} · `,
      d.ended_at ? `ended ${when(d.ended_at)}` : `ends ${when(d.expected_end)} as things stand`,
      ` · expires ${when(d.expires_at)}`,
      d.cancel_initiated_at ? ` · cancel ${when(d.cancel_initiated_at)}` : ""),
    h("div", { className: "counts-wide" }, countsCell(d)),
    h("ul", { className: "legend", "aria-label": "requests by state" },
      Object.entries(d.request_states).map(([k, v]) => h("li", {}, h("i", { className: `s-${k}`, "aria-hidden": "true" }), `${k} ${num(v)}`))),
  ];
}

function batchOrigin(d) {
  return [
    h("p", {}, "created under seed ", h("b", { id: "batch-seed" }, d.seed)),
    h("details", { id: "batch-scenario" },
      h("summary", {}, "the scenario it was created under"),
      h("pre", { id: "batch-scenario-json" }, JSON.stringify(d.scenario, null, 2))),
  ];
}

function errorText(e) {
  const where = e.line !== null && e.line !== undefined ? `line ${e.line}: ` : "";
  const detail = ["code", "param"].filter((k) => e[k]).map((k) => e[k]).join(", ");
  return `${where}${e.message || ""}${detail ? ` (${detail})` : ""}`;
}

function batchLinks(d) {
  const base = `/_batchsim/batches/${encodeURIComponent(d.id)}`;
  const links = [h("a", { id: "raw-json", href: base, "data-filename": `${d.id}.json` }, "raw JSON")];
  if (d.phase === "ended") links.push(" · ", h("a", { id: "results-link", href: `${base}/results`, download: `${d.id}_results.jsonl` }, "results (JSONL)"));
  for (const [name, fileId] of Object.entries(d.files)) {
    links.push(" · ", h("a", { id: `file-${name}`, href: `${base}/files/${encodeURIComponent(name)}`, download: `${d.id}_${name}.jsonl` }, `${name} file`),
      " ", h("span", { className: "mono muted" }, fileId));
  }
  const facts = Object.entries(d.links).filter(([, v]) => ["string", "number"].includes(typeof v));
  const errors = (d.links.errors || []).filter((e) => e && typeof e === "object");
  const parts = [h("p", { className: "links" }, links)];
  if (facts.length) parts.push(h("dl", { className: "facts-list" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { className: "mono" }, v)])));
  if (errors.length) {
    parts.push(h("h2", { id: "batch-errors-heading" }, "Validation errors"),
      h("ul", { id: "batch-errors", "aria-labelledby": "batch-errors-heading" }, errors.map((e) => h("li", {}, errorText(e)))));
  }
  return parts;
}

function batchActions(d) {
  const parts = [];
  if (d.actions.includes("cancel")) parts.push(h("button", { type: "button", id: "cancel-batch", "data-key": "cancel" }, "cancel batch"));
  if (d.actions.includes("delete")) parts.push(h("button", { type: "button", id: "delete-batch", className: "danger", "data-key": "delete" }, "delete batch"));
  if (!parts.length) parts.push(h("span", { className: "muted" }, `nothing to do: ${d.phase === "canceling" ? "canceling: it ends soon" : "ended (its API has no delete)"}`));
  return parts;
}

async function refreshBatch() {
  const id = state.batchId;
  let d;
  try { d = await api(`/_batchsim/batches/${encodeURIComponent(id)}`); } catch (e) {
    if (e instanceof ApiFailure && e.status === 404) {
      $("batch-problem").textContent = "This batch is gone (deleted, or the emulator was reset).";
      return;
    }
    throw e;
  }
  state.batch = d;
  $("batch-provider").textContent = d.provider;
  draw($("batch-summary"), JSON.stringify([d.status, d.phase, d.request_counts, d.finished, d.request_states, d.ended_at, d.expected_end, d.cancel_initiated_at]), () => batchSummary(d));
  draw($("batch-origin"), JSON.stringify([d.seed, d.scenario]), () => batchOrigin(d));
  draw($("batch-links"), JSON.stringify([d.phase, d.files, d.links]), () => batchLinks(d));
  draw($("batch-actions"), JSON.stringify([d.actions, d.phase]), () => batchActions(d));
  const t = d.timeline;
  draw($("timeline-chart"), JSON.stringify(t), () => [chart(t),
    h("ul", { className: "legend" },
      OUTCOMES.map((k) => h("li", {}, h("i", { className: `s-${k}`, "aria-hidden": "true" }), k)),
      h("li", { className: "muted" }, `requests finished over emulator time since creation; expiry at +${duration(t.expiry_seconds)}${t.expiry_seconds > t.span_seconds ? " (past the right edge)" : ""}`))]);
  const r = state.requests;
  const list = () => api(`/_batchsim/batches/${encodeURIComponent(id)}/requests${query(Object.assign(requestsWhere(), { limit: r.limit }))}`);
  let page;
  try { page = await list(); } catch (e) {
    if (!(e instanceof ApiFailure) || e.status !== 400) throw e;
    $("batch-problem").textContent = e.message; // a filter of the URL the server does not know
    Object.assign(r, { state: "", q: "", offset: 0 });
    writeLocation();
    page = await list();
  }
  $("requests-total").textContent = `${num(page.total)}${r.state || r.q ? " matching" : ""}`;
  draw($("requests-body"), JSON.stringify([page.data, r.selected, r.state, r.q]), () => page.data.length
    ? page.data.map((row) => h("tr", { "data-index": row.index, className: r.selected === row.index ? "selected" : null },
      h("td", { className: "muted num" }, row.index),
      h("td", { className: "id" }, h("a", {
        href: batchHref(id, Object.assign(requestsWhere(), { request: row.index })), "data-index": row.index,
        "data-key": `request:${row.index}`, "aria-current": r.selected === row.index ? "true" : null,
      }, row.custom_id)),
      h("td", {}, h("span", { className: `state s-text-${row.state}` }, row.state)),
      h("td", {}, row.error_type || ""),
      h("td", {}, when(row.finished_at))))
    : emptyRow(5, "no requests"));
  draw($("requests-pager"), JSON.stringify([page.total, r.offset, r.state, r.q]), () => pagerLinks(page, r,
    (offset) => batchHref(id, Object.assign(requestsWhere(), { offset }))));
  if (r.selected !== null && (r.shown !== r.selected || !page.ended)) await showRequest(r.selected);
  else if (r.selected === null && r.shown !== null) { // back to the URL without a request
    r.shown = null;
    draw($("request-detail"), "none", () => [h("h2", { id: "request-heading" }, "Request"), h("p", { className: "muted" }, "Pick a request.")]);
  }
}

async function showRequest(index) {
  const r = state.requests;
  let req;
  try { req = await api(`/_batchsim/batches/${encodeURIComponent(state.batchId)}/requests/${index}`); } catch (e) {
    if (!(e instanceof ApiFailure)) throw e;
    draw($("request-detail"), `missing:${index}`, () => [h("h2", { id: "request-heading" }, "Request"), h("p", { className: "error" }, e.message)]);
    r.shown = index;
    return;
  }
  r.shown = index;
  for (const tr of $("requests-body").children) tr.classList.toggle("selected", Number(tr.dataset.index) === index);
  draw($("request-detail"), JSON.stringify(req), () => [
    h("h2", { id: "request-heading" }, `Request #${req.index}: `, h("span", { className: "mono" }, req.custom_id)),
    h("p", {}, `${req.state}${req.error_type ? ` (${req.error_type}: ${req.error_message})` : ""} · finished ${when(req.finished_at)}`),
    h("h3", {}, "params"), h("pre", { id: "request-params" }, JSON.stringify(req.params, null, 2)),
    h("h3", {}, "result"), h("pre", { id: "request-result" }, req.result ? JSON.stringify(req.result, null, 2) : "(the batch has not ended)")]);
}

async function act(kind) {
  const d = state.batch;
  if (!d) return;
  const question = kind === "cancel"
    ? `Cancel ${d.provider} batch ${d.id}? Its requests that have not finished end canceled.`
    : `Delete ${d.provider} batch ${d.id}? It and its results are gone for good.`;
  if (!confirm(question)) return;
  $("batch-problem").textContent = "";
  $("action-status").textContent = "";
  const path = `/_batchsim/batches/${encodeURIComponent(d.id)}`;
  try {
    if (kind === "cancel") {
      await api(`${path}/cancel`, { method: "POST" });
      $("action-status").textContent = "cancel asked";
      await refresh();
    } else {
      await api(path, { method: "DELETE" });
      location.assign(`${UI}`);
    }
  } catch (e) {
    if (!(e instanceof NeedToken)) $("batch-problem").textContent = e.message;
  }
}

// -- events: one listener per kind, for whatever the page holds now ----------------------------------------

function plainClick(e) { return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey; }

function onClick(e) {
  const target = e.target.closest("a, button");
  if (!target) return;
  if (target.classList.contains("skip")) { e.preventDefault(); $("view").focus(); return; }
  if (target.matches("button.expand[data-call]")) { toggleCall(Number(target.dataset.call)); return; }
  if (target.id === "cancel-batch") { act("cancel"); return; }
  if (target.id === "delete-batch") { act("delete"); return; }
  if (target.id === "scenario-apply") { applyScenario(); return; }
  if (target.id === "scenario-reload") { state.scenarioLoaded = false; loadScenario(); return; }
  if (target.tagName !== "A" || !plainClick(e)) return; // a new tab or window: the browser's own
  if (target.id === "raw-json" || target.id === "results-link" || target.id.startsWith("file-")) { download(e, target); return; }
  if (target.matches("#status-filter a[data-status]")) {
    e.preventDefault();
    Object.assign(state.batches, { status: target.dataset.status, offset: 0 });
  } else if (target.matches("#batches-pager a[data-offset]")) {
    e.preventDefault();
    state.batches.offset = Number(target.dataset.offset);
  } else if (target.matches("#requests-pager a[data-offset]")) {
    e.preventDefault();
    state.requests.offset = Number(target.dataset.offset);
  } else if (target.matches("#requests-body a[data-index]")) {
    e.preventDefault();
    state.requests.selected = Number(target.dataset.index);
    state.requests.shown = null;
  } else return;
  clearProblems();
  writeLocation();
  refresh();
}

function clearProblems() {
  for (const id of ["batches-problem", "batch-problem"]) if ($(id)) $(id).textContent = "";
}

function onChange(e) {
  const t = e.target;
  const b = state.batches, r = state.requests, j = state.journal;
  if (t.id === "provider-filter") Object.assign(b, { provider: t.value, status: "", offset: 0 });
  else if (t.id === "key-filter") Object.assign(b, { key: t.value, offset: 0 });
  else if (t.id === "requests-state") Object.assign(r, { state: t.value, offset: 0 });
  else if (t.id === "requests-q") Object.assign(r, { q: t.value, offset: 0 });
  else if (t.id === "journal-endpoint") j.endpoint = t.value;
  else if (t.id === "journal-status") j.status = t.value;
  else if (t.id === "journal-faults") j.fault = t.checked;
  else return;
  if (t.id.startsWith("journal-")) { refresh(); return; }
  clearProblems();
  writeLocation();
  refresh();
}

function wirePage() {
  document.addEventListener("click", onClick);
  document.addEventListener("change", onChange);
  for (const id of ["batch-filters", "requests-filters"]) {
    const form = $(id);
    if (form) form.addEventListener("submit", (e) => { e.preventDefault(); if ($("requests-q")) $("requests-q").dispatchEvent(new Event("change", { bubbles: true })); });
  }
  window.addEventListener("popstate", () => { readLocation(); refresh(); });
}

// -- refresh ---------------------------------------------------------------------------------------

async function refresh() {
  if (state.busy) { state.again = true; return; }
  if (state.config.admin_token && !state.token) { askToken(""); return; }
  state.busy = true;
  state.again = false;
  try {
    await refreshClock();
    if (state.view === "batch") await refreshBatch();
    else if (state.view === "overview") { await refreshBatches(); await loadScenario(); await refreshJournal(); }
    $("updated").textContent = `refreshes every 2 s · updated ${new Date().toLocaleTimeString()}`;
    $("view").dataset.ready = "true";
  } catch (e) {
    if (!(e instanceof NeedToken)) $("updated").textContent = `error: ${e.message}`;
  } finally {
    state.busy = false;
  }
  if (state.again) await refresh();
}

async function start() {
  const legacy = /^#\/batch\/([A-Za-z0-9_-]+)/.exec(location.hash); // links of older versions
  if (legacy) { location.replace(batchHref(legacy[1])); return; }
  readLocation();
  state.config = await (await fetch("/_batchsim/ui/config")).json();
  $("version").textContent = `v${state.config.version}`;
  wireHeader();
  wirePage();
  setInterval(() => { if (!document.hidden) refresh(); }, 2000);
  await refresh();
}

start();
