"""The one declaration of what Steadfast is made of: tables, queues, functions and their triggers.

The CDK app (`infra/`) builds AWS resources from it and the local cloud (`local/`) wires the same
handlers to moto, an API Gateway emulation, an SQS event-source loop and a schedule loop. Neither
side names a table, queue or handler that is not declared here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

KeyType = Literal["S", "N"]


@dataclass(frozen=True)
class Index:
    """A global secondary index. KEYS_ONLY when readers fetch the items anyway: an update that leaves the
    index's keys alone then writes nothing to it (each such write is billed)."""

    name: str
    partition_key: str
    sort_key: str | None = None
    # DynamoDB key attribute types: both backends must declare the same, or writes fail in AWS.
    partition_key_type: KeyType = "S"
    sort_key_type: KeyType = "S"
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True)
class Table:
    """A DynamoDB table with string `pk`/`sk` keys, on-demand billing and an optional TTL attribute."""

    name: str
    env_var: str
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    partition_key: str = "pk"
    sort_key: str = "sk"


@dataclass(frozen=True)
class Lane:
    """One priority's queue of a laned queue: an SQS queue of its own that redrives to the shared DLQ, and an
    event-source mapping of its own whose maximum concurrency is this lane's `weight` share of the consumer's
    `max_concurrency`. The lane whose `env_var` is the queue's own is the queue itself."""

    priority: str  # shared.jobs.models.Priority
    env_var: str
    weight: int


@dataclass(frozen=True)
class Queue:
    """A standard SQS queue with a dead-letter queue behind it (and its priority lanes, if any)."""

    name: str
    env_var: str
    dlq_env_var: str
    # The poison-pill net: a message whose processing crashes this many times is quarantined.
    # Per-job max_attempts is enforced by the worker, which recycles long-lived retry messages.
    max_receive_count: int = 5
    # Six worker timeouts (AWS's advice for an event source mapping). A message being worked on does not
    # wait that long: the worker's heartbeat keeps it hidden for one lease at a time.
    visibility_timeout_s: int = 5400
    retention_s: int = 14 * 24 * 3600
    lanes: tuple[Lane, ...] = ()

    @property
    def max_receive_env_var(self) -> str:
        """Where a consumer of the queue reads `max_receive_count` (the worker acts on the last receive before
        the dead-letter queue), set from this declaration by the CDK app and the local cloud alike."""
        return f"{self.name.upper()}_MAX_RECEIVE_COUNT"

    def lane_name(self, lane: Lane) -> str:
        """The lane's queue name: the queue's own for its own lane, else `<name>-<priority>`."""
        return self.name if lane.env_var == self.env_var else f"{self.name}-{lane.priority}"

    @property
    def extra_lanes(self) -> tuple[Lane, ...]:
        """The lanes that are queues of their own (not the queue itself)."""
        return tuple(lane for lane in self.lanes if lane.env_var != self.env_var)


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str
    # Served without an API key (health, the API's own docs, the provider-signed ingest route).
    public: bool = False


@dataclass(frozen=True)
class HttpApi:
    """Routes served by an API Gateway HTTP API (payload format 2.0)."""

    routes: tuple[HttpRoute, ...]
    # The name of the function whose HTTP API these routes join (one public API, several functions).
    shares_api: str | None = None
    # This function also receives every request no route matches (API Gateway's `$default` route), so
    # that an unknown path or a wrong method gets the API's own problem JSON 404/405.
    catch_all: bool = False

    def methods_at(self, path: str) -> list[str]:
        """The methods of the routes whose template matches `path` (empty: no such path)."""
        return [r.method for r in self._matching(path)]

    def needs_key(self, method: str, path: str) -> bool:
        """Whether `method path` is one of these routes and takes an API key (an unknown one is a 404/405)."""
        return any(r.method == method and not r.public for r in self._matching(path))

    def _matching(self, path: str) -> list[HttpRoute]:
        return [r for r in self.routes
                if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(r.path)), path)]


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping with ReportBatchItemFailures."""

    queue: str
    batch_size: int = 10
    max_batching_window_s: int = 0
    max_concurrency: int = 20

    def lane_concurrency(self, lanes: tuple[Lane, ...]) -> dict[str, int]:
        """Each lane's maximum concurrency: its weight's share of `max_concurrency`, at least 2 (the least an
        SQS event-source mapping accepts). Shares are caps, not loans: an idle lane's share stays idle."""
        total = sum(lane.weight for lane in lanes)
        return {lane.priority: max(2, round(self.max_concurrency * lane.weight / total)) for lane in lanes}


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule. AWS cannot fire more often than once a minute; `local_rate_s` is the
    cadence of the local cloud's schedule loop (overridable per function by an environment variable)."""

    rate_s: int
    local_rate_s: int
    local_rate_env: str | None = None


@dataclass(frozen=True)
class StreamingUrl:
    """A function URL in RESPONSE_STREAM mode, serving an ASGI app through the Lambda Web Adapter: the
    Lambda handler is the start-up script beside the app (`run_script`, which starts uvicorn), and the
    adapter waits for `readiness_path` before the first request. There is no Python handler to call."""

    asgi_app: str
    readiness_path: str = "/v1/health"
    run_script: str = "run.sh"


Trigger = HttpApi | QueueSource | Schedule | StreamingUrl


@dataclass(frozen=True)
class Function:
    name: str
    # `module.function` of a plain Lambda handler; none for a streaming app (its trigger says how it runs).
    handler: str | None
    trigger: Trigger
    timeout_s: int = 30
    memory_mb: int = 512
    tables: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    needs_redis: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    # Third-party packages bundled into the deployed asset (pip, manylinux x86_64, CPython 3.12).
    # boto3 is left out on purpose: the Lambda Python runtime provides it.
    requirements: tuple[str, ...] = ()
    # False: deployed to non-production stages only (e.g. the sandbox vendor API).
    production: bool = True
    # Reads the per-stage secret (stream-token signing key, vendor credentials).
    needs_secrets: bool = False
    # Seals or opens secrets at rest (shared.envelope): kms:GenerateDataKey and kms:Decrypt on the stage's key.
    needs_kms: bool = False
    # Execution environments the local cloud runs side by side for an HTTP function, as Lambda scales out
    # under concurrent requests. 1 for handlers whose framework keeps per-request module state (the resolver).
    local_concurrency: int = 1

    @property
    def module(self) -> str:
        """The module that serves the function: the handler's, or the ASGI app's for a streaming URL."""
        if isinstance(self.trigger, StreamingUrl):
            return self.trigger.asgi_app.split(":")[0]
        return self.entry.rsplit(".", 1)[0]

    @property
    def entry(self) -> str:
        """The plain handler to call (`module.function`); a streaming app has none (ValueError)."""
        if self.handler is None:
            raise ValueError(f"the {self.name} function is an ASGI app served over HTTP, not a handler to call")
        return self.handler


# Pinned to what the local stack runs, so that a deployed function imports the versions tested here.
# redis is in the base set because shared.jobs.events (job events) is imported by every job function.
_BASE_REQUIREMENTS = ("aws-lambda-powertools==3.37.0", "pydantic==2.14.3", "redis==8.1.0")
# sniffio: httpcore imports it on every lock and event it sets up and falls back to asyncio when it is absent;
# a failed import is not cached, so each HTTP request searched sys.path several times (encode/httpcore#1103;
# 0.83 -> 0.59 ms of CPU per request, tests/unit/test_http_dependencies.py).
_HTTP_REQUIREMENTS = ("httpx==0.28.1", "sniffio==1.3.1")
# tzdata: the Lambda runtime has no system zone database for zoneinfo.
_CRON_REQUIREMENTS = ("cronsim==2.8", "tzdata==2026.6")
_STREAM_REQUIREMENTS = ("starlette==1.10.0", "uvicorn==0.54.0")
# AES-GCM for shared.envelope (imported on first seal or open, so only those calls pay for it).
_CRYPTO_REQUIREMENTS = ("cryptography==50.0.2",)
# The sun's elevation at an inverter (the no_production alert).
_SUN_REQUIREMENTS = ("astral==3.2",)

JOBS_TABLE = Table(
    name="jobs",
    env_var="JOBS_TABLE",
    ttl_attribute="expires_at",
    indexes=(
        # Every job of a tenant, newest first (list without a status filter); the page's items are read
        # after (BatchGetItem), so the job's many updates never write to this index.
        Index("by_tenant", "tenant_pk", "created_sk", projection="KEYS_ONLY"),
        # Jobs of a tenant in one status (list ?status=dead, DLQ redrive). KEYS_ONLY too: every state change
        # moves the job's entry (two index writes), and an entry of keys is one write unit where the whole
        # item (a 1 KiB request body and its result) is three.
        Index("by_tenant_status", "tenant_status_pk", "updated_sk", projection="KEYS_ONLY"),
        # Sparse: only non-terminal jobs carry `due_pk`; the sweeper reads what is due from it (then the items).
        Index("by_due", "due_pk", "due_at", projection="KEYS_ONLY"),
        # Sparse: jobs of a workflow, a schedule or an inbound source (GET /v1/jobs?workflow_id=…), newest
        # first. Its keys are set once at create, so later updates write nothing to it.
        Index("by_group", "group_pk", "created_sk", projection="KEYS_ONLY"),
    ),
)
TENANTS_TABLE = Table(name="tenants", env_var="TENANTS_TABLE")
INVERTERS_TABLE = Table(
    name="inverters",
    env_var="INVERTERS_TABLE",
    indexes=(
        Index("by_tenant", "tenant_pk", "created_sk"),
        # Sparse shard key + next poll time: the poller reads what is due without a scan.
        Index("by_next_poll", "poll_pk", "next_poll_at"),
    ),
)
READINGS_TABLE = Table(name="readings", env_var="READINGS_TABLE", ttl_attribute="expires_at")
# Cron schedules (shared.schedules). The scheduler reads what is due from the sparse `by_due` index (only
# active schedules carry `due_pk`); ALL projection, because it needs every field to create the job and
# the fire moves `due_at` anyway, rewriting the index entry whatever its projection.
SCHEDULES_TABLE = Table(
    name="schedules",
    env_var="SCHEDULES_TABLE",
    indexes=(
        Index("by_tenant", "tenant_pk", "created_sk", projection="KEYS_ONLY"),
        Index("by_due", "due_pk", "due_at"),
    ),
)
# Closed history buckets (5 min, 1 h, 1 d) per inverter, kept far beyond the readings' TTL.
ROLLUPS_TABLE = Table(name="rollups", env_var="ROLLUPS_TABLE", ttl_attribute="expires_at")
# Alert rules and incidents per tenant, and the evaluator's per (inverter, rule) tracks.
ALERTS_TABLE = Table(
    name="alerts",
    env_var="ALERTS_TABLE",
    indexes=(
        # Sparse: only a pending track carries `check_pk`; each poll cycle reads the tracks whose for_s has
        # run out (`check_at`), also for inverters that were not due (an offline device backs off for hours).
        Index("by_check", "check_pk", "check_at", projection="KEYS_ONLY"),
    ),
)

# Inbound webhook sources, their events (TTL: the retention) and dedup marks (TTL: the dedup window).
SOURCES_TABLE = Table(
    name="sources",
    env_var="SOURCES_TABLE",
    ttl_attribute="expires_at",
    indexes=(Index("by_tenant", "tenant_pk", "created_sk"),),
)

TABLES: tuple[Table, ...] = (JOBS_TABLE, TENANTS_TABLE, INVERTERS_TABLE, READINGS_TABLE, SCHEDULES_TABLE,
                             SOURCES_TABLE, ROLLUPS_TABLE, ALERTS_TABLE)

# Priority lanes (shared.jobs.queue): under a backlog in every lane the worker fleet's 50 invocations split
# 25 / 17 / 8. Weighted, not strict; strict order holds only inside a flow-control key (shared.jobs.flow).
JOBS_QUEUE = Queue(name="jobs", env_var="JOBS_QUEUE_URL", dlq_env_var="JOBS_DLQ_URL", lanes=(
    Lane("high", "JOBS_HIGH_QUEUE_URL", 3), Lane("normal", "JOBS_QUEUE_URL", 2), Lane("low", "JOBS_LOW_QUEUE_URL", 1)))
QUEUES: tuple[Queue, ...] = (JOBS_QUEUE,)

API_ROUTES = HttpApi(
    routes=(
        HttpRoute("GET", "/v1/health", public=True),
        HttpRoute("GET", "/v1/openapi.json", public=True),
        HttpRoute("GET", "/v1/docs", public=True),
        HttpRoute("POST", "/v1/jobs"),
        HttpRoute("GET", "/v1/jobs"),
        HttpRoute("GET", "/v1/jobs/{id}"),
        HttpRoute("GET", "/v1/jobs/{id}/attempts"),
        HttpRoute("POST", "/v1/jobs/{id}/cancel"),
        HttpRoute("POST", "/v1/jobs/{id}/retry"),
        HttpRoute("POST", "/v1/dlq/redrive"),
        HttpRoute("POST", "/v1/jobs/batch"),
        HttpRoute("POST", "/v1/workflows"),
        HttpRoute("GET", "/v1/workflows/{id}"),
        HttpRoute("POST", "/v1/schedules"),
        HttpRoute("GET", "/v1/schedules"),
        HttpRoute("GET", "/v1/schedules/{id}"),
        HttpRoute("PATCH", "/v1/schedules/{id}"),
        HttpRoute("DELETE", "/v1/schedules/{id}"),
        HttpRoute("POST", "/v1/schedules/{id}/trigger"),
        HttpRoute("POST", "/v1/inverters"),
        HttpRoute("GET", "/v1/inverters"),
        HttpRoute("GET", "/v1/inverters/{id}"),
        HttpRoute("GET", "/v1/inverters/{id}/readings"),
        HttpRoute("POST", "/v1/inverters/{id}/stream-token"),
        *(HttpRoute(method, path) for method, path in (
            ("POST", "/v1/sources"), ("GET", "/v1/sources"), ("GET", "/v1/sources/{id}"),
            ("PATCH", "/v1/sources/{id}"), ("DELETE", "/v1/sources/{id}"), ("GET", "/v1/sources/{id}/events"),
            ("GET", "/v1/sources/{id}/events/{event_id}"), ("POST", "/v1/sources/{id}/events/{event_id}/replay"),
            ("POST", "/v1/sources/{id}/replay"))),
        HttpRoute("POST", "/v1/stream-token"),
        HttpRoute("GET", "/v1/inverters/{id}/series"),
        HttpRoute("POST", "/v1/alert-rules"),
        HttpRoute("GET", "/v1/alert-rules"),
        HttpRoute("DELETE", "/v1/alert-rules/{id}"),
        HttpRoute("GET", "/v1/incidents"),
        HttpRoute("POST", "/v1/connections"),
        HttpRoute("GET", "/v1/connections"),
        HttpRoute("GET", "/v1/connections/{id}"),
        HttpRoute("GET", "/v1/connections/{id}/devices"),
        HttpRoute("DELETE", "/v1/connections/{id}"),
    ),
    catch_all=True,
)
# The public ingest route (no API key: the provider's signature is the credential). Served by a function of
# its own on the same HTTP API: a small import for a fast cold start, and its own throttle and role.
INGEST_ROUTES = HttpApi(routes=(HttpRoute("POST", "/v1/ingest/{id}", public=True),), shares_api="submit")

# The sandbox vendor's own HTTP API (functions/sandbox/vendor.py), for stages without real inverters.
SANDBOX_ROUTES = HttpApi(
    routes=(
        HttpRoute("POST", "/v1/devices/last-data"),
        HttpRoute("GET", "/v1/devices"),
        HttpRoute("POST", "/v4/new-api/queryDeviceList"),
        HttpRoute("POST", "/v4/new-api/queryLastData"),
        HttpRoute("GET", "/_stats"),
        HttpRoute("GET", "/v1/health"),
    )
)

FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="submit",
        handler="functions.submit.app.handler",
        trigger=API_ROUTES,
        timeout_s=15,
        tables=("jobs", "tenants", "inverters", "readings", "schedules", "sources", "rollups", "alerts"),
        queues=("jobs",),
        # httpx: shared.jobs.classify and the telemetry adapters import it.
        requirements=_BASE_REQUIREMENTS + _HTTP_REQUIREMENTS + _CRYPTO_REQUIREMENTS + _CRON_REQUIREMENTS,
        needs_secrets=True,
        needs_kms=True,
    ),
    Function(
        name="ingest",
        handler="functions.ingest.app.handler",
        trigger=INGEST_ROUTES,
        timeout_s=10,
        memory_mb=1024,
        tables=("sources", "jobs"),
        queues=("jobs",),
        # No Redis (so no VPC) and no httpx: what a cold start imports is what one POST needs.
        requirements=_BASE_REQUIREMENTS + _CRYPTO_REQUIREMENTS,
        needs_kms=True,
        # A plain handler without per-request module state: providers' bursts are served side by side.
        local_concurrency=8,
    ),
    Function(
        name="worker",
        handler="functions.worker.app.handler",
        trigger=QueueSource(queue="jobs", batch_size=10, max_concurrency=50),
        # A batch runs concurrently, so the invocation lasts as long as its slowest call: up to 900 s
        # (request.timeout_s), Lambda's maximum; a short lease is renewed during it (shared.jobs.heartbeat).
        timeout_s=900,
        tables=("jobs", "tenants"),
        queues=("jobs",),
        needs_redis=True,
        requirements=_BASE_REQUIREMENTS + _HTTP_REQUIREMENTS + _CRYPTO_REQUIREMENTS,
        needs_kms=True,
    ),
    Function(
        name="sweeper",
        handler="functions.sweeper.app.handler",
        trigger=Schedule(rate_s=60, local_rate_s=5, local_rate_env="STEADFAST_SWEEP_RATE_S"),
        timeout_s=60,
        tables=("jobs",),
        queues=("jobs",),
        requirements=_BASE_REQUIREMENTS,
    ),
    Function(
        name="scheduler",
        handler="functions.scheduler.app.handler",
        # EventBridge starts it every minute and it ticks once a second for most of that minute
        # (shared.schedules.scheduler.run_ticks), so fires are seconds late, not up to a minute; the local cloud
        # invokes it every second for one tick each.
        trigger=Schedule(rate_s=60, local_rate_s=1, local_rate_env="STEADFAST_SCHEDULER_RATE_S"),
        timeout_s=70,
        memory_mb=256,
        tables=("schedules", "jobs"),
        queues=("jobs",),
        # No Redis (no VPC), like submit: a fired job shows in lists and streams from DynamoDB.
        requirements=_BASE_REQUIREMENTS + _HTTP_REQUIREMENTS + _CRYPTO_REQUIREMENTS + _CRON_REQUIREMENTS,
        # A fired job is written with its credential headers sealed (shared.jobs.credentials).
        needs_kms=True,
    ),
    Function(
        name="poller",
        handler="functions.poller.app.handler",
        trigger=Schedule(rate_s=60, local_rate_s=5, local_rate_env="STEADFAST_POLL_RATE_S"),
        timeout_s=60,
        # jobs (and the queue): alert notifications are submitted as jobs; rollups, alerts: history, incidents.
        tables=("inverters", "readings", "rollups", "alerts", "jobs"),
        queues=("jobs",),
        needs_redis=True,
        requirements=_BASE_REQUIREMENTS + _HTTP_REQUIREMENTS + _CRYPTO_REQUIREMENTS + _SUN_REQUIREMENTS,
        needs_secrets=True,
        needs_kms=True,
    ),
    Function(
        name="stream",
        handler=None,
        trigger=StreamingUrl(asgi_app="functions.stream.app:app"),
        timeout_s=900,
        memory_mb=1024,
        tables=("jobs", "tenants", "inverters", "readings", "schedules", "rollups", "sources"),
        needs_redis=True,
        # cron: the dashboard's schedules panel shows next runs.
        requirements=_BASE_REQUIREMENTS + _STREAM_REQUIREMENTS + _CRON_REQUIREMENTS,
        needs_secrets=True,
    ),
    Function(
        name="sandbox",
        handler="functions.sandbox.app.handler",
        trigger=SANDBOX_ROUTES,
        timeout_s=10,
        requirements=_BASE_REQUIREMENTS + _HTTP_REQUIREMENTS,
        production=False,
    ),
)


def function(name: str) -> Function:
    for fn in FUNCTIONS:
        if fn.name == name:
            return fn
    raise KeyError(f"no function named {name!r} in the topology")


def table(name: str) -> Table:
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(f"no table named {name!r} in the topology")


def queue(name: str) -> Queue:
    for q in QUEUES:
        if q.name == name:
            return q
    raise KeyError(f"no queue named {name!r} in the topology")
