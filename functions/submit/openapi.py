"""The API's OpenAPI document, as `/v1/openapi.json` serves it and Swagger UI at `/v1/docs` shows it.

Powertools describes the routes from their models; this adds what it cannot know: the API key (a bearer
security scheme, so Swagger UI has an Authorize button; none on the public routes), the problem JSON every
error is (RFC 9457, in place of Powertools' own validation-error schema), and the public ingest route,
which another function serves on the same API."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

from shared.problems import PROBLEM_CONTENT_TYPE
from shared.sources.models import IngestResult
from shared.topology import API_ROUTES

TITLE, VERSION = "Steadfast API", "1.0.0"
SCHEME = "apiKey"
PROBLEM: dict[str, Any] = {
    "type": "object", "title": "Problem", "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "pointer": {"type": "string", "description": "RFC 6901 JSON Pointer into the request body"},
            "parameter": {"type": "string"}, "in": {"type": "string"},
            "detail": {"type": "string"}, "type": {"type": "string"}}}}}}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_WHY = {400: "Unreadable request", 401: "Missing or unknown API key", 404: "Not found (or another tenant's)",
        413: "Body too large", 415: "Not JSON", 422: "Invalid fields", 429: "Over the tenant's request rate"}


def _problem(status: int) -> dict[str, Any]:
    return {"description": _WHY[status], "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}}


def document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for powertools_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(powertools_own, None)
    schemas["Problem"] = PROBLEM
    doc["components"]["securitySchemes"] = {SCHEME: {
        "type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer sk_…`"}}
    doc["security"] = [{SCHEME: []}]
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            _describe(path, method.upper(), op)
    doc["paths"]["/v1/ingest/{source_id}"] = {"post": _ingest_operation(schemas)}
    return doc


def _describe(path: str, method: str, op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    keyed = API_ROUTES.needs_key(method, path)
    if not keyed:
        op["security"] = []
    # Powertools' own 422 (its HTTPValidationError schema) is replaced too: every 422 is a problem.
    errors = {422} if ("requestBody" in op or op.get("parameters") or "422" in responses) else set()
    if keyed:
        errors |= {401, 429}
    if "{" in path:
        errors.add(404)
    if "requestBody" in op:
        errors |= {400, 413, 415}
    for status in sorted(errors):
        responses[str(status)] = _problem(status)


def _ingest_operation(schemas: dict[str, Any]) -> dict[str, Any]:
    result = IngestResult.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(result.pop("$defs", {}))
    schemas["IngestResult"] = result
    return {
        "summary": "Receive a provider's webhook (no API key: its signature is the credential)",
        "tags": ["sources"], "operationId": "ingest_v1_ingest_source_id_post", "security": [],
        "parameters": [{"name": "source_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "description": "The provider's body, byte for byte",
                        "content": {"application/json": {"schema": {}}, "*/*": {"schema": {}}}},
        "responses": {"200": {"description": "Stored (or a duplicate)", "content": {
                          "application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
                      "401": {**_problem(401), "description": "A missing or wrong signature, or a stale timestamp"},
                      "404": _problem(404), "413": _problem(413)}}


@cache
def _swagger_assets() -> tuple[str, str]:
    # Powertools' own copy of Swagger UI, inlined (no CDN).
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as ui

    here = Path(ui.__file__).parent
    return ((here / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
            (here / "swagger-ui.min.css").read_text(encoding="utf-8"))


def swagger_page(app: APIGatewayHttpResolver) -> str:
    # '</' escaped so that no string in the document can close the page's script element.
    spec = re.sub(r"</", r"<\\/", json.dumps(document(app), indent=2))
    js, css = _swagger_assets()
    return generate_swagger_html(spec, js, css, "", None, persist_authorization=True)
