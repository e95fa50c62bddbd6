"""Envelope encryption against KMS on a real moto server over HTTP: data keys from GenerateDataKey,
opened in another process's sealer through Decrypt, and refused under another key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from shared.config import Env
from shared.envelope import KmsKey, SealedValueInvalid, Sealer, kek_for
from shared.errors import Unavailable
from tests.integration.telemetry.conftest import TEST_ENV, free_port, wait_http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kms() -> Iterator[object]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint)
        yield boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=TEST_ENV["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=TEST_ENV["AWS_SECRET_ACCESS_KEY"])
    finally:
        proc.terminate()
        proc.wait(10)


class CountingClient:
    def __init__(self, client: object) -> None:
        self.client, self.calls = client, []  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> object:
        fn = getattr(self.client, name)

        def call(**kwargs: object) -> object:
            self.calls.append(name)
            return fn(**kwargs)
        return call


def test_sealed_under_kms_opens_elsewhere_once_per_data_key(kms) -> None:  # type: ignore[no-untyped-def]
    key_id = kms.create_key(Description="steadfast test")["KeyMetadata"]["KeyId"]
    writer_client, reader_client = CountingClient(kms), CountingClient(kms)
    writer = Sealer(KmsKey(key_id=key_id, stage="test", client=writer_client))
    sealed = [writer.seal(f"token-{i}", {"tenant": "acme"}) for i in range(20)]
    assert writer_client.calls == ["generate_data_key"]
    reader = Sealer(KmsKey(key_id=key_id, stage="test", client=reader_client))
    assert [reader.open(s, {"tenant": "acme"}) for s in sealed] == [f"token-{i}" for i in range(20)]
    assert reader_client.calls == ["decrypt"]


def test_another_kms_key_does_not_open(kms) -> None:  # type: ignore[no-untyped-def]
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    sealed = Sealer(KmsKey(key_id=first, stage="test", client=kms)).seal("secret", {"tenant": "acme"})
    # AWS answers IncorrectKeyException (-> SealedValueInvalid); moto 5.2.5 answers AccessDeniedException,
    # which, like a real IAM denial, is an outage to the caller (Unavailable): either way nothing opens.
    with pytest.raises((SealedValueInvalid, Unavailable)):
        Sealer(KmsKey(key_id=second, stage="test", client=kms)).open(sealed, {"tenant": "acme"})


def test_env_with_kms_key_uses_kms() -> None:
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        kek = kek_for(Env.model_validate({"STEADFAST_STAGE": "prod", "STEADFAST_KMS_KEY_ID": "alias/x"}))
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
    assert isinstance(kek, KmsKey) and kek.key_id == "alias/x"
