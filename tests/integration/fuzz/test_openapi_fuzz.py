"""Schemathesis against the running local stack's `/v1/openapi.json`: valid (positive) and invalid
(negative) inputs for every operation; never a 5xx, and every error is problem JSON. Runs as a tenant of
its own so that its jobs and inverters stay out of other tests' way.

(Schemathesis' pytest plugin does not work with pytest 9, so the operations' Hypothesis strategies are
driven directly.)"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from local.launch import ROOT
from local.stack import StackState

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_key(stack: StackState) -> str:
    tenant = f"fuzz-{uuid.uuid4().hex[:6]}"
    out = subprocess.run([sys.executable, "-m", "local.cli", "keys", "create", "--tenant", tenant], cwd=ROOT,
                         env={**os.environ, "STEADFAST_HOME": stack.home}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_input_makes_the_api_fail(stack: StackState, fuzz_key: str, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the jobs, DLQ and inverter operations are all in the document
    failures: list[str] = []
    calls = 0

    def check(case: Any) -> None:
        nonlocal calls
        headers = dict(case.headers or {})
        if "authorization" not in {k.lower() for k in headers}:
            headers["authorization"] = f"Bearer {fuzz_key}"
        response = case.call(base_url=stack.api_url, headers=headers, timeout=30)
        calls += 1
        where = f"{case.method} {case.formatted_path} → {response.status_code}"
        content_type = (response.headers.get("content-type") or [""])[0]
        if response.status_code >= 500:
            failures.append(f"{where}: {response.text[:300]}")
        elif response.status_code >= 400 and not content_type.startswith("application/problem+json"):
            failures.append(f"{where}: not problem JSON ({content_type})")

    unsatisfiable = 0
    for operation in operations:
        run = settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))(given(operation.as_strategy(mode))(check))
        try:
            run()
        except Unsatisfiable:
            unsatisfiable += 1  # no invalid input exists for it (an operation without parameters or body)
    assert unsatisfiable < len(operations)
    assert calls >= len(operations)
    assert not failures, "\n".join(failures[:20])
