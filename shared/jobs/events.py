"""Job status events on Redis, for `GET /v1/jobs/{id}/events` and the dashboard. Best effort: the
job store is the truth, so a Redis outage is logged and never fails the job."""

from __future__ import annotations

import logging
from typing import Protocol

import redis

from shared import channels
from shared.jobs.models import Job

log = logging.getLogger(__name__)
JOB_LOG_MAXLEN = 100
JOB_LOG_TTL_S = 7 * 24 * 3600


class JobEvents(Protocol):
    def publish(self, tenant: str, job: Job) -> None: ...


class NoEvents:
    def publish(self, tenant: str, job: Job) -> None:
        return None


class RedisJobEvents:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def publish(self, tenant: str, job: Job) -> None:
        data = job.model_dump_json()
        try:
            # The stream entry id is the SSE event id, so a late subscriber replays what it missed.
            pipe = self.redis.pipeline(transaction=False)
            pipe.xadd(channels.job_log(job.id), {"data": data}, maxlen=JOB_LOG_MAXLEN, approximate=True)
            pipe.expire(channels.job_log(job.id), JOB_LOG_TTL_S)
            entry_id = pipe.execute()[0]
            message = channels.envelope(entry_id, data)
            pipe = self.redis.pipeline(transaction=False)
            pipe.publish(channels.job_channel(job.id), message)
            pipe.publish(channels.tenant_jobs_channel(tenant), message)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("job event not published", extra={"job_id": job.id, "error": str(exc)})


def job_events(redis_url: str | None) -> JobEvents:
    """Events on Redis when the function has one, with short timeouts (events never hold up a job)."""
    if not redis_url:
        return NoEvents()
    return RedisJobEvents(redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5))
