"""In-memory stand-ins for the job store, the jobs queue and the tenant store — FOR BENCHMARKS ONLY.

`bench.concurrency` measures the engine's batch concurrency, which moto cannot show: moto serves
≈150–180 DynamoDB writes a second, one at a time, so a batch through it measures moto (DESIGN.md,
"never benchmark the engine through it"). These doubles implement the operations the worker calls
(`claim`, `get_record`, `finish_attempt`, `defer`; `send`, `retry_in`, `dead_letter`;
`signing_secret`) with the same conditions as the DynamoDB/SQS versions, in a dict under a lock, so
that the engine runs unchanged around them. They are not a product feature and nothing outside
`bench/` may use them; the real stores are tested against moto in tests/integration.

They subclass the real classes so that the type checker holds them to the real signatures; the
constructors deliberately skip the parents' (no boto3 client is made). `latency_s` optionally adds a
fixed service time to every call, to see the engine with DynamoDB-like latencies.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.jobs.continuations import Effect
from shared.jobs.models import Attempt, Priority, Status
from shared.jobs.queue import JobQueue
from shared.jobs.record import JobRecord
from shared.jobs.store import JobStore, Owes
from shared.tenants import TenantStore

_CLAIMABLE = {Status.pending, Status.retrying, Status.running}


class BenchMemoryJobStore(JobStore):
    """Jobs in a dict. Benchmark-only double of `shared.jobs.store.JobStore`."""

    def __init__(self, latency_s: float = 0.0) -> None:  # not super(): no DynamoDB client
        self.table = "bench-memory"
        self.latency_s = latency_s
        self.jobs: dict[str, JobRecord] = {}
        self.history: dict[str, list[Attempt]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def _service(self, op: str) -> None:
        self.calls[op] += 1
        if self.latency_s:
            time.sleep(self.latency_s)

    def put(self, record: JobRecord) -> None:
        with self._lock:
            self.jobs[record.id] = record

    def get_record(self, job_id: str) -> JobRecord | None:
        self._service("get_record")
        with self._lock:
            return self.jobs.get(job_id)

    def claim(self, job_id: str, tenant: str, now: datetime, lease: timedelta, owner: str) -> JobRecord | None:
        self._service("claim")
        with self._lock:
            r = self.jobs.get(job_id)
            # The conditions of JobStore.claim's ConditionExpression.
            if (r is None or r.tenant != tenant or r.status not in _CLAIMABLE
                    or (r.lease_until is not None and r.lease_until >= now)
                    or (r.next_attempt_at is not None and r.next_attempt_at > now + timedelta(seconds=1))):
                return None
            claimed = r.claimed(now, lease, owner)
            self.jobs[job_id] = claimed
            return claimed

    def _holds(self, record: JobRecord, owner: str) -> bool:
        current = self.jobs.get(record.id)
        return current is not None and current.lease_owner == owner and current.status == Status.running

    def finish_attempt(self, record: JobRecord, attempt: Attempt, owner: str,
                       owes: Owes = lambda _: ()) -> Sequence[Effect] | None:
        self._service("finish_attempt")
        with self._lock:
            self.history[record.id].append(attempt)
            if not self._holds(record, owner):
                current = self.jobs[record.id]
                self.jobs[record.id] = current.model_copy(update={"attempts": current.attempts + 1})
                return None
            self.jobs[record.id] = record
            return owes(record)

    def defer(self, record: JobRecord, owner: str) -> bool:
        self._service("defer")
        with self._lock:
            if not self._holds(record, owner):
                return False
            self.jobs[record.id] = record
            return True


class BenchMemoryJobQueue(JobQueue):
    """Records what the worker asks of SQS. Benchmark-only double of `shared.jobs.queue.JobQueue`."""

    def __init__(self, latency_s: float = 0.0) -> None:  # not super(): no SQS client
        self.url, self.dlq_url, self.lanes = "bench://jobs", "bench://jobs-dlq", {}
        self.latency_s = latency_s
        self.sent: list[tuple[str, str, float]] = []
        self.hidden: list[tuple[str, float]] = []
        self.dead: list[tuple[str, str]] = []

    def _service(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)

    def send(self, job_id: str, tenant: str, delay_s: float = 0, priority: Priority = Priority.normal) -> None:
        self._service()
        self.sent.append((job_id, tenant, delay_s))

    def retry_in(self, receipt_handle: str, seconds: float, lane: Priority = Priority.normal) -> None:
        self._service()
        self.hidden.append((receipt_handle, seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        self._service()
        self.dead.append((body, reason))


class BenchMemoryTenants(TenantStore):
    """Tenants without signing secrets. Benchmark-only double of `shared.tenants.TenantStore`."""

    def __init__(self) -> None:  # not super(): no DynamoDB client
        self.table = "bench-memory"
        self._cache = {}
        self._secrets = {}

    def signing_secret(self, tenant: str) -> str | None:
        return None
