// Steadfast live dashboard: one inverter's power flows and the tenant's jobs, both over EventSource.
// Plain browser JavaScript, no build step; uPlot (MIT, vendored in ./vendor) draws the chart.
// Every URL is relative to the page's <base>, which carries the stage prefix behind API Gateway.
"use strict";

const $ = (id) => document.getElementById(id);
const INVERTER_STORE = "steadfast.inverter";
const MAX_POINTS = 1500;           // beyond the replay window (1,000) plus a long session's live points
const RETRY_MS = 3000;             // the server's `retry:`; used when we must reopen a stream ourselves
const ACTIVE = new Set(["waiting", "pending", "running", "retrying"]);  // "In flight": waiting for parents too

// The API key lives in this page's memory only: never in localStorage, never in a URL (streams open with
// short-lived stream tokens). The local stage's page pre-fills its dev key; a deployed stage's has none.
localStorage.removeItem("steadfast.apiKey");  // what earlier versions kept there
let apiKey = document.querySelector('meta[name="steadfast-dev-key"]')?.content || "";
let inverterStream = null, jobsStream = null, chart = null, drawPending = false;
let inverterId = null, lastEventId = null, readingCount = 0, newestTs = 0;
const series = { ts: [], pv: [], load: [], grid: [], batt: [] };
const jobs = new Map();
const received = [];               // event ids of the current inverter, in arrival order (tests read it)
let filter = "all";
// Which API key (tenant) the page works for: bumped on every key change. A response or a timer of an
// earlier key is dropped (api() rejects it), so nothing of the previous tenant comes back after a switch.
let tenantEpoch = 0;

// -- helpers -------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v; else if (k.startsWith("data-")) el.setAttribute(k, v); else el[k] = v;
  }
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return el;
}

function fmtW(w) {
  if (w === null || w === undefined || Number.isNaN(w)) return "—";
  const a = Math.abs(w);
  return a >= 1000 ? `${(w / 1000).toFixed(2)} kW` : `${Math.round(w)} W`;
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

async function api(path, options = {}) {
  const epoch = tenantEpoch;
  const res = await fetch(path, { ...options, headers: { authorization: `Bearer ${apiKey}` } });
  if (epoch !== tenantEpoch) throw Object.assign(new Error("superseded by another API key"), { superseded: true });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch { /* not a problem document */ }
    throw Object.assign(new Error(detail), { status: res.status });
  }
  return res.json();
}

function notice(text) {
  $("notice").hidden = !text;
  $("notice").textContent = text || "";
}

function setState(id, state, label) {
  $(id).dataset.state = state;
  $(id).textContent = label ?? state;
}

// -- chart ---------------------------------------------------------------------------------------
function makeChart() {
  const el = $("chart");
  const axis = { stroke: "#8b98a8", grid: { stroke: "#1f2833" }, ticks: { stroke: "#263140" } };
  const line = (label, stroke, extra = {}) => ({ label, stroke, width: 2, value: (u, v) => fmtW(v), ...extra });
  chart = new uPlot({
    width: el.clientWidth || 800, height: 320,
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 76, values: (u, vals) => vals.map(fmtW) }],
    series: [
      {},
      line("Solar", "#f5b942", { fill: "rgba(245,185,66,.10)" }),
      line("Home", "#b084f5"),
      line("Grid (+import)", "#4aa3ff", { width: 1.5 }),
      line("Battery (+charge)", "#3ecf8e", { width: 1.5 }),
    ],
  }, [[], [], [], [], []], el);
  new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: 320 })).observe(el);
}

function redraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    chart.setData([series.ts, series.pv, series.load, series.grid, series.batt]);
  });
}

function clearSeries() {
  for (const k of Object.keys(series)) series[k].length = 0;
  newestTs = 0;
  readingCount = 0;
  $("reading-count").textContent = "0";
  redraw();
}

// Readings can arrive out of order (snapshot, then the replayed history, then live): keep them sorted
// by time and replace a duplicate time stamp rather than drawing it twice.
function addReading(r) {
  const ts = Date.parse(r.ts) / 1000;
  if (!Number.isFinite(ts)) return;
  let lo = 0, hi = series.ts.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (series.ts[mid] < ts) lo = mid + 1; else hi = mid; }
  const values = [r.pv_power_w, r.load_power_w, r.grid_power_w, r.battery_power_w];
  const same = series.ts[lo] === ts;
  ["pv", "load", "grid", "batt"].forEach((k, i) => series[k].splice(lo, same ? 1 : 0, values[i] ?? null));
  series.ts.splice(lo, same ? 1 : 0, ts);
  if (series.ts.length > MAX_POINTS) for (const k of Object.keys(series)) series[k].shift();
  if (ts >= newestTs) { newestTs = ts; showTiles(r); }
  redraw();
}

function flash(id, text) {
  const el = $(id);
  if (el.textContent === text) return;
  el.textContent = text;
  el.classList.add("flash");
  setTimeout(() => el.classList.remove("flash"), 400);
}

function showTiles(r) {
  flash("t-pv", fmtW(r.pv_power_w));
  flash("t-load", fmtW(r.load_power_w));
  const g = r.grid_power_w;
  $("t-grid-label").textContent = g === null || g === undefined ? "Grid" : g >= 0 ? "Grid import" : "Grid export";
  flash("t-grid", g === null || g === undefined ? "—" : fmtW(Math.abs(g)));
  const b = r.battery_power_w;
  $("t-batt-label").textContent = b === null || b === undefined ? "Battery"
    : Math.abs(b) < 1 ? "Battery idle" : b > 0 ? "Charging" : "Discharging";
  flash("t-batt", b === null || b === undefined ? "—" : fmtW(Math.abs(b)));
  const soc = r.battery_soc_pct;
  $("soc-bar").style.width = soc === null || soc === undefined ? "0" : `${soc}%`;
  $("t-soc").textContent = soc === null || soc === undefined ? "no battery" : `${Math.round(soc)}%`;
  flash("t-today", r.energy_today_kwh === null || r.energy_today_kwh === undefined ? "—" : `${r.energy_today_kwh.toFixed(2)} kWh`);
  $("t-total").textContent = r.energy_total_kwh ? `${Math.round(r.energy_total_kwh).toLocaleString()} kWh lifetime` : "";
  flash("t-status", r.status || "—");
  $("t-temp").textContent = r.temperature_c === null || r.temperature_c === undefined ? "" : `${r.temperature_c.toFixed(1)} °C`;
  $("last-seen").textContent = new Date(r.ts).toLocaleTimeString();
}

// -- history (24 h / 7 d / 30 d from the series route: 5-minute, hourly and daily means) -------------
const RANGES = { "24h": "5m", "7d": "1h", "30d": "1d" };
let historyRange = "24h", historyChart = null;

function makeHistoryChart() {
  const el = $("history-chart");
  const axis = { stroke: "#8b98a8", grid: { stroke: "#1f2833" }, ticks: { stroke: "#263140" } };
  const line = (label, stroke, extra = {}) => ({ label, stroke, width: 2, value: (u, v) => fmtW(v), ...extra });
  historyChart = new uPlot({
    width: el.clientWidth || 800, height: 220,
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 76, values: (u, vals) => vals.map(fmtW) }],
    series: [{}, line("Solar (mean)", "#f5b942", { fill: "rgba(245,185,66,.10)" }), line("Home (mean)", "#b084f5")],
  }, [[], [], []], el);
  new ResizeObserver(() => historyChart.setSize({ width: el.clientWidth, height: 220 })).observe(el);
}

async function loadHistory() {
  if (!inverterId) return;
  const el = $("history"), id = inverterId, range = historyRange;
  el.dataset.state = "loading";
  try {
    const { items } = await api(`v1/dashboard/inverters/${encodeURIComponent(id)}/series?step=${RANGES[range]}`);
    if (id !== inverterId || range !== historyRange) return;  // a newer request owns the chart
    historyChart.setData([items.map((p) => Date.parse(p.ts) / 1000), items.map((p) => p.pv_power_w),
      items.map((p) => p.load_power_w)]);
    const kwh = items.reduce((sum, p) => sum + (p.energy_kwh || 0), 0);
    $("history-energy").textContent = `${kwh.toFixed(2)} kWh`;
    $("history-points").textContent = String(items.length);
    el.dataset.range = range;
    el.dataset.state = "ready";
  } catch (err) {
    el.dataset.state = "error";
  }
}

for (const button of document.querySelectorAll(".ranges button")) {
  button.onclick = () => {
    document.querySelectorAll(".ranges button").forEach((b) => b.classList.toggle("active", b === button));
    historyRange = button.dataset.range;
    loadHistory();
  };
}
setInterval(() => loadHistory(), 60_000);

// -- inverter stream -----------------------------------------------------------------------------
async function loadInverters() {
  const { items } = await api("v1/dashboard/inverters?limit=200");
  const select = $("inverter");
  select.replaceChildren(...items.map((inv) => h("option", { value: inv.id },
    `${inv.name || inv.serial} · ${inv.brand}`)));
  if (!items.length) {
    setState("conn-state", "idle", "no inverter");
    notice("This tenant has no inverters yet: register one with POST /v1/inverters.");
    return;
  }
  const stored = localStorage.getItem(INVERTER_STORE);
  select.value = items.some((i) => i.id === stored) ? stored : items[0].id;
  select.meta = Object.fromEntries(items.map((i) => [i.id, i]));
  openInverter(select.value);
}

async function openInverter(id, resumeFrom = null) {
  if (inverterStream) inverterStream.close();
  inverterStream = null;
  if (id !== inverterId) { inverterId = id; lastEventId = null; received.length = 0; clearSeries(); loadHistory(); }
  const meta = $("inverter").meta?.[id];
  $("inverter-meta").textContent = meta ? `${meta.serial} · ${meta.device_type || ""} · every ${meta.poll_interval_s}s` : "";
  setState("conn-state", "connecting", "connecting");
  let token;
  try {
    token = (await api(`v1/dashboard/inverters/${encodeURIComponent(id)}/stream-token`, { method: "POST" })).token;
  } catch (err) {
    setState("conn-state", "offline", "offline");
    if (err.status === 401) { notice("The API key was not accepted."); return; }
    if (err.superseded) return;
    const epoch = tenantEpoch;
    setTimeout(() => epoch === tenantEpoch && id === inverterId && openInverter(id, resumeFrom), RETRY_MS);
    return;
  }
  // The first open asks for the whole replay window ("0-0"), so the chart starts with recent history.
  if (id !== inverterId) return;  // another inverter (or tenant) was chosen meanwhile
  const params = new URLSearchParams({ access_token: token, last_event_id: resumeFrom || lastEventId || "0-0" });
  const es = new EventSource(`v1/inverters/${encodeURIComponent(id)}/events?${params}`);
  inverterStream = es;
  es.onopen = () => { setState("conn-state", "live", "live"); notice(""); };
  es.addEventListener("snapshot", (e) => es === inverterStream && addReading(JSON.parse(e.data)));
  es.addEventListener("reading", (e) => {
    if (es !== inverterStream) return;  // a closed stream's queued event (another inverter or tenant now)
    lastEventId = e.lastEventId;
    document.body.dataset.lastEventId = lastEventId;
    received.push(lastEventId);
    if (received.length > 5000) received.shift();
    $("reading-count").textContent = String(++readingCount);
    addReading(JSON.parse(e.data));
  });
  es.onerror = () => {
    if (es !== inverterStream) return;
    setState("conn-state", "reconnecting", "reconnecting");
    // CONNECTING: the browser retries by itself and sends Last-Event-ID. CLOSED: the server refused
    // (e.g. the stream token expired), so fetch a new token and resume from the last id ourselves.
    if (es.readyState === EventSource.CLOSED) setTimeout(() => es === inverterStream && openInverter(id, lastEventId), RETRY_MS);
  };
}

// -- jobs ----------------------------------------------------------------------------------------
function upsertJob(job, fromList = false) {
  const known = jobs.get(job.id);
  if (known && Date.parse(known.updated_at) > Date.parse(job.updated_at)) return;  // a list older than an event
  const changed = !known || known.status !== job.status || known.attempts !== job.attempts;
  jobs.set(job.id, job);
  renderJobs(changed && !fromList ? job.id : null);
}

async function loadJobs() {
  const [all, dead] = await Promise.all([api("v1/dashboard/jobs?limit=50"), api("v1/dashboard/jobs?status=dead&limit=50")]);
  for (const job of [...all.items, ...dead.items]) upsertJob(job, true);
}

function targetOf(job) {
  try { const u = new URL(job.request.url); return `${job.request.method} ${u.host}${u.pathname}`; } catch { return job.request.url; }
}

// `attempts` counts every run of a job; a retry or redrive starts a run with a fresh budget. The cell shows
// this run's attempts against the run's budget (every target's), and the total when earlier runs had some.
function attemptsReading(job) {
  const budget = job.max_attempts * (1 + (job.fallbacks?.length || 0));
  const mine = job.run_attempts ?? job.attempts;
  const parts = [h("span", { class: "run-attempts", title: "attempts of this run / its budget" }, `${mine} / ${budget}`)];
  if (job.run) parts.push(h("span", { class: "total", title: `${job.run + 1} runs (retried or redriven)` },
    ` · run ${job.run + 1}, ${job.attempts} in all`));
  return parts;
}

function renderJobs(changedId = null) {
  const rows = [...jobs.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))
    .filter((j) => filter === "all" || (filter === "active" ? ACTIVE.has(j.status) : j.status === "dead"));
  const open = new Set([...document.querySelectorAll("tr.attempts")].map((r) => r.dataset.jobId));
  const body = $("jobs");
  body.replaceChildren();
  for (const job of rows.slice(0, 100)) {
    const tr = h("tr", { class: "job", "data-job-id": job.id, "data-status": job.status },
      h("td", { title: job.id }, h("code", {}, `job_…${job.id.slice(-10)}`)),
      h("td", { class: "target", title: job.request.url }, targetOf(job)),
      h("td", {}, h("span", { class: "status", "data-status": job.status }, job.status)),
      h("td", { class: "attempts-cell" }, ...attemptsReading(job)),
      h("td", { class: "updated", "data-at": job.updated_at }, ago(job.updated_at)));
    tr.onclick = () => toggleAttempts(job.id, tr);
    body.append(tr);
    if (job.id === changedId) { tr.classList.add("changed"); setTimeout(() => tr.classList.remove("changed"), 60); }
    if (open.has(job.id)) toggleAttempts(job.id, tr);
  }
  $("jobs-empty").hidden = rows.length > 0;
  const dead = [...jobs.values()].filter((j) => j.status === "dead").length;
  $("dead-count").textContent = String(dead);
  $("dead-count").dataset.zero = String(dead === 0);
}

async function toggleAttempts(id, tr) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("attempts")) { next.remove(); return; }
  const row = h("tr", { class: "attempts", "data-job-id": id }, h("td", { colSpan: 5 }, "loading attempts…"));
  tr.after(row);
  try {
    const { items } = await api(`v1/dashboard/jobs/${encodeURIComponent(id)}/attempts`);
    const job = jobs.get(id);
    const cls = { success: "ok", retryable: "retry", permanent: "perm" };
    // Each cell its own element: adjacent text nodes would merge into one grid item and overflow its column.
    const cells = [];
    const runs = items.some((a) => a.run);  // headed by run only once the job was retried or redriven
    let run = null;
    for (const a of items) {
      if (runs && (a.run ?? 0) !== run) {
        cells.push(h("div", { class: "run-head" }, (a.run ?? 0) === 0 ? "first run" : `run ${a.run + 1} (retried)`));
      }
      run = a.run ?? 0;
      cells.push(h("div", { class: "attempt", "data-run": String(run) },
        h("span", { class: "n" }, `#${a.n}`),
        h("span", { class: "at", title: a.started_at }, new Date(a.started_at).toLocaleTimeString()),
        h("span", { class: `code ${cls[a.outcome] || ""}` }, String(a.status_code ?? a.outcome)),
        h("span", { class: "ms" }, `${a.duration_ms} ms`),
        h("span", { class: "why", title: a.error || "" },
          a.error || (a.next_delay_s ? `retry in ${a.next_delay_s.toFixed(1)} s` : ""))));
    }
    row.firstChild.replaceChildren(...(cells.length ? cells : ["no attempts yet"]),
      ...(job?.last_error ? [h("div", { class: "last-error" }, `last error: ${job.last_error}`)] : []));
  } catch (err) {
    if (err.superseded) return;
    row.firstChild.textContent = `attempts unavailable: ${err.message}`;
  }
}

let jobsOpening = 0;
async function openJobs() {
  if (jobsStream) jobsStream.close();
  jobsStream = null;
  const attempt = ++jobsOpening;
  let token;
  try {
    token = (await api("v1/stream-token", { method: "POST" })).token;
  } catch (err) {
    if (err.superseded) return;
    setState("jobs-state", "offline", "jobs");
    if (err.status !== 401 && attempt === jobsOpening) setTimeout(() => attempt === jobsOpening && openJobs(), RETRY_MS);
    return;
  }
  if (attempt !== jobsOpening) return;  // a newer open (another key) took over meanwhile
  const es = new EventSource(`v1/tenant/jobs/events?access_token=${encodeURIComponent(token)}`);
  jobsStream = es;
  // The job stream is live only: each (re)connect reloads the list, then events keep it current.
  es.onopen = () => { if (es === jobsStream) { setState("jobs-state", "live", "jobs"); loadJobs().catch(() => {}); } };
  es.addEventListener("job", (e) => es === jobsStream && upsertJob(JSON.parse(e.data)));
  es.onerror = () => {
    if (es !== jobsStream) return;
    setState("jobs-state", "reconnecting", "jobs");
    if (es.readyState === EventSource.CLOSED) setTimeout(() => es === jobsStream && openJobs(), RETRY_MS);
  };
}

// -- start ---------------------------------------------------------------------------------------
const TILES = ["t-pv", "t-load", "t-grid", "t-batt", "t-soc", "t-today", "t-status", "last-seen"];

// Forget everything of the previous API key: streams closed, chart, tiles, history, inverters and jobs
// emptied. The other panels (schedules.js, sources.js) clear theirs on the same `tenantswitch` event.
function resetTenant() {
  tenantEpoch++;
  jobsOpening++;
  for (const es of [inverterStream, jobsStream]) if (es) es.close();
  inverterStream = jobsStream = null;
  inverterId = null; lastEventId = null; received.length = 0;
  delete document.body.dataset.lastEventId;
  clearSeries();
  historyChart.setData([[], [], []]);
  $("history").dataset.state = "idle";
  $("history-energy").textContent = "—";
  $("history-points").textContent = "0";
  for (const id of TILES) $(id).textContent = "—";
  $("t-total").textContent = $("t-temp").textContent = "";
  $("t-grid-label").textContent = "Grid";
  $("t-batt-label").textContent = "Battery";
  $("soc-bar").style.width = "0";
  $("inverter").replaceChildren();
  $("inverter").meta = {};
  $("inverter-meta").textContent = "";
  jobs.clear();
  renderJobs();
  setState("conn-state", "connecting", "connecting");
  setState("jobs-state", "connecting", "jobs");
  document.dispatchEvent(new Event("tenantswitch"));
}

function start() {
  notice("");
  loadInverters().catch((err) => {
    if (err.superseded) return;
    setState("conn-state", "offline", "offline");
    notice(err.status === 401 ? "The API key was not accepted: paste a valid one above." : `Cannot load inverters: ${err.message}`);
  });
  openJobs();
}

$("api-key").value = apiKey;
$("key-form").onsubmit = (e) => {
  e.preventDefault();
  apiKey = $("api-key").value.trim();
  resetTenant();
  start();
};
$("inverter").onchange = (e) => { localStorage.setItem(INVERTER_STORE, e.target.value); openInverter(e.target.value); };
for (const tab of document.querySelectorAll(".tabs button")) {
  tab.onclick = () => {
    document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b === tab));
    filter = tab.dataset.filter;
    renderJobs();
  };
}
setInterval(() => document.querySelectorAll("td.updated").forEach((td) => { td.textContent = ago(td.dataset.at); }), 5000);
makeChart();
makeHistoryChart();
start();
