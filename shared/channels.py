"""Redis key and channel names shared by publishers (worker, poller) and the stream app.

Exact channels only: ElastiCache Serverless refuses PSUBSCRIBE."""

from __future__ import annotations

import json
from typing import Any

REPLAY_MAXLEN = 1000


def inverter_channel(inverter_id: str) -> str:
    return f"inverter:{inverter_id}"


def inverter_log(inverter_id: str) -> str:
    return f"inverter:{inverter_id}:log"


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def job_log(job_id: str) -> str:
    return f"job:{job_id}:log"


def tenant_jobs_channel(tenant: str) -> str:
    """Every status change of a tenant's jobs (the dashboard's job list)."""
    return f"tenant:{tenant}:jobs"


def envelope(entry_id: str | bytes, data_json: str) -> str:
    """A published message: the replay-log entry id (the SSE event id) and the JSON payload.

    Subscribers use the id to drop what they already replayed from the log (no duplicate at the seam)."""
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return json.dumps({"id": eid, "data": json.loads(data_json)}, separators=(",", ":"))


def open_envelope(message: str | bytes) -> tuple[str, dict[str, Any]]:
    raw = json.loads(message)
    return str(raw["id"]), raw["data"]
