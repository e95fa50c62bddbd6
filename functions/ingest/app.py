"""Ingest function: `POST /v1/ingest/{source_id}`, the public door for a provider's webhooks (SPEC §3).

No API key: the provider's signature is the credential. A plain handler rather than the API's resolver,
so that a cold start imports little: one route, its errors as RFC 9457 problems."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.ingest.deps import ingestor
from shared import problems
from shared.errors import BadRequest, SteadfastError

logger = Logger()
metrics = Metrics()


def _response(status: int, body: dict[str, Any], content_type: str = "application/json") -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": json.dumps(body)}


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(raw).encode()
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("the request body could not be read") from exc


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source_id = str((event.get("pathParameters") or {}).get("id", ""))
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    logger.append_keys(source_id=source_id)
    try:
        result = ingestor().ingest(source_id, headers, _body(event))
    except SteadfastError as err:
        if err.status >= 500:
            logger.exception("ingest failed", extra={"problem": err.slug})
        metrics.add_metric(name=f"IngestRefused{err.status}", unit=MetricUnit.Count, value=1)
        return _response(err.status, problems.from_error(err, instance=event.get("rawPath")),
                         problems.PROBLEM_CONTENT_TYPE)
    except Exception:
        logger.exception("unhandled error")
        return _response(500, problems.problem(500, "Internal error", "an unexpected error occurred",
                                               slug="internal"), problems.PROBLEM_CONTENT_TYPE)
    metrics.add_metric(name="IngestDuplicates" if result.duplicate else "Ingested", unit=MetricUnit.Count, value=1)
    return _response(200, result.model_dump())
