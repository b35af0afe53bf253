// The batchsim dashboard: plain JavaScript over the control plane's JSON routes (no build, no CDN).
"use strict";

const OUTCOMES = ["succeeded", "errored", "canceled", "expired"];
const REQUEST_STATES = ["succeeded", "errored", "canceled", "expired", "running", "queued"];
const state = {
  config: { admin_token: false, version: "" },
  token: sessionStorage.getItem("batchsim-admin-token") || "",
  batches: { status: "", key: "", offset: 0, limit: 50 },
  journal: { endpoint: "", status: "", fault: false },
  requests: { state: "", q: "", offset: 0, limit: 100, selected: null },
  scenarioLoaded: false,
  busy: false,
};

class ApiFailure extends Error {}
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
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function $(id) { return document.getElementById(id); }

function when(rfc) { return rfc ? rfc.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "—"; }

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
    throw new ApiFailure(message);
  }
  return body;
}

function askToken(message) {
  state.token = "";
  sessionStorage.removeItem("batchsim-admin-token");
  $("token-form").hidden = false;
  $("token-error").textContent = message || "";
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
      state.scenarioLoaded = false;
      location.hash = "#/";
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

// -- the overview: batches, scenario, journal -------------------------------------------------------------

function countsBar(counts, total, progress) {
  const bar = h("span", { className: "bar", title: OUTCOMES.concat(["processing"]).map((k) => `${k} ${counts[k] || 0}`).join(", ") });
  for (const name of OUTCOMES) {
    if (counts[name]) bar.append(h("span", { className: `s-${name}`, style: `width:${(100 * counts[name]) / total}%` }));
  }
  if (counts.processing && progress !== undefined) {
    bar.append(h("span", { className: "progress", style: `width:${Math.round(100 * progress)}%` }));
  }
  return bar;
}

function overviewSkeleton() {
  const view = $("view");
  view.replaceChildren(
    h("section", { id: "batches" },
      h("h2", {}, "Batches ", h("span", { id: "batches-total", className: "muted" })),
      h("div", { className: "toolbar", id: "status-filter" }),
      h("table", {},
        h("thead", {}, h("tr", {}, ["id", "key", "status", "requests", "counts", "created", "ended", "expires"].map((c) => h("th", {}, c)))),
        h("tbody", { id: "batches-body" })),
      h("div", { className: "pager", id: "batches-pager" })),
    h("div", { className: "grid" },
      h("section", { id: "scenario" },
        h("h2", {}, "Scenario"),
        h("p", { className: "muted" }, "JSON, the keys of a scenario file; applies to batches created afterwards."),
        h("textarea", { id: "scenario-text", spellcheck: "false" }),
        h("div", { className: "toolbar" },
          h("button", { id: "scenario-apply", onclick: applyScenario }, "apply"),
          h("button", { id: "scenario-reload", onclick: () => { state.scenarioLoaded = false; loadScenario(); } }, "reload"),
          h("span", { id: "scenario-status", className: "muted" })),
        h("div", { id: "scenario-error", className: "error" }))),
    h("section", { id: "journal" },
        h("h2", {}, "Journal ", h("span", { id: "journal-total", className: "muted" })),
        h("div", { className: "toolbar" },
          h("select", { id: "journal-endpoint", onchange: (e) => { state.journal.endpoint = e.target.value; refresh(); } }, h("option", { value: "" }, "every endpoint")),
          h("select", { id: "journal-status", onchange: (e) => { state.journal.status = e.target.value; refresh(); } },
            ["", "2xx", "4xx", "5xx", "429", "529"].map((s) => h("option", { value: s }, s || "every status"))),
          h("label", {}, h("input", { type: "checkbox", id: "journal-faults", onchange: (e) => { state.journal.fault = e.target.checked; refresh(); } }), " injected faults only")),
        h("table", {},
          h("thead", {}, h("tr", {}, ["time", "method", "path", "status", "endpoint", "key", ""].map((c) => h("th", {}, c)))),
          h("tbody", { id: "journal-body" }))));
}

async function refreshBatches() {
  const b = state.batches;
  const q = new URLSearchParams({ offset: b.offset, limit: b.limit });
  if (b.status) q.set("status", b.status);
  if (b.key) q.set("key", b.key);
  const page = await api(`/_batchsim/batches?${q}`);
  const all = Object.values(page.by_status).reduce((a, c) => a + c, 0);
  $("batches-total").textContent = `${all} live`;
  const filter = $("status-filter");
  const chips = [["", `all ${all}`]].concat(Object.entries(page.by_status).map(([s, n]) => [s, `${s} ${n}`]));
  const keySelect = h("select", { id: "key-filter", onchange: (e) => { b.key = e.target.value; b.offset = 0; refresh(); } },
    h("option", { value: "" }, "every key"),
    page.keys.map((k) => h("option", { value: k.key_id, selected: k.key_id === b.key }, `${k.key} (${k.batches})`)));
  filter.replaceChildren(
    ...chips.map(([s, label]) => h("button", {
      className: s === b.status ? "active" : "", "data-status": s,
      onclick: () => { b.status = s; b.offset = 0; refresh(); },
    }, label)),
    keySelect);
  $("batches-body").replaceChildren(...page.data.map((row) => h("tr", {
    className: "clickable", "data-id": row.id, onclick: () => { location.hash = `#/batch/${row.id}`; },
  },
    h("td", { className: "id" }, row.id),
    h("td", { className: "mono" }, row.key),
    h("td", {}, h("span", { className: `status ${row.status}` }, row.status)),
    h("td", {}, row.requests.toLocaleString()),
    h("td", {}, countsBar(row.request_counts, row.requests, row.progress)),
    h("td", {}, when(row.created_at)),
    h("td", {}, when(row.ended_at)),
    h("td", {}, when(row.expires_at)))));
  if (!page.data.length) $("batches-body").append(h("tr", {}, h("td", { colspan: 8, className: "muted" }, "no batches")));
  pager($("batches-pager"), page, b);
}

function pager(node, page, where) {
  const last = Math.max(0, page.total - 1);
  node.replaceChildren(
    h("button", { disabled: where.offset <= 0, onclick: () => { where.offset = Math.max(0, where.offset - where.limit); refresh(); } }, "‹ newer"),
    h("span", { className: "muted" }, page.total ? `${(where.offset + 1).toLocaleString()}–${Math.min(page.total, where.offset + where.limit).toLocaleString()} of ${page.total.toLocaleString()}` : "0 of 0"),
    h("button", { disabled: where.offset + where.limit > last, onclick: () => { where.offset += where.limit; refresh(); } }, "older ›"));
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
  const q = new URLSearchParams({ limit: 100 });
  if (j.endpoint) q.set("endpoint", j.endpoint);
  if (j.status) q.set("status", j.status);
  if (j.fault) q.set("fault", "1");
  const page = await api(`/_batchsim/journal/recent?${q}`);
  $("journal-total").textContent = `${page.total} calls${page.total > page.data.length ? `, newest ${page.data.length} shown` : ""}`;
  const select = $("journal-endpoint");
  const have = new Set([...select.options].map((o) => o.value));
  for (const e of page.endpoints) if (!have.has(e)) select.append(h("option", { value: e }, e));
  $("journal-body").replaceChildren(...page.data.map((c) => h("tr", {},
    h("td", {}, when(c.time)),
    h("td", {}, c.method),
    h("td", { className: "mono" }, c.path + (c.query ? `?${c.query}` : "")),
    h("td", {}, c.status),
    h("td", {}, c.endpoint),
    h("td", { className: "mono" }, c.key || "—"),
    h("td", {}, c.fault ? h("span", { className: "fault", title: "injected by the scenario" }, c.fault) : ""))));
}

// -- one batch ---------------------------------------------------------------------------------------

function batchSkeleton(id) {
  state.requests = { state: "", q: "", offset: 0, limit: 100, selected: null };
  $("view").replaceChildren(
    h("p", {}, h("a", { href: "#/" }, "‹ all batches")),
    h("section", {},
      h("h2", { id: "batch-title" }, id),
      h("div", { id: "batch-summary" }),
      h("div", { className: "toolbar" },
        h("a", { id: "raw-json", href: `/_batchsim/batches/${id}`, onclick: (e) => download(e, `/_batchsim/batches/${id}`, `${id}.json`) }, "raw JSON"),
        h("span", { className: "muted" }, "·"),
        h("a", { id: "results-link", href: `/_batchsim/batches/${id}/results`, onclick: (e) => download(e, `/_batchsim/batches/${id}/results`, `${id}_results.jsonl`) }, "results (JSONL)"))),
    h("section", { id: "timeline" }, h("h2", {}, "Timeline"), h("div", { id: "timeline-chart" })),
    h("div", { className: "grid" },
      h("section", { id: "requests" },
        h("h2", {}, "Requests ", h("span", { id: "requests-total", className: "muted" })),
        h("div", { className: "toolbar" },
          h("select", { id: "requests-state", onchange: (e) => { state.requests.state = e.target.value; state.requests.offset = 0; refresh(); } },
            h("option", { value: "" }, "every state"), REQUEST_STATES.map((s) => h("option", { value: s }, s))),
          h("input", { id: "requests-q", placeholder: "custom_id contains", onchange: (e) => { state.requests.q = e.target.value; state.requests.offset = 0; refresh(); } })),
        h("table", {},
          h("thead", {}, h("tr", {}, ["#", "custom_id", "state", "error type", "finished"].map((c) => h("th", {}, c)))),
          h("tbody", { id: "requests-body" })),
        h("div", { className: "pager", id: "requests-pager" })),
      h("section", { id: "request-detail" }, h("h2", {}, "Request"), h("p", { className: "muted" }, "pick a request"))));
}

async function download(event, path, name) {
  if (!state.token) return; // a plain link works without a token
  event.preventDefault();
  const response = await fetch(path, { headers: { "x-batchsim-admin-token": state.token } });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function chart(t) {
  const W = 900, H = 240, L = 56, R = 16, T = 12, B = 30;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("role", "img");
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const n = Math.max(1, t.requests);
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
      el("polygon", { points: pts.join(" "), fill: `var(--${name})`, "fill-opacity": "0.85", "data-series": name });
    }
    below = top;
  }
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#90a4ae" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#90a4ae" });
  el("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, n.toLocaleString());
  el("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0");
  for (let i = 0; i <= 4; i++) {
    const s = (t.span_seconds * i) / 4;
    el("text", { x: x(s), y: H - 10, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, `+${duration(s)}`);
  }
  const mark = (seconds, color, label) => {
    if (seconds === null || seconds === undefined || seconds > t.span_seconds) return;
    el("line", { x1: x(seconds), y1: T, x2: x(seconds), y2: H - B, stroke: color, "stroke-dasharray": "4 3", "data-mark": label });
    el("text", { x: Math.min(x(seconds) + 3, W - R - 40), y: T + 10 }, label);
  };
  mark(t.cancel_seconds, "#ef6c00", "cancel");
  if (t.ended) mark(t.end_seconds, "#263238", "end");
  mark(t.now_seconds, "#1e88e5", "now");
  mark(t.expiry_seconds, "#c62828", "expiry");
  return svg;
}

async function refreshBatch(id) {
  const batch = await api(`/_batchsim/batches/${id}`);
  $("batch-summary").replaceChildren(
    h("p", {},
      h("span", { className: `status ${batch.status}`, id: "batch-status" }, batch.status), " ",
      `${batch.requests.toLocaleString()} requests · key ${batch.key} · created ${when(batch.created_at)} · `,
      batch.ended_at ? `ended ${when(batch.ended_at)}` : `ends ${when(batch.expected_end)} as things stand`,
      ` · expires ${when(batch.expires_at)}`,
      batch.cancel_initiated_at ? ` · cancel ${when(batch.cancel_initiated_at)}` : ""),
    countsBar(batch.request_counts, batch.requests, batch.progress),
    h("div", { className: "legend" }, Object.entries(batch.request_states).map(([k, v]) => h("span", {}, h("i", { className: `s-${k}` }), `${k} ${v.toLocaleString()}`))));
  const t = batch.timeline;
  $("timeline-chart").replaceChildren(chart(t),
    h("div", { className: "legend" },
      OUTCOMES.map((k) => h("span", {}, h("i", { className: `s-${k}` }), k)),
      h("span", { className: "muted" }, `requests finished over emulator time since creation; expiry at +24 h${t.expiry_seconds > t.span_seconds ? " (past the right edge)" : ""}`)));
  const r = state.requests;
  const q = new URLSearchParams({ offset: r.offset, limit: r.limit });
  if (r.state) q.set("state", r.state);
  if (r.q) q.set("q", r.q);
  const page = await api(`/_batchsim/batches/${id}/requests?${q}`);
  $("requests-total").textContent = `${page.total.toLocaleString()}${r.state || r.q ? " matching" : ""}`;
  $("requests-body").replaceChildren(...page.data.map((row) => h("tr", {
    className: `clickable${r.selected === row.index ? " selected" : ""}`, "data-index": row.index,
    onclick: () => { r.selected = row.index; showRequest(id, row.index); },
  },
    h("td", { className: "muted" }, row.index),
    h("td", { className: "id" }, row.custom_id),
    h("td", {}, h("span", { className: `status s-text-${row.state}` }, row.state)),
    h("td", {}, row.error_type || ""),
    h("td", {}, when(row.finished_at)))));
  pager($("requests-pager"), page, r);
  if (r.selected !== null) await showRequest(id, r.selected);
}

async function showRequest(id, index) {
  const req = await api(`/_batchsim/batches/${id}/requests/${index}`);
  for (const tr of $("requests-body").children) tr.classList.toggle("selected", Number(tr.dataset.index) === index);
  $("request-detail").replaceChildren(
    h("h2", {}, `Request #${req.index}: `, h("span", { className: "mono" }, req.custom_id)),
    h("p", {}, `${req.state}${req.error_type ? ` (${req.error_type}: ${req.error_message})` : ""} · finished ${when(req.finished_at)}`),
    h("h3", {}, "params"), h("pre", { id: "request-params" }, JSON.stringify(req.params, null, 2)),
    h("h3", {}, "result"), h("pre", { id: "request-result" }, req.result ? JSON.stringify(req.result, null, 2) : "(the batch has not ended)"));
}

// -- routing and refresh -------------------------------------------------------------------------------

function route() {
  const m = /^#\/batch\/([A-Za-z0-9_-]+)/.exec(location.hash);
  return m ? { view: "batch", id: m[1] } : { view: "overview" };
}

let shown = null;

async function refresh() {
  if (state.busy) { state.again = true; return; }
  if (state.config.admin_token && !state.token) { askToken(""); return; }
  state.busy = true;
  state.again = false;
  try {
    const r = route();
    const key = r.view === "batch" ? `batch:${r.id}` : "overview";
    if (shown !== key) {
      shown = key;
      if (r.view === "batch") batchSkeleton(r.id); else { overviewSkeleton(); state.scenarioLoaded = false; }
    }
    await refreshClock();
    if (r.view === "batch") await refreshBatch(r.id);
    else { await refreshBatches(); await loadScenario(); await refreshJournal(); }
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    $("view").dataset.ready = "true";
  } catch (e) {
    if (!(e instanceof NeedToken)) $("updated").textContent = `error: ${e.message}`;
  } finally {
    state.busy = false;
  }
  if (state.again) await refresh();
}

async function start() {
  state.config = await (await fetch("/_batchsim/ui/config")).json();
  $("version").textContent = `v${state.config.version}`;
  wireHeader();
  window.addEventListener("hashchange", refresh);
  setInterval(() => { if (!document.hidden) refresh(); }, 2000);
  await refresh();
}

start();
