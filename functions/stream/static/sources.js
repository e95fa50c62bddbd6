// Steadfast dashboard: the sources panel, a source's live event log with each event's delivery jobs and
// their status. Loaded after dashboard.js and schedules.js and uses their helpers (h, api, $, upsertJob);
// new events arrive by polling every few seconds, job status changes live from the tenant's job stream.
"use strict";

const sourceEvents = new Map();
let sourcesTimer = null;
let currentSource = null;

function renderSourceEvents() {
  const body = $("source-events");
  body.replaceChildren();
  const rows = [...sourceEvents.values()].sort((a, b) => Date.parse(b.received_at) - Date.parse(a.received_at));
  for (const e of rows) {
    const jobs = e.jobs.length ? e.jobs.map((j) => h("span", { class: "delivery", "data-job-id": j.id },
      h("code", { title: j.id }, `job_…${j.id.slice(-8)}`), " ",
      h("span", { class: "status", "data-status": j.status }, j.status)))
      : [h("span", { class: "meta" }, "no destination matched")];
    const dup = e.duplicates ? h("span", { class: "meta" }, ` · ${e.duplicates} repeat${e.duplicates > 1 ? "s" : ""}`) : "";
    body.append(h("tr", { class: "source-event", "data-event-id": e.id },
      h("td", { title: e.provider_event_id || e.id }, h("code", {}, `evt_…${e.id.slice(-8)}`), dup),
      h("td", {}, e.event_type || "—"),
      h("td", {}, new Date(e.received_at).toLocaleTimeString()),
      h("td", { class: "deliveries" }, ...jobs)));
  }
}

async function loadSourceEvents() {
  if (!currentSource) return;
  const { items } = await api(`v1/dashboard/sources/${encodeURIComponent(currentSource)}/events`);
  sourceEvents.clear();
  for (const e of items) sourceEvents.set(e.id, e);
  renderSourceEvents();
}

async function loadSources() {
  const { items } = await api("v1/dashboard/sources");
  const select = $("source");
  const chosen = currentSource && items.some((s) => s.id === currentSource) ? currentSource : items[0]?.id;
  select.replaceChildren(...items.map((s) => h("option", { value: s.id }, `${s.name} · ${s.verify.scheme}`)));
  $("sources-empty").hidden = items.length > 0;
  if (chosen) select.value = chosen;
  const s = items.find((x) => x.id === chosen);
  $("source-meta").textContent = s ? `${s.ingest_url} → ${s.destinations.map((d) => d.url).join(", ")}` : "";
  if (chosen !== currentSource) { currentSource = chosen || null; sourceEvents.clear(); }
  await loadSourceEvents();
}

function startSources() {
  if (sourcesTimer) clearInterval(sourcesTimer);
  loadSources().catch(() => {});
  sourcesTimer = setInterval(() => loadSources().catch(() => {}), 3000);
}

// A delivery job changed on the job stream: its status in the event log follows at once.
const upsertJobBeforeSources = upsertJob;
upsertJob = function (job, fromList = false) {  // eslint-disable-line no-global-assign
  upsertJobBeforeSources(job, fromList);
  const e = sourceEvents.get(job.labels?.event_id);
  const j = e?.jobs.find((x) => x.id === job.id);
  if (j) { j.status = job.status; j.attempts = job.attempts; renderSourceEvents(); }
  else if (e && job.labels?.source_id === currentSource) loadSourceEvents().catch(() => {});
};
$("source").addEventListener("change", () => { currentSource = $("source").value; sourceEvents.clear(); loadSources().catch(() => {}); });
// Another API key: the previous tenant's sources and events go at once, then this tenant's load.
document.addEventListener("tenantswitch", () => {
  currentSource = null;
  sourceEvents.clear();
  renderSourceEvents();
  $("source").replaceChildren();
  $("source-meta").textContent = "";
  $("sources-empty").hidden = false;
  startSources();
});
startSources();
