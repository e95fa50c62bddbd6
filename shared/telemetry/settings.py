"""The telemetry part of a function's environment, read once at the handler boundary (the tables and
Redis come from `shared.config.Env`).

Vendor credentials are never values here, only references, resolved by `shared.telemetry.credentials`:
    secret:<key>   a key of the stage's JSON secret (STEADFAST_SECRET_ARN); locally, when no secret is
                   configured, the environment variable <KEY> (e.g. GROWATT_TOKEN)
    env:<NAME>     an environment variable
    ssm:<name>     an SSM SecureString parameter
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class TelemetryEnv(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    sandbox_url: str = Field("http://127.0.0.1:8082", alias="STEADFAST_SANDBOX_URL")
    sandbox_token_ref: str = Field("env:STEADFAST_SANDBOX_TOKEN", alias="STEADFAST_SANDBOX_TOKEN_REF")
    growatt_url: str = Field("https://openapi.growatt.com", alias="STEADFAST_GROWATT_URL")
    growatt_token_ref: str = Field("secret:growatt_token", alias="STEADFAST_GROWATT_TOKEN_REF")
    enphase_url: str = Field("https://api.enphaseenergy.com", alias="STEADFAST_ENPHASE_URL")
    enphase_api_key_ref: str = Field("secret:enphase_api_key", alias="STEADFAST_ENPHASE_API_KEY_REF")
    enphase_token_ref: str = Field("secret:enphase_access_token", alias="STEADFAST_ENPHASE_TOKEN_REF")
    solaredge_url: str = Field("https://monitoringapi.solaredge.com", alias="STEADFAST_SOLAREDGE_URL")
    solaredge_api_key_ref: str = Field("secret:solaredge_api_key", alias="STEADFAST_SOLAREDGE_API_KEY_REF")
    secret_arn: str | None = Field(None, alias="STEADFAST_SECRET_ARN")
    # The cadence of poll cycles: the schedule's rate (60 s in AWS, 5 s locally).
    poll_rate_s: float = Field(60, alias="STEADFAST_POLL_RATE_S", gt=0)
    # How long one invocation keeps running cycles every poll_rate_s: 0 runs one cycle. Serves cadences
    # under EventBridge's one-minute minimum (see functions/poller/app.py).
    poll_loop_s: float = Field(0, alias="STEADFAST_POLL_LOOP_S", ge=0, le=840)
    poll_max_devices: int = Field(20_000, alias="STEADFAST_POLL_MAX_DEVICES", ge=1)


@cache
def telemetry_env() -> TelemetryEnv:
    return TelemetryEnv.model_validate(dict(os.environ))
