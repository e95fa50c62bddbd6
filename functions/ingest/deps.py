"""The ingest function's composition root: its collaborators, built once per execution environment from
its settings (read once). Only the handler's module imports it."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from shared.config import Env, env
from shared.envelope import sealer
from shared.jobs.queue import JobQueue
from shared.sources.ingest import Ingestor
from shared.sources.store import SourceStore


def settings() -> Env:
    return env()


@cache
def ingestor() -> Ingestor:
    e = settings()
    return Ingestor(SourceStore(e.sources_table, e.jobs_table), JobQueue(e.jobs_queue_url, e.jobs_dlq_url),
                    sealer(e), retention=timedelta(seconds=e.event_retention_s))


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    ingestor.cache_clear()
