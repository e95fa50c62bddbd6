// Steadfast dashboard: the schedules panel (next runs, the last job with its status, pause/resume).
// Loaded after dashboard.js and uses its helpers (h, api, $); refreshed every few seconds and whenever a
// job of a schedule changes on the tenant's job stream.
"use strict";

const schedules = new Map();
let schedulesTimer = null;

function fmtRun(iso) {
  const d = new Date(iso);
  return d.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

function renderSchedules() {
  const body = $("schedules");
  body.replaceChildren();
  const rows = [...schedules.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  for (const s of rows) {
    const runs = s.paused ? [h("span", { class: "meta" }, "paused")]
      : s.next_runs.slice(0, 3).map((t) => h("span", { class: "run", title: t }, fmtRun(t)));
    const last = s.last_job_id
      ? [h("code", { title: s.last_job_id }, `job_…${s.last_job_id.slice(-10)}`), " ",
         h("span", { class: "status", "data-status": s.last_job_status || "unknown" }, s.last_job_status || "—")]
      : [h("span", { class: "meta" }, "not run yet")];
    const button = h("button", { class: "toggle", type: "button" }, s.paused ? "Resume" : "Pause");
    button.onclick = () => toggleSchedule(s, button);
    body.append(h("tr", { class: "schedule", "data-schedule-id": s.id, "data-paused": String(s.paused) },
      h("td", { title: s.id }, h("b", {}, s.name || s.id), h("div", { class: "meta" }, `${s.cron} · ${s.timezone}`)),
      h("td", { class: "runs" }, ...runs),
      h("td", { class: "last" }, ...last),
      h("td", {}, button)));
  }
  $("schedules-empty").hidden = rows.length > 0;
}

async function loadSchedules() {
  const { items } = await api("v1/dashboard/schedules");
  schedules.clear();
  for (const s of items) schedules.set(s.id, s);
  renderSchedules();
}

async function toggleSchedule(s, button) {
  button.disabled = true;
  try {
    const updated = await api(`v1/dashboard/schedules/${encodeURIComponent(s.id)}/${s.paused ? "resume" : "pause"}`,
      { method: "POST" });
    schedules.set(updated.id, { ...s, ...updated });
    renderSchedules();
  } catch (err) {
    notice(`Cannot change the schedule: ${err.message}`);
    button.disabled = false;
  }
}

function startSchedules() {
  if (schedulesTimer) clearInterval(schedulesTimer);
  loadSchedules().catch(() => {});
  schedulesTimer = setInterval(() => loadSchedules().catch(() => {}), 5000);
}

// A job of a schedule changed: its row's last job may be this one, or a newer one.
const upsertJobBeforeSchedules = upsertJob;
upsertJob = function (job, fromList = false) {  // eslint-disable-line no-global-assign
  upsertJobBeforeSchedules(job, fromList);
  const s = schedules.get(job.labels?.schedule_id);
  if (s && !fromList) {
    if (s.last_job_id === job.id) { s.last_job_status = job.status; renderSchedules(); }
    else loadSchedules().catch(() => {});
  }
};
// Another API key: the previous tenant's schedules go at once (a late response of theirs is dropped by api()).
document.addEventListener("tenantswitch", () => { schedules.clear(); renderSchedules(); startSchedules(); });
startSchedules();
