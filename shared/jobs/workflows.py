"""Workflows (SPEC §3 "Batches and workflows"): up to 100 jobs whose `depends_on` name each other by ref,
accepted all or nothing, and read back as one graph with one status.

Every check (refs unique and known, no cycle — Kahn's algorithm in `shared.jobs.graph` — each spec valid,
targets allowed) runs before anything is written. The jobs are then written waiting, the roots waiting on
the workflow itself, and the workflow item commits with the followup that releases the roots
(`shared.jobs.links`): a request that fails half-way leaves jobs that never run, never a half-run graph.
Jobs with an `ordering_key` join their keys in that same commit, in topological order (so a key never holds
a job behind one that depends on it); a key that moved meanwhile makes the commit fail, and the places are
taken again.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import Field

from shared.errors import Unprocessable
from shared.jobs.continuations import Continuations
from shared.jobs.dependents import dependents_followup
from shared.jobs.graph import topological_order
from shared.jobs.links import MAX_TRANSACT_ITEMS, Links, WorkflowRecord
from shared.jobs.models import JobSpec, Status, Strict, utcnow
from shared.jobs.ordering import Sequences
from shared.jobs.reads import Workflow, read_workflow
from shared.jobs.record import JobRecord
from shared.jobs.service import KEY_READS, check_targets, new_job_id
from shared.jobs.store import ParentsMoved

logger = Logger(child=True)
MAX_WORKFLOW_JOBS = 100
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class WorkflowJobSpec(JobSpec):
    """A job spec with its `ref`; inside a workflow `depends_on` names refs."""

    ref: Ref


class WorkflowSpec(Strict):
    jobs: list[WorkflowJobSpec] = Field(min_length=1, max_length=MAX_WORKFLOW_JOBS)
    labels: dict[str, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict, max_length=20)


def new_workflow_id() -> str:
    return f"wf_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


@dataclass
class WorkflowService:
    continuations: Continuations
    allow_private_targets: bool = False

    def submit(self, tenant: str, spec: WorkflowSpec, now: datetime | None = None) -> Workflow:
        now = now or utcnow()
        refs = [j.ref for j in spec.jobs]
        order = topological_order(refs, {j.ref: j.depends_on for j in spec.jobs})
        if not self.allow_private_targets:
            for job in spec.jobs:
                check_targets(job)
        wf_id = new_workflow_id()
        ids = {ref: new_job_id() for ref in refs}
        children = Counter(d for j in spec.jobs for d in j.depends_on)
        by_ref = {j.ref: j for j in spec.jobs}
        records: dict[str, JobRecord] = {}
        edges: list[tuple[str, str]] = []
        for ref in order:
            job = by_ref[ref]
            parents = [ids[d] for d in job.depends_on]
            job_spec = JobSpec.model_validate({**job.model_dump(exclude={"ref"}), "depends_on": parents})
            waits = parents or [wf_id]  # a root waits for the workflow's commit
            records[ref] = JobRecord.submitted(ids[ref], tenant, job_spec, now, waiting_on=frozenset(waits),
                                               workflow_id=wf_id, dependents=children[ref])
            edges += [(p, ids[ref]) for p in waits]
        wf = WorkflowRecord(id=wf_id, tenant=tenant, created_at=now, labels=spec.labels,
                            refs=[(ref, ids[ref]) for ref in refs])
        start = dependents_followup(wf_id, tenant, 0, Status.completed, now)
        links = Links(self.continuations.store)
        for attempt in range(KEY_READS):
            placed, places = self._in_keys(tenant, list(records.values()))
            try:
                links.create_workflow(wf, placed, edges, start, places)
                break
            except ParentsMoved:
                if attempt == KEY_READS - 1:
                    raise
        logger.info("workflow accepted", extra={"workflow_id": wf_id, "tenant": tenant, "jobs": len(refs)})
        self.continuations.work(start)
        return self.get(tenant, wf_id)

    def _in_keys(self, tenant: str, jobs: list[JobRecord]) -> tuple[list[JobRecord], list[dict[str, Any]]]:
        """`jobs` (in topological order) placed in their ordering keys in that order, and the items that write
        the places; a workflow's jobs join their keys when it commits, so a place's job always exists."""
        sequences = Sequences(self.continuations.store)
        out, items = list(jobs), []
        by_key: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            if job.spec.ordering_key:
                by_key.setdefault(job.spec.ordering_key, []).append(i)
        for key, indices in by_key.items():
            state = sequences.state(tenant, key)
            done = state.done if state else 0
            for offset, i in enumerate(indices):
                out[i], done = sequences.place(jobs[i], state, offset)
            items += sequences.items(tenant, key, state, [out[i] for i in indices], done)
        if len(items) > MAX_TRANSACT_ITEMS - 2:
            raise Unprocessable(f"a workflow's jobs with an ordering_key and their keys take {len(items)} items of "
                                f"one transaction; at most {MAX_TRANSACT_ITEMS - 2} fit (jobs + distinct keys)")
        return out, items

    def get(self, tenant: str, wf_id: str) -> Workflow:
        return read_workflow(Links(self.continuations.store), tenant, wf_id)
