"""Every handler's metrics have a namespace even when POWERTOOLS_METRICS_NAMESPACE is unset: a metric added by
the domain (the shared Powertools metric set) would otherwise make `log_metrics` raise after the handler's
work. Each module is imported in a fresh interpreter, as Lambda imports it, without the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.launch import ROOT

HANDLERS = ["functions.poller.app", "functions.worker.app", "functions.submit.app", "functions.sweeper.app",
            "functions.scheduler.app"]
SCRIPT = """
import importlib, sys
module = importlib.import_module(sys.argv[1])
from shared.jobs import engine
engine.metrics.add_metric(name="Attempts", unit="Count", value=1)  # a metric the domain added
module.metrics.flush_metrics()
"""


@pytest.mark.parametrize("module", HANDLERS)
def test_a_handler_flushes_with_the_default_namespace_when_none_is_set(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_METRICS_NAMESPACE"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, module], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    emf = [json.loads(line) for line in out.stdout.splitlines() if '"_aws"' in line]
    assert emf and emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Steadfast"
    assert emf[-1]["Attempts"] == [1.0]


def test_the_variable_still_names_the_namespace() -> None:
    env = {**os.environ, "POWERTOOLS_METRICS_NAMESPACE": "Other", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", "from functions.sweeper.app import metrics; print(metrics.namespace)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "Other", out.stderr[-2000:]
