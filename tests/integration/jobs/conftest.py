"""Fixtures of the in-process engine tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.jobs import continuations, engine, protection, sweeper


@pytest.fixture
def emf_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """EMF needs a namespace to flush (Powertools flushes on its own at 100 values); Lambda sets it by env."""
    for metrics in (engine.metrics, protection.metrics, continuations.metrics, sweeper.metrics):
        monkeypatch.setattr(metrics, "namespace", "SteadfastTest")
    yield
    for metrics in (engine.metrics, protection.metrics, continuations.metrics, sweeper.metrics):
        metrics.clear_metrics()
