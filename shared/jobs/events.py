"""Job status events on Redis, for `GET /v1/jobs/{id}/events` and the dashboard. Best effort: the
job store is the truth, so a Redis outage is logged and never fails the job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from shared.channels import UNPREFIXED, Keys
from shared.jobs.models import Job
from shared.streaming import fanout

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)
JOB_LOG_MAXLEN = 100
JOB_LOG_TTL_S = 7 * 24 * 3600


class JobEvents(Protocol):
    def publish(self, tenant: str, job: Job) -> None: ...


class NoEvents:
    def publish(self, tenant: str, job: Job) -> None:
        return None


class RedisJobEvents:
    def __init__(self, client: redis.Redis, keys: Keys = UNPREFIXED) -> None:
        self.redis = client
        self.keys = keys

    def publish(self, tenant: str, job: Job) -> None:
        import redis

        post = fanout.Post(self.keys.job_log(job.id),
                           (self.keys.job_channel(job.id), self.keys.tenant_jobs_channel(tenant)),
                           job.model_dump_json())
        try:
            fanout.publish(self.redis, [post], maxlen=JOB_LOG_MAXLEN, ttl_s=JOB_LOG_TTL_S)
        except redis.RedisError as exc:
            log.warning("job event not published", extra={"job_id": job.id, "error": str(exc)})


def job_events(client: redis.Redis | None, keys: Keys) -> JobEvents:
    """Events on Redis when the function has one."""
    return RedisJobEvents(client, keys) if client is not None else NoEvents()
