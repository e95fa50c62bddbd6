"""`POST /v1/stream-token` (SPEC §4): an API key, sent in the header, for a short-lived token that opens
this tenant's job and tenant streams from a browser, so that no API key ever travels in a URL."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from functions.submit.auth import tenant_of
from shared import stage_secret, stream_tokens
from shared.config import env
from shared.telemetry.models import StreamToken

router = APIGatewayHttpRouter()


@router.post("/v1/stream-token")
def create_jobs_stream_token() -> StreamToken:
    return stream_tokens.for_jobs(stage_secret.stream_token_key(env()), tenant_of(router))
