"""Protecting targets from retry storms: the engine's one door to the circuit breaker, the retry budget
(`shared.jobs.breaker`) and per-key flow control (`shared.jobs.flow`).

`admit` answers, after a job is claimed and before it calls, whether the call may start now; when it
may not, the engine puts the job back with the wait given here (no attempt consumed: the job stays
pending or retrying with `next_attempt_at` set). `settle` reports the call's outcome and frees what
`admit` took. Waits carry jitter, so that jobs parked by one open breaker do not return as a herd.

A job refused for a flow-control key's parallelism waits in the key's room, in priority order
(`shared.jobs.flow`, `shared.jobs.priority`): its Admission is `queued` (the engine keeps it due, so that a
wake-up can claim it at once), and `settle` returns the waiting jobs a freed slot now belongs to, which the
engine wakes with a fresh message.

**Fail open.** Redis holds this state, but the job store is the truth and delivery must go on without
Redis: any Redis error admits the job unprotected, logs a warning and counts `ProtectionFailOpen`;
for `FALLBACK_HOLD_S` afterwards this process does not ask Redis again, so that an unreachable Redis
costs one timeout, not one per job. A slot or probe taken just before Redis failed is freed by its
lease. Metrics (EMF): BreakerOpened, BreakerClosed, CallsDeferred (every refusal) and, by reason,
BreakerDeferred, RetryBudgetExhausted, FlowControlDeferred; ProtectionFailOpen.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.jobs.breaker import BreakerPolicy, DestinationGuard, RetryBudgetPolicy, Verdict, destination
from shared.jobs.flow import MAX_POLL_S, FlowLimiter
from shared.jobs.models import Outcome
from shared.jobs.priority import DEFAULT_AGING_S
from shared.jobs.queue import MAX_DELAY_SECONDS
from shared.jobs.record import JobRecord

if TYPE_CHECKING:
    import redis

logger = Logger(child=True)
metrics = Metrics()
FALLBACK_HOLD_S = 10.0
# A probe holds the half-open slot for its call's timeout plus this margin; a prober that dies frees it then.
PROBE_MARGIN_S = 5.0

BREAKER_OPEN = "breaker_open"
BREAKER_HALF_OPEN = "breaker_half_open"
RETRY_BUDGET = "retry_budget"
FLOW_RATE = "flow_rate"
FLOW_PARALLELISM = "flow_parallelism"
_METRIC = {BREAKER_OPEN: "BreakerDeferred", BREAKER_HALF_OPEN: "BreakerDeferred",
           RETRY_BUDGET: "RetryBudgetExhausted", FLOW_RATE: "FlowControlDeferred",
           FLOW_PARALLELISM: "FlowControlDeferred"}


@dataclass(frozen=True)
class Admission:
    """`go`, or the `reason` it may not and how long to wait. The rest says what to give back in settle."""

    go: bool
    destination: str
    wait_s: float = 0.0
    reason: str | None = None
    probe: bool = False
    guarded: bool = False  # the breaker counted on this call: report its outcome
    flow: bool = False     # holds a flow-control slot or token
    retry_cost: float = 0.0
    queued: bool = False   # waits in a flow-control key's room: stays due, a wake-up may come any moment
    woken: tuple[str, ...] = ()  # waiting jobs a slot given back here now belongs to: wake them


@dataclass
class Protection:
    guard: DestinationGuard | None = None
    flow: FlowLimiter | None = None
    rng: random.Random = field(default_factory=random.Random)
    hold_s: float = FALLBACK_HOLD_S
    _down_until: float = 0.0

    @classmethod
    def on_redis(cls, client: redis.Redis, prefix: str = "", breaker: BreakerPolicy | None = None,
                 budget: RetryBudgetPolicy | None = None, rng: random.Random | None = None,
                 aging_s: float = DEFAULT_AGING_S) -> Protection:
        return cls(DestinationGuard(client, prefix, breaker, budget), FlowLimiter(client, prefix, aging_s=aging_s),
                   rng or random.Random())

    def admit(self, record: JobRecord, owner: str, lease_s: float) -> Admission:
        dest = destination(record.spec.target(record.target_index)[0])
        if self.guard is None or self.flow is None:
            return Admission(go=True, destination=dest)
        import redis  # loaded already: the guard holds a client

        log = {"job_id": record.id, "destination": dest}
        if time.monotonic() < self._down_until:
            metrics.add_metric(name="ProtectionFailOpen", unit=MetricUnit.Count, value=1)
            return Admission(go=True, destination=dest)
        spec, took_flow = record.spec.flow_control, False
        try:
            if spec is not None:
                # It has waited since it became due (its first refusal keeps that place; later ones do not move it).
                since = (record.next_attempt_at or record.created_at).timestamp()
                gate = self.flow.acquire(record.tenant, spec, owner, lease_s, record.id, record.spec.priority, since)
                if gate.verdict == "rate":
                    jitter = 1 / spec.rate if spec.rate else 0.5
                    return self._refuse(dest, FLOW_RATE, gate.wait_s + self.rng.uniform(0, max(jitter, 0.5)),
                                        log | {"flow_key": spec.key}, queued=bool(spec.parallelism))
                if not gate.admitted:
                    # The head is woken when a slot frees; the others ask again about when their turn comes.
                    turn = gate.wait_s * (1 + gate.ahead / (spec.parallelism or 1))
                    wait = min(MAX_POLL_S, turn + self.rng.uniform(0, max(gate.wait_s, 0.5)))
                    return self._refuse(dest, FLOW_PARALLELISM, wait, {
                        **log, "flow_key": spec.key, "ahead": gate.ahead, "priority": record.spec.priority.value},
                        queued=True)
                took_flow = True
            # A retry on the same target pays into the budget; the first call on a target (or a fallback) not.
            cost = (self.guard.retry_cost((record.last_error or "").startswith("timeout"))
                    if record.target_attempts > 0 else 0.0)
            probe_lease = record.spec.request.timeout_s + PROBE_MARGIN_S
            verdict = self.guard.admit(dest, owner, cost, probe_lease)
        except redis.RedisError as exc:
            self._fail_open(exc, log)
            return Admission(go=True, destination=dest)
        if verdict.verdict.admitted:
            probe = verdict.verdict is Verdict.probe
            if probe:
                logger.info("circuit breaker half-open: this job is the probe", extra=log)
            return Admission(go=True, destination=dest, probe=probe, guarded=True, flow=took_flow,
                             retry_cost=0.0 if probe else cost)
        woken: list[str] = []
        if took_flow and spec is not None:
            try:
                woken = self.flow.release(record.tenant, spec, owner, lease_s, refund=True)
            except redis.RedisError as exc:
                self._fail_open(exc, log)
        cooldown = self.guard.breaker.cooldown_s
        match verdict.verdict:
            case Verdict.open:
                refusal = self._refuse(dest, BREAKER_OPEN, verdict.wait_s + self.rng.uniform(0, 1), log)
            case Verdict.half_open:
                wait = min(verdict.wait_s, cooldown) * self.rng.uniform(1, 1.5)
                refusal = self._refuse(dest, BREAKER_HALF_OPEN, wait, log)
            case _:
                refusal = self._refuse(dest, RETRY_BUDGET, verdict.wait_s * self.rng.uniform(1, 2), log)
        return replace(refusal, woken=tuple(woken))

    def settle(self, record: JobRecord, owner: str, admission: Admission, outcome: Outcome | None,
               lease_s: float) -> list[str]:
        """The call ended with `outcome` (None: it never happened). Frees the slot, feeds the breaker;
        returns the waiting jobs of the key that the freed slot now belongs to (the engine wakes them)."""
        if self.guard is None or self.flow is None or not (admission.guarded or admission.flow):
            return []
        import redis  # loaded already: the guard holds a client

        log = {"job_id": record.id, "destination": admission.destination}
        spec = record.spec.flow_control
        woken: list[str] = []
        try:
            if admission.flow and spec is not None:
                woken = self.flow.release(record.tenant, spec, owner, lease_s, refund=outcome is None)
            if not admission.guarded:
                return woken
            if outcome is None:
                if admission.probe:
                    self.guard.release_probe(admission.destination, owner)
                return woken
            refund = 0.0
            if outcome is Outcome.success:
                refund = admission.retry_cost or self.guard.budget.success_refund
            rec = self.guard.record(admission.destination, owner, outcome is not Outcome.retryable, refund)
        except redis.RedisError as exc:
            self._fail_open(exc, log)
            return woken
        if rec.event == "opened":
            metrics.add_metric(name="BreakerOpened", unit=MetricUnit.Count, value=1)
            logger.warning("circuit breaker opened", extra=log | {
                "calls": rec.calls, "failures": rec.failures, "cooldown_s": self.guard.breaker.cooldown_s})
        elif rec.event == "reopened":
            metrics.add_metric(name="BreakerOpened", unit=MetricUnit.Count, value=1)
            logger.warning("circuit breaker probe failed; open again", extra=log | {
                "cooldown_s": self.guard.breaker.cooldown_s})
        elif rec.event == "closed":
            metrics.add_metric(name="BreakerClosed", unit=MetricUnit.Count, value=1)
            logger.info("circuit breaker closed after a successful probe", extra=log)
        return woken

    def _refuse(self, dest: str, reason: str, wait_s: float, log: Mapping[str, object],
                queued: bool = False) -> Admission:
        wait = min(max(wait_s, 0.0), float(MAX_DELAY_SECONDS))
        metrics.add_metric(name="CallsDeferred", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=_METRIC[reason], unit=MetricUnit.Count, value=1)
        logger.info("call deferred", extra={**log, "reason": reason, "wait_s": round(wait, 3)})
        return Admission(go=False, destination=dest, wait_s=wait, reason=reason, queued=queued)

    def _fail_open(self, exc: Exception, log: dict[str, str]) -> None:
        self._down_until = time.monotonic() + self.hold_s
        metrics.add_metric(name="ProtectionFailOpen", unit=MetricUnit.Count, value=1)
        logger.warning("target protection unavailable (Redis); delivering without it", extra=log | {
            "error": f"{type(exc).__name__}: {exc}"[:200], "hold_s": self.hold_s})
