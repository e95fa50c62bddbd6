"""The ingest function's collaborators, built once per execution environment from its environment."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from shared.config import env
from shared.envelope import sealer
from shared.jobs.queue import JobQueue
from shared.sources.ingest import Ingestor
from shared.sources.store import SourceStore


@cache
def ingestor() -> Ingestor:
    e = env()
    return Ingestor(SourceStore(e.sources_table, e.jobs_table), JobQueue(e.jobs_queue_url, e.jobs_dlq_url),
                    sealer(e), retention=timedelta(seconds=e.event_retention_s))
