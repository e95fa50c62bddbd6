"""Retryable versus permanent: status codes, the job's retry_on, and transport exceptions."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import BlockedTarget
from shared.jobs.classify import classify_exception, classify_status
from shared.jobs.models import Outcome

DEFAULT = [408, 425, 429, "5xx"]


@pytest.mark.parametrize(("code", "outcome"), [
    (200, Outcome.success), (204, Outcome.success), (408, Outcome.retryable), (425, Outcome.retryable),
    (429, Outcome.retryable), (500, Outcome.retryable), (503, Outcome.retryable), (599, Outcome.retryable),
    (301, Outcome.permanent), (400, Outcome.permanent), (401, Outcome.permanent), (404, Outcome.permanent),
    (410, Outcome.permanent), (422, Outcome.permanent),
])
def test_default_classification(code: int, outcome: Outcome) -> None:
    assert classify_status(code, DEFAULT) is outcome


def test_retry_on_is_the_jobs_own_choice() -> None:
    assert classify_status(404, [404]) is Outcome.retryable
    assert classify_status(500, [429]) is Outcome.permanent
    assert classify_status(409, ["4xx"]) is Outcome.retryable


@pytest.mark.parametrize(("exc", "outcome"), [
    (httpx.ConnectError("refused"), Outcome.retryable),
    (httpx.ReadTimeout("slow"), Outcome.retryable),
    (httpx.RemoteProtocolError("reset"), Outcome.retryable),
    (BlockedTarget("10.0.0.1 is private"), Outcome.permanent),
    (httpx.UnsupportedProtocol("ftp"), Outcome.permanent),
    (ValueError("bug"), Outcome.permanent),
])
def test_exceptions(exc: Exception, outcome: Outcome) -> None:
    assert classify_exception(exc)[0] is outcome
