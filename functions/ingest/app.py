"""Ingest function: `POST /v1/ingest/{source_id}`, the public door for a provider's webhooks (SPEC §3).

No API key: the provider's signature is the credential. A plain handler rather than the API's resolver,
so that a cold start imports little: one route, its errors as RFC 9457 problems."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.ingest.deps import ingestor
from shared import problems
from shared.config import metrics_namespace
from shared.errors import BadRequest, SteadfastError

logger = Logger()
NAMESPACE = metrics_namespace()


def _count(name: str) -> None:
    # One EMF document per invocation, built here rather than in a module-level store, so that side-by-side
    # invocations (the local cloud runs several) never flush each other's metrics.
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value="steadfast-ingest")


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
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source_id = str((event.get("pathParameters") or {}).get("id", ""))
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        result = ingestor().ingest(source_id, headers, _body(event))
    except SteadfastError as err:
        if err.status >= 500:
            logger.exception("ingest failed", extra={"problem": err.slug})
        _count(f"IngestRefused{err.status}")
        return _response(err.status, problems.from_error(err, instance=event.get("rawPath")),
                         problems.PROBLEM_CONTENT_TYPE)
    except Exception:
        logger.exception("unhandled error")
        return _response(500, problems.problem(500, "Internal error", "an unexpected error occurred",
                                               slug="internal"), problems.PROBLEM_CONTENT_TYPE)
    _count("IngestDuplicates" if result.duplicate else "Ingested")
    return _response(200, result.model_dump())
