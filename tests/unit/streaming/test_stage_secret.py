"""Where the stream-token key comes from (`shared.stage_secret`): the stage's JSON secret when the function
has its ARN (Secrets Manager under moto, in process), the environment only in the local stack, and a
503 without leaking the secret when it cannot be read."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from moto import mock_aws

from shared import stage_secret, stream_tokens
from shared.config import Env

KEY = "k" * 64


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # Powertools keeps one provider (its client and cache) per process: start each test without it.
    DEFAULT_PROVIDERS.pop("secrets", None)
    with mock_aws():
        yield boto3.client("secretsmanager")
    DEFAULT_PROVIDERS.pop("secrets", None)


def _secret(sm: Any, value: str) -> str:
    return str(sm.create_secret(Name=f"steadfast-test-{uuid.uuid4().hex}", SecretString=value)["ARN"])


def _env(**values: str) -> Env:
    return Env.model_validate(values)


def test_a_deployed_function_signs_with_the_key_of_the_stage_secret(sm: Any) -> None:
    arn = _secret(sm, json.dumps({"stream_token_key": KEY, "growatt_token": ""}))
    e = _env(STEADFAST_STAGE="dev", STEADFAST_SECRET_ARN=arn, STEADFAST_STREAM_TOKEN_SECRET="ignored-in-aws")
    key = stage_secret.stream_token_key(e)
    assert key == KEY
    token, _ = stream_tokens.issue(key, "acme", "inv_1")
    assert stream_tokens.verify(KEY, token, "inv_1") == "acme"


def test_the_key_is_cached_between_reads(sm: Any) -> None:
    arn = _secret(sm, json.dumps({"stream_token_key": KEY}))
    assert stage_secret.secret_value(arn, "stream_token_key") == KEY
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"stream_token_key": "rotated"}))
    assert stage_secret.secret_value(arn, "stream_token_key") == KEY  # until MAX_AGE_S has passed


def test_the_local_stack_signs_with_its_environment_key() -> None:
    assert stage_secret.stream_token_key(_env(STEADFAST_STREAM_TOKEN_SECRET="local-run-key")) == "local-run-key"


def test_a_deployed_stage_without_the_secret_refuses_to_fall_back_to_the_dev_key() -> None:
    with pytest.raises(stage_secret.SecretUnavailable, match="STEADFAST_SECRET_ARN") as caught:
        stage_secret.stream_token_key(_env(STEADFAST_STAGE="prod"))
    assert caught.value.status == 503


@pytest.mark.parametrize("document", [json.dumps({"growatt_token": "x"}), json.dumps({"stream_token_key": ""}),
                                      "not json " + KEY, json.dumps([KEY])])
def test_an_unusable_secret_is_a_503_that_never_shows_the_value(
        sm: Any, document: str, capsys: pytest.CaptureFixture[str]) -> None:
    arn = _secret(sm, document)
    with pytest.raises(stage_secret.SecretUnavailable) as caught:
        stage_secret.stream_token_key(_env(STEADFAST_STAGE="dev", STEADFAST_SECRET_ARN=arn))
    shown = [str(caught.value), repr(caught.value.__cause__), capsys.readouterr().out]
    assert not any(KEY in text for text in shown)


def test_an_unreadable_secret_is_a_503(sm: Any) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(stage_secret.SecretUnavailable) as caught:
        stage_secret.stream_token_key(_env(STEADFAST_STAGE="dev", STEADFAST_SECRET_ARN=missing))
    assert caught.value.status == 503
    assert caught.value.detail == "the stage secret cannot be read"


def test_a_stream_token_opens_until_the_expires_at_it_was_given_with() -> None:
    # The claim held whole seconds while `expires_at` kept the milliseconds: a token said to last until
    # …:56.088Z was refused from …:56.000001 on.
    from datetime import UTC, datetime, timedelta

    issued = datetime(2026, 12, 4, 18, 42, 56, 88_000, tzinfo=UTC)
    for token, expires in (stream_tokens.issue(KEY, "acme", "inv_1", now=issued),
                           stream_tokens.issue_jobs(KEY, "acme", now=issued)):
        assert expires.microsecond == 0 and expires <= issued + stream_tokens.DEFAULT_TTL
        tenant, _ = stream_tokens.holder(KEY, token, now=expires)
        assert tenant == "acme"
        with pytest.raises(stream_tokens.Unauthorized):
            stream_tokens.holder(KEY, token, now=expires + timedelta(milliseconds=1))
