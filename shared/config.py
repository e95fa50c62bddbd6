"""Each function's environment as a model, read once at the handler boundary."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from shared.channels import Keys


class Env(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    jobs_table: str = Field("jobs", alias="JOBS_TABLE")
    tenants_table: str = Field("tenants", alias="TENANTS_TABLE")
    inverters_table: str = Field("inverters", alias="INVERTERS_TABLE")
    readings_table: str = Field("readings", alias="READINGS_TABLE")
    schedules_table: str = Field("schedules", alias="SCHEDULES_TABLE")
    sources_table: str = Field("sources", alias="SOURCES_TABLE")
    # How long an inbound webhook event (headers, body) is kept for the log and replays (at least its
    # source's dedup window).
    event_retention_s: int = Field(30 * 86_400, alias="STEADFAST_EVENT_RETENTION_S")
    rollups_table: str = Field("rollups", alias="ROLLUPS_TABLE")
    alerts_table: str = Field("alerts", alias="ALERTS_TABLE")
    jobs_queue_url: str = Field("", alias="JOBS_QUEUE_URL")
    jobs_dlq_url: str = Field("", alias="JOBS_DLQ_URL")
    # The jobs queue's priority lanes (shared.topology.JOBS_QUEUE.lanes); unset, a lane is the jobs queue.
    jobs_high_queue_url: str = Field("", alias="JOBS_HIGH_QUEUE_URL")
    jobs_low_queue_url: str = Field("", alias="JOBS_LOW_QUEUE_URL")
    # The jobs queue's receives before SQS moves a message to its DLQ (shared.topology.JOBS_QUEUE, set by the
    # CDK app and the local cloud from it): read here so that the worker's cold start need not import the
    # topology for one number.
    jobs_max_receive_count: int = Field(5, alias="JOBS_MAX_RECEIVE_COUNT", ge=1, le=1000)
    redis_url: str | None = Field(None, alias="REDIS_URL")
    # Every Redis key and channel of this stack starts with it (see shared.channels); unset, it is
    # derived from the stage. The local stack sets `local:<api port>:`.
    redis_prefix: str | None = Field(None, alias="STEADFAST_REDIS_PREFIX", max_length=64,
                                     pattern=r"^[A-Za-z0-9:_.\-]*$")
    allow_private_targets: bool = Field(False, alias="STEADFAST_ALLOW_PRIVATE_TARGETS")
    stage: str = Field("local", alias="STEADFAST_STAGE")
    # The worker's lease on a job, renewed by a heartbeat while the call runs (shared.jobs.heartbeat): a
    # worker that dies mid-call is replaced within this plus the sweep grace, not after the call's timeout.
    lease_s: int = Field(60, alias="STEADFAST_LEASE_S", ge=3, le=900)
    fault_points: str = Field("", alias="STEADFAST_FAULTS")
    # How long past due a job may sit before the sweeper assumes its message was lost and sends another.
    sweep_grace_s: float = Field(60, alias="STEADFAST_SWEEP_GRACE_S")
    # The stage's JSON secret in AWS (stream-token key, vendor credentials), read at run time by
    # shared.stage_secret; unset in the local stack.
    secret_arn: str | None = Field(None, alias="STEADFAST_SECRET_ARN")
    # Signs stream tokens in the local stack only (the stack makes one per run); a deployed stage reads
    # the key from secret_arn instead (shared.stage_secret.stream_token_key).
    stream_token_secret: str = Field("dev-only-stream-token-secret", alias="STEADFAST_STREAM_TOKEN_SECRET")
    # Wraps the data keys of secrets at rest (shared.envelope): a KMS key in AWS; without one, and only in
    # the local stage, a key derived from `local_data_key` (the local stack makes one per home directory).
    kms_key_id: str | None = Field(None, alias="STEADFAST_KMS_KEY_ID")
    local_data_key: str = Field("dev-only-local-data-key", alias="STEADFAST_LOCAL_DATA_KEY")
    # An SSE stream ends this long after it opened, before Lambda's 15-minute limit cuts it mid-event;
    # the browser reconnects with Last-Event-ID.
    stream_max_s: float = Field(840, alias="STEADFAST_STREAM_MAX_S")
    # The stream app's keep-alive comment cadence (SPEC §4: at least every 15 s).
    stream_heartbeat_s: float = Field(10, alias="STEADFAST_STREAM_HEARTBEAT_S")
    # Messages a client may fall behind before it is dropped (it reconnects and replays).
    stream_queue_size: int = Field(256, alias="STEADFAST_STREAM_QUEUE_SIZE")
    # Behind API Gateway the stage prefixes every public path (`/dev/v1/…`); the dashboard builds its
    # links from it.
    stream_base_path: str = Field("", alias="STEADFAST_STREAM_BASE_PATH")
    # The local stack's dev key; the dashboard page carries it in the local stage only (never in a deployed
    # stage's page source).
    dev_api_key: str = Field("sk_dev_local", alias="STEADFAST_DEV_API_KEY")
    # Browser origins (comma-separated, exact `scheme://host[:port]`) allowed to call the API and the stream
    # app cross-origin; none by default (the dashboard is served by the stream app itself, same origin).
    cors_origins: str = Field("", alias="STEADFAST_CORS_ORIGINS")
    # Per-tenant API request rate (shared.tenant_limits): `50`, `50/s` or `3000/min`, and the bucket's size.
    tenant_rate: str = Field("50/s", alias="STEADFAST_TENANT_RATE")
    tenant_burst: int = Field(100, ge=1, alias="STEADFAST_TENANT_BURST")
    # Open streams (job, tenant and inverter streams together) per tenant across the stream app's instances.
    tenant_max_streams: int = Field(100, ge=1, alias="STEADFAST_TENANT_MAX_STREAMS")

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    def redis_keys(self) -> Keys:
        return Keys(self.redis_prefix if self.redis_prefix is not None else f"{self.stage}:")


@cache
def env() -> Env:
    return Env.model_validate(dict(os.environ))


DEFAULT_METRICS_NAMESPACE = "Steadfast"


def metrics_namespace() -> str:
    """The EMF namespace of a handler's metrics: POWERTOOLS_METRICS_NAMESPACE, or "Steadfast".

    Powertools reads it once, when the module's `Metrics()` is built, and `log_metrics` raises
    "Must contain a metric namespace" after the handler has done its work when it is missing and any
    metric was added: a worker would have performed the call and then failed the invocation."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
