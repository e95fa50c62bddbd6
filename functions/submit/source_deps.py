"""The sources routes' collaborators, built once per execution environment (beside `deps`)."""

from __future__ import annotations

from functools import cache

from functions.submit.deps import jobs
from shared.config import env
from shared.envelope import sealer
from shared.sources.service import SourceService
from shared.sources.store import SourceStore


@cache
def source_store() -> SourceStore:
    e = env()
    return SourceStore(e.sources_table, e.jobs_table)


@cache
def source_service() -> SourceService:
    return SourceService(source_store(), jobs(), sealer(env()), allow_private_targets=env().allow_private_targets)
