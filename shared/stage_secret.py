"""Keys of the stage's JSON secret in Secrets Manager, read at run time.

In AWS a function that `needs_secrets` gets only the secret's ARN (`STEADFAST_SECRET_ARN`), never a
value: a value would show in the function's configuration and a rotated key would need a redeploy.
Powertools' parameters utility caches what it read for MAX_AGE_S, so a key costs one Secrets Manager
call per execution environment every five minutes, and a rotation reaches every function within that
time. Values never enter a log line, an exception message or a response.

The local stack has no secret: there, and only there (`STEADFAST_STAGE=local`), the stream-token key is
the environment variable `STEADFAST_STREAM_TOKEN_SECRET`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from shared.config import Env
from shared.errors import Unavailable

logger = Logger(child=True)

MAX_AGE_S = 300
LOCAL_STAGE = "local"
# A key of the secret; infra/constructs/secrets.py generates it (infra.constants.SECRET_KEY_STREAM_TOKEN).
STREAM_TOKEN_KEY = "stream_token_key"  # noqa: S105 - a key's name, not a secret


class SecretUnavailable(Unavailable):
    """The stage secret, or a key of it, cannot be read (503: the caller may retry)."""


def secret_value(secret_arn: str, key: str) -> str:
    """One key of the JSON secret `secret_arn`, cached for MAX_AGE_S."""
    try:
        document: Any = parameters.get_secret(secret_arn, transform="json", max_age=MAX_AGE_S)
    except GetParameterError as exc:
        # The AWS error (e.g. AccessDenied) names the ARN and the role, never the value: fine in the log,
        # not in a response.
        logger.error("stage secret unreadable", extra={"key": key, "error": str(exc)})
        raise SecretUnavailable("the stage secret cannot be read") from exc
    except TransformParameterError:
        # The JSON decoder's error keeps the secret's text as its `doc`: do not chain it.
        logger.error("stage secret is not a JSON object", extra={"key": key})
        raise SecretUnavailable("the stage secret cannot be read") from None
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        logger.error("stage secret has no value for a key", extra={"key": key})
        raise SecretUnavailable(f"the stage secret has no value for {key!r}")
    return value


def stream_token_key(e: Env) -> str:
    """The key that signs and verifies stream tokens (`shared.stream_tokens`)."""
    if e.secret_arn:
        return secret_value(e.secret_arn, STREAM_TOKEN_KEY)
    if e.stage != LOCAL_STAGE:
        # A deployed function without the ARN must fail, not sign tokens with a key anyone can read.
        raise SecretUnavailable(f"STEADFAST_SECRET_ARN is not set in stage {e.stage!r}")
    return e.stream_token_secret
