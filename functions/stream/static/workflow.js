// Steadfast dashboard: a job's parents and children (in its detail row) and the workflow view (the graph
// of a workflow's jobs, laid out by depth, each node coloured by its live status). Loaded after
// dashboard.js and uses its helpers (h, api, $, jobs, upsertJob, toggleAttempts). Statuses follow the
// tenant's job stream at once; the open workflow is also re-read every 2 s (its overall status, and any
// event the stream missed while reconnecting).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const WF_FAILED = new Set(["failed", "dead", "cancelled"]);
const NODE_W = 170, NODE_H = 44, GAP_X = 70, GAP_Y = 22, PAD = 12;
let wfOpen = null, wfTimer = null;  // the workflow shown (its id), its poll

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return el;
}

const shortId = (id) => `…${id.slice(-8)}`;

// -- a job's parents and children ----------------------------------------------------------------
function relationChip(job) {
  const chip = h("button", { class: "rel", type: "button", title: job.id, "data-rel-id": job.id },
    h("code", {}, shortId(job.id)), " ", h("span", { class: "status", "data-status": job.status }, job.status));
  chip.onclick = (e) => { e.stopPropagation(); openJob(job); };
  return chip;
}

function relationsBlock(job, rel) {
  const line = (label, cls, items) => h("div", { class: `rel-line ${cls}` }, h("span", { class: "rel-label" }, label),
    ...(items.length ? items.map(relationChip) : [h("span", { class: "meta" }, "none")]));
  const block = h("div", { class: "relations", "data-job-id": job.id },
    line("Parents", "parents", rel.parents), line("Children", "children", rel.children));
  if (job.workflow_id) {
    const button = h("button", { class: "open-workflow", type: "button", "data-workflow-id": job.workflow_id }, "Workflow");
    button.onclick = (e) => { e.stopPropagation(); openWorkflow(job.workflow_id); };
    block.append(h("div", { class: "rel-line" }, h("span", { class: "rel-label" }, "Workflow"),
      h("code", { title: job.workflow_id }, shortId(job.workflow_id)), " ", button));
  }
  return block;
}

// Open a job's detail row in the jobs list (a parent or child may not be in the list yet: add it).
function openJob(job) {
  if (!jobs.has(job.id)) upsertJob(job, true);
  if (filter !== "all") document.querySelector('.tabs button[data-filter="all"]')?.click();
  const tr = document.querySelector(`tr.job[data-job-id="${job.id}"]`);
  if (!tr) return;
  const next = tr.nextElementSibling;
  if (!(next && next.classList.contains("attempts"))) toggleAttempts(job.id, tr);
  tr.scrollIntoView({ block: "center" });
}

const toggleAttemptsBeforeRelations = toggleAttempts;
toggleAttempts = async function (id, tr) {  // eslint-disable-line no-global-assign
  await toggleAttemptsBeforeRelations(id, tr);
  const row = tr.nextElementSibling;
  const job = jobs.get(id);
  if (!row || !row.classList.contains("attempts") || row.dataset.jobId !== id || !job) return;
  try {
    const rel = await api(`v1/dashboard/jobs/${encodeURIComponent(id)}/relations`);
    if (row.isConnected) row.firstChild.append(relationsBlock(job, rel));
  } catch (err) {
    if (!err.superseded && row.isConnected) row.firstChild.append(h("div", { class: "relations meta" }, `relations unavailable: ${err.message}`));
  }
};

// -- the workflow view ---------------------------------------------------------------------------
// Kahn's algorithm: a node's depth is one more than its deepest parent's (roots at 0).
function layers(nodes) {
  const ids = new Set(nodes.map((n) => n.job.id));
  const indegree = new Map(nodes.map((n) => [n.job.id, n.job.depends_on.filter((p) => ids.has(p)).length]));
  const children = new Map(nodes.map((n) => [n.job.id, []]));
  for (const n of nodes) for (const p of n.job.depends_on) if (ids.has(p)) children.get(p).push(n.job.id);
  const depth = new Map();
  const queue = nodes.filter((n) => indegree.get(n.job.id) === 0).map((n) => n.job.id);
  for (const id of queue) depth.set(id, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const c of children.get(id)) {
      depth.set(c, Math.max(depth.get(c) ?? 0, depth.get(id) + 1));
      indegree.set(c, indegree.get(c) - 1);
      if (indegree.get(c) === 0) queue.push(c);
    }
  }
  return depth;
}

function drawWorkflow(wf) {
  const depth = layers(wf.jobs);
  const columns = [];
  for (const n of wf.jobs) (columns[depth.get(n.job.id) ?? 0] ||= []).push(n);
  const pos = new Map();
  columns.forEach((col, x) => col.forEach((n, y) => pos.set(n.job.id,
    { x: PAD + x * (NODE_W + GAP_X), y: PAD + y * (NODE_H + GAP_Y) })));
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y;
  const graph = svg("svg", { class: "wf-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" },
    svg("defs", {}, svg("marker", { id: "wf-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }))));
  for (const n of wf.jobs) {
    for (const p of n.job.depends_on) {
      const a = pos.get(p), b = pos.get(n.job.id);
      if (!a) continue;
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
      graph.append(svg("path", { class: "wf-edge", "data-from": p, "data-to": n.job.id,
        d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, "marker-end": "url(#wf-arrow)" }));
    }
  }
  for (const n of wf.jobs) {
    const { x, y } = pos.get(n.job.id);
    const node = svg("g", { class: "wf-node", "data-job-id": n.job.id, "data-ref": n.ref, "data-status": n.job.status,
      transform: `translate(${x} ${y})` },
      svg("title", {}, n.job.id),
      svg("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
      svg("text", { class: "wf-ref", x: 10, y: 18 }, n.ref),
      svg("text", { class: "wf-status", x: 10, y: 34 }, n.job.status));
    node.onclick = () => openJob(n.job);
    graph.append(node);
  }
  $("wf-graph").replaceChildren(graph);
}

function setNodeStatus(id, status) {
  const node = document.querySelector(`#wf-graph .wf-node[data-job-id="${id}"]`);
  if (!node || node.dataset.status === status) return;
  node.dataset.status = status;
  node.querySelector(".wf-status").textContent = status;
}

// The workflow's status by SPEC §3's rule, from what the nodes show.
function setWorkflowStatus(status) {
  const nodes = [...document.querySelectorAll("#wf-graph .wf-node")].map((n) => n.dataset.status);
  const s = status ?? (nodes.some((x) => WF_FAILED.has(x)) ? "failed"
    : nodes.length && nodes.every((x) => x === "completed") ? "completed" : "running");
  $("wf-status").dataset.status = s;
  $("wf-status").textContent = s;
  $("workflow-view").dataset.status = s;
}

async function refreshWorkflow(id, first) {
  let wf;
  try {
    wf = await api(`v1/dashboard/workflows/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!err.superseded && id === wfOpen && first) $("wf-graph").replaceChildren(h("p", { class: "meta" }, `workflow unavailable: ${err.message}`));
    return;
  }
  if (id !== wfOpen) return;  // closed, or another workflow opened meanwhile
  if (first) drawWorkflow(wf);
  for (const n of wf.jobs) setNodeStatus(n.job.id, n.job.status);
  setWorkflowStatus(wf.status);
}

function openWorkflow(id) {
  closeWorkflow();
  wfOpen = id;
  const view = $("workflow-view");
  view.hidden = false;
  view.dataset.workflowId = id;
  $("wf-id").textContent = id;
  $("wf-graph").replaceChildren(h("p", { class: "meta" }, "loading workflow…"));
  setWorkflowStatus("running");
  refreshWorkflow(id, true);
  wfTimer = setInterval(() => refreshWorkflow(id, false), 2000);
  view.scrollIntoView({ block: "start" });
}

function closeWorkflow() {
  if (wfTimer) clearInterval(wfTimer);
  wfTimer = wfOpen = null;
  $("workflow-view").hidden = true;
  delete $("workflow-view").dataset.workflowId;
  $("wf-graph").replaceChildren();
}

// A job changed on the stream: its chips in open detail rows and its node follow at once.
const upsertJobBeforeWorkflow = upsertJob;
upsertJob = function (job, fromList = false) {  // eslint-disable-line no-global-assign
  upsertJobBeforeWorkflow(job, fromList);
  const shown = jobs.get(job.id);
  if (!shown) return;
  for (const chip of document.querySelectorAll(`.rel[data-rel-id="${job.id}"] .status`)) {
    chip.dataset.status = shown.status;
    chip.textContent = shown.status;
  }
  if (wfOpen && shown.workflow_id === wfOpen) { setNodeStatus(shown.id, shown.status); setWorkflowStatus(); }
};

$("wf-close").onclick = closeWorkflow;
document.addEventListener("tenantswitch", closeWorkflow);
