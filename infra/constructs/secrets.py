"""The per-stage secret (the stream-token signing key and the vendor API credentials) and the KMS key that
wraps the data keys of secrets at rest (shared.envelope).

One JSON secret (one $0.40/month charge) instead of one per value. The signing key is generated at
deploy time; vendor credentials start empty and are filled in by an operator (`aws secretsmanager
put-secret-value`), see README.md ("Deploy to AWS with CDK"). Functions get only the ARN and read the
keys at run time with a five-minute cache (shared.stage_secret, shared.telemetry.credentials).
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constants import SECRET_KEY_STREAM_TOKEN, SECRET_VENDOR_KEYS
from infra.nag import acknowledge


class Secrets(Construct):
    def __init__(self, scope: Construct, id: str, *, stage: str, removal: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.secret = self._build_app_secret(stage)
        self.secret.apply_removal_policy(removal)
        self.data_key = self._build_data_key(stage, removal)

    def _build_data_key(self, stage: str, removal: RemovalPolicy) -> kms.Key:
        # Wraps the data keys of shared.envelope (job credential headers, vendor connections, webhook
        # secrets). Yearly rotation keeps old ciphertexts readable: KMS keeps every key version.
        return kms.Key(self, "DataKey", description=f"Steadfast {stage}: wraps the data keys of secrets at rest",
                       enable_key_rotation=True, removal_policy=removal)

    def _build_app_secret(self, stage: str) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "App",
            # No fixed name: a destroyed secret keeps its name for a 7-30 day recovery window,
            # which would block redeploying the stage. Functions get the ARN.
            description=f"Steadfast {stage}: stream-token signing key and vendor API credentials",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(dict.fromkeys(SECRET_VENDOR_KEYS, "")),
                generate_string_key=SECRET_KEY_STREAM_TOKEN,
                password_length=64,
                exclude_punctuation=True,
            ),
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "No automatic rotation: rotating the signing key invalidates every stream token issued "
            "under the old one, and vendor credentials are issued by the vendors; both are rotated by "
            "hand with put-secret-value and reach the functions within five minutes (README.md).",
        )
        return secret
