"""Vendor credential references read through Powertools' parameters utility against moto's Secrets Manager
and SSM (in process, mock_aws): a key of the JSON stage secret, an SSM SecureString, an environment
variable; a missing one is None, never an exception; a read value is cached (one call per TTL)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from shared.telemetry.credentials import Credentials

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_references_resolve_through_secrets_manager_ssm_and_the_environment(aws: None) -> None:
    sm, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    arn = sm.create_secret(Name=f"stage-{uuid.uuid4().hex}",
                           SecretString=json.dumps({"growatt_token": "gt-1"}))["ARN"]
    param = f"/steadfast/{uuid.uuid4().hex}/enphase"
    ssm.put_parameter(Name=param, Value="en-1", Type="SecureString")
    creds = Credentials({"SANDBOX": "sb-1", **os.environ}, secret_arn=arn)
    assert creds.resolve("secret:growatt_token") == "gt-1"
    assert creds.resolve(f"ssm:{param}") == "en-1"
    assert creds.resolve("env:SANDBOX") == "sb-1"
    assert creds.resolve("secret:not_there") is None
    assert creds.resolve("ssm:/steadfast/missing") is None  # logged by reference, not raised
    # Cached: a rotation is seen after the TTL, not on every poll
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"growatt_token": "gt-2"}))
    assert creds.resolve("secret:growatt_token") == "gt-1"
