"""The API describes itself and answers every request as problem JSON: Swagger UI at /v1/docs from local
assets, /v1/health in the OpenAPI document, unknown routes 404 and wrong methods 405 (real local stack)."""

from __future__ import annotations

import httpx
import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration


def test_swagger_ui_is_served_without_a_cdn(stack: StackState) -> None:
    page = httpx.get(f"{stack.api_url}/v1/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert not any(cdn in page.text for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"))
    spec = httpx.get(f"{stack.api_url}/v1/openapi.json", timeout=30).json()
    assert "/v1/health" in spec["paths"] and "/v1/jobs" in spec["paths"]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/no-such-thing", 404), ("PUT", "/v1/jobs", 405), ("DELETE", "/v1/health", 405),
    ("GET", "/v1/ingest/src_x", 405)])
def test_unknown_routes_and_wrong_methods_are_problems(api: httpx.Client, method: str, path: str,
                                                       status: int) -> None:
    response = api.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    if status == 405:
        assert response.headers["allow"]


def test_the_document_has_the_api_key_scheme_problem_schemas_and_the_ingest_route(stack: StackState) -> None:
    doc = httpx.get(f"{stack.api_url}/v1/openapi.json", timeout=30).json()
    # The API key is a bearer scheme, required everywhere but on the public routes (Swagger UI: Authorize)
    [(name, scheme)] = doc["components"]["securitySchemes"].items()
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"} and doc["security"] == [{name: []}]
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    assert doc["paths"]["/v1/ingest/{source_id}"]["post"]["security"] == []
    # Errors are described as the problem JSON they are
    create = doc["paths"]["/v1/jobs"]["post"]["responses"]
    for status in ("401", "422", "429"):
        assert create[status]["content"] == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}, status
    assert "HTTPValidationError" not in str(doc)
    page = httpx.get(f"{stack.api_url}/v1/docs", timeout=30).text
    assert "persistAuthorization: true" in page and '"securitySchemes"' in page
