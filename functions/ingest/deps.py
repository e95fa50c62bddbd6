"""The ingest function's composition root: its collaborators, built once per execution environment from
its settings (read once). Only the handler's module imports it."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from shared.config import Env, env
from shared.envelope import sealer
from shared.jobs.queue import jobs_queue
from shared.sources.ingest import Ingestor
from shared.sources.store import SourceStore


def settings() -> Env:
    return env()


@cache
def ingestor() -> Ingestor:
    e = settings()
    return Ingestor(SourceStore(e.sources_table, e.jobs_table), jobs_queue(e),
                    sealer(e), retention=timedelta(seconds=e.event_retention_s))


def reset() -> None:
    """Forget what was built (tests that change the environment)."""
    ingestor.cache_clear()
