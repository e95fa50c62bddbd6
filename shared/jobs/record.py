"""The stored form of a job, and the one state machine that changes it.

A `JobRecord` is the public Job plus the engine's bookkeeping (lease, per-target counts, run). Its
status changes only through the typed transitions below; each checks that its target status may follow
the current one and sets or clears what that status implies (the lease, `next_attempt_at`), so that no
caller spells a field name to change a job's state.

    transition           from                         to          clears / sets
    submitted            (new)                        pending     next_attempt_at = first attempt
                                                      waiting     waiting_on = the parents not yet completed
                                                                  (and HELD_BY_KEY while its key is ahead)
    placed               (new, not yet written)       (same) or   ordering_seq = its place in its ordering key;
                                                      waiting     behind a live job: waiting on the key too
    released             waiting                      pending     next_attempt_at = now (waiting_on empty)
    claimed              pending, retrying, running*  running     lease_until, lease_owner; claims + 1
    lease_renewed        running                      running     lease_until (a heartbeat)
    abandoned            running*                     running     attempts + 1: the call an expired holder
                                                                  was in (shared.jobs.heartbeat)
    deferred             running                      pending     lease cleared; claims - 1 (not a crash)
                                                      retrying    (when it was attempted before)
    attempted            running                      retrying    lease cleared; attempts + 1; next_attempt_at
    failed_over          running                      retrying    next target, fresh budget, due now
    finished             running                      completed   lease and next_attempt_at cleared;
                                                      failed      attempts + 1; result, last_error
                                                      dead
    dead_lettered        running                      dead        a crash loop: no attempt recorded
    cancelled            waiting, pending, running,   cancelled   lease and next_attempt_at cleared;
                         retrying                                 last_error = why (e.g. a dead parent)
    restarted            failed, dead                 pending     fresh budget on target 0; run + 1; run_base
    rearmed              pending, retrying            (same)      updated_at only (the sweeper sent it again)

    * running: only once its lease has expired (the store's claim checks the time).

Terminal (completed, failed, dead, cancelled) is final except for `restarted`. A transition that is not
in the table raises `IllegalTransition` (a Conflict: the API answers 409).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter

from shared.errors import Conflict
from shared.jobs.credentials import stored_spec
from shared.jobs.models import STORED, TERMINAL, Attempt, Job, JobSpec, Result, Status, iso
from shared.redaction import redact_job

# The job's spec (its request body in it) and its result are stored zlib-compressed, as a binary attribute,
# when they are at least this long and compression saves a tenth: DynamoDB bills every write per started KB
# of the whole item, and the claim and the finish rewrite the job item (AWS's guide, "Best practices for
# storing large items and attributes": compress large attribute values). Below it a KB is not at stake.
PACK_MIN_BYTES = 256

# Jobs are spread over a few due-index partitions so that the sweeper's queries stay under a hot key's
# throughput limit at scale; the sweeper reads every shard.
DUE_SHARDS = 4

S = Status
_LIVE = frozenset({S.waiting, S.pending, S.running, S.retrying})
# In `waiting_on` beside parent ids: the job's ordering key has a live job ahead of it (shared.jobs.ordering).
HELD_BY_KEY = "ordering_key"
# The table above, as data: transition → (from, to). The methods below check against it, and the store's
# conditional writes are derived from it.
TRANSITIONS: dict[str, tuple[frozenset[Status], frozenset[Status]]] = {
    "released": (frozenset({S.waiting}), frozenset({S.pending})),
    "claimed": (frozenset({S.pending, S.retrying, S.running}), frozenset({S.running})),
    "lease_renewed": (frozenset({S.running}), frozenset({S.running})),
    "abandoned": (frozenset({S.running}), frozenset({S.running})),
    "deferred": (frozenset({S.running}), frozenset({S.pending, S.retrying})),
    "attempted": (frozenset({S.running}), frozenset({S.retrying})),
    "failed_over": (frozenset({S.running}), frozenset({S.retrying})),
    "finished": (frozenset({S.running}), frozenset({S.completed, S.failed, S.dead})),
    "dead_lettered": (frozenset({S.running}), frozenset({S.dead})),
    "cancelled": (_LIVE, frozenset({S.cancelled})),
    "restarted": (frozenset({S.failed, S.dead}), frozenset({S.pending})),
    "rearmed": (frozenset({S.pending, S.retrying}), frozenset({S.pending, S.retrying})),
}
# Which status may follow which (the union of the transitions).
MAY_FOLLOW: dict[Status, frozenset[Status]] = {
    s: frozenset(t for frm, to in TRANSITIONS.values() if s in frm for t in to) for s in Status}


def sources_of(transition: str) -> frozenset[Status]:
    """The statuses `transition` starts from (what its conditional write expects)."""
    return TRANSITIONS[transition][0]


class IllegalTransition(Conflict):
    title, slug = "Illegal job state change", "illegal-transition"


class JobRecord(BaseModel):
    id: str
    tenant: str
    spec: JobSpec
    status: Status
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    attempts: int = 0
    target_index: int = 0
    target_attempts: int = 0
    claims: int = 0
    lease_until: datetime | None = None
    lease_owner: str | None = None
    last_error: str | None = None
    last_delay_ms: int | None = None
    result: Result | None = None
    # Runs of the job: 0 at submit, +1 on every manual retry or redrive. Each run that ends owes its own
    # callback (see shared.jobs.callbacks), so the run is part of the callback job's id.
    run: int = 0
    # Attempts made before this run began (the job's `attempts` counts every run): `attempts - run_base` are
    # this run's, the reading the dashboard and CLI show next to the run's budget.
    run_base: int = 0
    # Relations (shared.jobs.links): the parents this job still waits for, how many jobs wait for it (its
    # ending then owes them a followup), and the workflow it belongs to.
    waiting_on: frozenset[str] = frozenset()
    dependents: int = 0
    workflow_id: str | None = None
    # Its place in its ordering key (1, 2, …), set once at submit (shared.jobs.ordering).
    ordering_seq: int | None = None
    # The attempts recorded in the job item itself, oldest first (the store's finish writes the attempt and
    # the state it led to in one conditional write; `JobStore.attempts` adds those recorded as items apart).
    history: tuple[Attempt, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    # -- transitions (see the table in the module docstring) --------------------------------------
    @classmethod
    def submitted(cls, job_id: str, tenant: str, spec: JobSpec, now: datetime, *,
                  waiting_on: frozenset[str] = frozenset(), workflow_id: str | None = None,
                  dependents: int = 0) -> JobRecord:
        """A new job: due at its first attempt time, or `waiting` for the jobs in `waiting_on` to end
        (`dependents`: jobs created with it that wait for it, as a workflow's are)."""
        status = S.waiting if waiting_on else S.pending
        return cls(id=job_id, tenant=tenant, spec=spec, status=status, created_at=now, updated_at=now,
                   next_attempt_at=None if waiting_on else spec.first_attempt_at(now), waiting_on=waiting_on,
                   workflow_id=workflow_id, dependents=dependents)

    def placed(self, seq: int, behind: bool) -> JobRecord:
        """A new job takes place `seq` in its ordering key; `behind` a live job of the key, it also waits for
        the key (HELD_BY_KEY). A job that ended at submit (a dependency had failed) takes its place ended."""
        if self.ordering_seq is not None or self.spec.ordering_key is None or self.claims or self.run:
            raise IllegalTransition(f"job {self.id} is not a new job of an ordering key")
        if not behind or self.terminal:
            return self.model_copy(update={"ordering_seq": seq})
        return self.model_copy(update={"ordering_seq": seq, "status": S.waiting, "next_attempt_at": None,
                                       "waiting_on": self.waiting_on | {HELD_BY_KEY}})

    def released(self, now: datetime) -> JobRecord:
        """What held a waiting job has ended: it is due now (or at its own later first attempt time)."""
        return self._to("released", S.pending, now,
                        next_attempt_at=max(now, self.spec.first_attempt_at(self.created_at)))

    def claimed(self, now: datetime, lease: timedelta, owner: str) -> JobRecord:
        return self._to("claimed", S.running, now, lease_until=now + lease, lease_owner=owner, claims=self.claims + 1)

    def lease_renewed(self, now: datetime, lease: timedelta) -> JobRecord:
        return self._to("lease_renewed", S.running, now, lease_until=now + lease)

    def abandoned(self, now: datetime) -> JobRecord:
        """Taken over from a holder that stopped heartbeating mid-call: that call counts as an attempt
        (its outcome is unknown; the target may have acted on it)."""
        return self._to("abandoned", S.running, now, attempts=self.attempts + 1,
                        target_attempts=self.target_attempts + 1)

    def deferred(self, now: datetime, wait_s: float) -> JobRecord:
        """Put back unattempted (target protection said "not now"); a deferral is not a crash, so it does
        not count toward the sweeper's crash-loop limit."""
        return self._to("deferred", S.retrying if self.attempts > 0 else S.pending, now,
                        next_attempt_at=now + timedelta(seconds=wait_s), claims=max(0, self.claims - 1))

    def attempted(self, now: datetime, delay_s: float, error: str | None, result: Result | None) -> JobRecord:
        """A retryable failure: the same target again after `delay_s`."""
        return self._after_attempt("attempted", S.retrying, now, error, result,
                                   next_attempt_at=now + timedelta(seconds=delay_s), last_delay_ms=int(delay_s * 1000))

    def failed_over(self, now: datetime, error: str | None, result: Result | None) -> JobRecord:
        """This target is exhausted: the next fallback starts with a fresh attempt budget, right away."""
        if self.target_index + 1 >= self.spec.target_count:
            raise IllegalTransition(f"job {self.id} has no target after {self.target_index}")
        return self._after_attempt("failed_over", S.retrying, now, error, result, next_attempt_at=now,
                                   target_index=self.target_index + 1, target_attempts=0, last_delay_ms=None)

    def finished(self, status: Status, now: datetime, error: str | None, result: Result | None) -> JobRecord:
        """An attempt ended the job: completed (its error cleared), failed or dead."""
        return self._after_attempt("finished", status, now, None if status is S.completed else error, result,
                                   next_attempt_at=None)

    def dead_lettered(self, now: datetime, reason: str) -> JobRecord:
        """Dead without a recorded attempt: its worker died on every claim (a crash loop)."""
        return self._to("dead_lettered", S.dead, now, next_attempt_at=None, last_error=reason)

    def cancelled(self, now: datetime, reason: str | None = None) -> JobRecord:
        changes: dict[str, Any] = {"next_attempt_at": None}
        if reason is not None:
            changes["last_error"] = reason
        return self._to("cancelled", S.cancelled, now, **changes)

    def restarted(self, now: datetime, delay_s: float = 0) -> JobRecord:
        """A new run: target 0, a fresh attempt budget, its own callback when it ends."""
        if self.status not in sources_of("restarted"):
            raise IllegalTransition(f"only failed or dead jobs can be retried; job {self.id} is {self.status.value}")
        return self._to("restarted", S.pending, now, next_attempt_at=now + timedelta(seconds=delay_s),
                        target_index=0, target_attempts=0, claims=0, last_delay_ms=None, run=self.run + 1,
                        run_base=self.attempts)

    def rearmed(self, now: datetime) -> JobRecord:
        """Seen by the sweeper: its message was sent again (a wait longer than SQS can hold, or overdue)."""
        return self._to("rearmed", self.status, now)

    def _after_attempt(self, transition: str, status: Status, now: datetime, error: str | None,
                       result: Result | None, **changes: Any) -> JobRecord:
        changes.setdefault("target_attempts", self.target_attempts + 1)
        if result is not None:
            changes["result"] = result
        return self._to(transition, status, now, attempts=self.attempts + 1, last_error=error, **changes)

    def _to(self, transition: str, status: Status, now: datetime, **changes: Any) -> JobRecord:
        frm, to = TRANSITIONS[transition]
        if self.status not in frm or status not in to:
            raise IllegalTransition(f"job {self.id} cannot go from {self.status.value} to {status.value}"
                                    f" ({transition})")
        if status is not S.running:
            changes |= {"lease_until": None, "lease_owner": None}  # every way out of running frees the lease
        return self.model_copy(update={"status": status, "updated_at": now, **changes})

    def public(self) -> Job:
        """The job as every read shows it (API, lists, streams, callbacks): credentials redacted."""
        return redact_job(Job(
            id=self.id, status=self.status, attempts=self.attempts, max_attempts=self.spec.retry.max_attempts,
            created_at=self.created_at, updated_at=self.updated_at, next_attempt_at=self.next_attempt_at,
            request=self.spec.request, retry=self.spec.retry, labels=self.spec.labels,
            target_index=self.target_index, last_error=self.last_error, result=self.result,
            fallbacks=self.spec.fallbacks, callback_url=self.spec.callback_url,
            failure_callback_url=self.spec.failure_callback_url, flow_control=self.spec.flow_control,
            depends_on=self.spec.depends_on, on_dependency_failure=self.spec.on_dependency_failure,
            workflow_id=self.workflow_id, ordering_key=self.spec.ordering_key, priority=self.spec.priority,
            run=self.run, run_attempts=self.attempts - self.run_base,
        ))


def due_shard(job_id: str) -> str:
    return f"DUE#{sum(job_id.encode()) % DUE_SHARDS}"


# The status index's partition of every live status (waiting, pending, running, retrying), sorted by submit
# time: a job's entry stays where it is from submit until it ends (a claim, a retry or a deferral moves no index
# entry: two write units each), and moves once, to its terminal status's partition sorted by end time. A list of
# one live status reads this partition and keeps that status (`JobStore.page`).
LIVE_BUCKET = "live"


def status_bucket(status: Status) -> str:
    return status.value if status in TERMINAL else LIVE_BUCKET


def index_keys(tenant: str, job_id: str, status: Status, created_at: datetime, updated_at: datetime,
               due_at: datetime | None) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "tenant_pk": f"T#{tenant}",
        "created_sk": f"{iso(created_at)}#{job_id}",
        "tenant_status_pk": f"T#{tenant}#{status_bucket(status)}",
        "updated_sk": f"{iso(updated_at if status in TERMINAL else created_at)}#{job_id}",
    }
    if status not in TERMINAL and due_at is not None:
        keys["due_pk"] = due_shard(job_id)
        keys["due_at"] = iso(due_at)
    return keys


def to_attributes(r: JobRecord) -> dict[str, Any]:
    due = r.lease_until if r.status == Status.running else r.next_attempt_at
    return {
        "pk": f"JOB#{r.id}", "sk": "JOB", "id": r.id, "tenant": r.tenant,
        "spec": pack(stored_spec(r.tenant, r.id, r.spec).model_dump_json(exclude_none=True)), "status": r.status.value,
        "created_at": iso(r.created_at), "updated_at": iso(r.updated_at),
        "next_attempt_at": iso(r.next_attempt_at) if r.next_attempt_at else None,
        "attempts": r.attempts, "target_index": r.target_index, "target_attempts": r.target_attempts,
        "claims": r.claims, "lease_until": iso(r.lease_until) if r.lease_until else None,
        "lease_owner": r.lease_owner, "last_error": r.last_error, "last_delay_ms": r.last_delay_ms,
        "result": pack(r.result.model_dump_json()) if r.result else None, "run": r.run,
        "run_base": r.run_base or None,
        "waiting_on": set(r.waiting_on) or None, "dependents": r.dependents or None, "workflow_id": r.workflow_id,
        "ordering_seq": r.ordering_seq, "history": pack(_HISTORY.dump_json(r.history).decode()) if r.history else None,
        **index_keys(r.tenant, r.id, r.status, r.created_at, r.updated_at, due),
        **group_keys(r),
    }


# Jobs listed by what they belong to (GET /v1/jobs?workflow_id= | schedule_id= | source_id=): one group per
# job, the first of these it has (a workflow's id, else the labels a schedule or an inbound source set).
GROUPS = ("workflow_id", "schedule_id", "source_id")


def group_of(r: JobRecord) -> tuple[str, str] | None:
    if r.workflow_id:
        return "workflow_id", r.workflow_id
    return next(((g, r.spec.labels[g]) for g in GROUPS[1:] if r.spec.labels.get(g)), None)


def group_pk(tenant: str, name: str, value: str) -> str:
    return f"T#{tenant}#{name}={value}"


def group_keys(r: JobRecord) -> dict[str, Any]:
    group = group_of(r)
    return {} if group is None else {"group_pk": group_pk(r.tenant, *group)}  # sorted by created_sk


_HISTORY = TypeAdapter(tuple[Attempt, ...])


def pack(text: str) -> str | bytes:
    """`text` as stored: zlib-compressed bytes when that pays (PACK_MIN_BYTES), else as it is."""
    raw = text.encode()
    if len(raw) < PACK_MIN_BYTES:
        return text
    packed = zlib.compress(raw, 6)
    return packed if len(packed) * 10 < len(raw) * 9 else text


def unpack(value: Any) -> str:
    """A stored text attribute back: a string as it is; binary (boto3's `Binary`, or bytes) decompressed."""
    if isinstance(value, str):
        return value
    return zlib.decompress(bytes(value.value if hasattr(value, "value") else value)).decode()


def as_text(item: dict[str, Any]) -> dict[str, Any]:
    """A raw job item (DynamoDB JSON) with its compressed values as the text they hold: what the item says,
    for an inspection (a check that no credential is stored in plaintext must not be fooled by zlib)."""
    return {k: {"S": unpack(v["B"])} if "B" in v else v for k, v in item.items()}


def _dt(v: Any) -> datetime | None:
    return datetime.fromisoformat(v).astimezone(UTC) if v else None


def from_attributes(a: dict[str, Any]) -> JobRecord:
    return JobRecord(
        id=a["id"], tenant=a["tenant"], spec=JobSpec.model_validate_json(unpack(a["spec"]), context=STORED),
        status=Status(a["status"]),
        created_at=_dt(a["created_at"]), updated_at=_dt(a["updated_at"]),
        next_attempt_at=_dt(a.get("next_attempt_at")), attempts=int(a.get("attempts", 0)),
        target_index=int(a.get("target_index", 0)), target_attempts=int(a.get("target_attempts", 0)),
        claims=int(a.get("claims", 0)), lease_until=_dt(a.get("lease_until")), lease_owner=a.get("lease_owner"),
        last_error=a.get("last_error"),
        last_delay_ms=int(a["last_delay_ms"]) if a.get("last_delay_ms") is not None else None,
        result=Result.model_validate_json(unpack(a["result"])) if a.get("result") else None,
        run=int(a.get("run", 0)), run_base=int(a.get("run_base") or 0), waiting_on=frozenset(a.get("waiting_on") or ()),
        dependents=int(a.get("dependents") or 0), workflow_id=a.get("workflow_id"),
        ordering_seq=int(a["ordering_seq"]) if a.get("ordering_seq") is not None else None,
        history=_HISTORY.validate_json(unpack(a["history"])) if a.get("history") else (),
    )
