"""Construct ids, output names, environment variable names and tunables, in one place.

Ids are part of the deployed state (renaming one replaces the resource), so they live here and
nowhere else. Everything a human or a script reads from `cdk.out` or from the stack outputs is named
here too.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_logs as logs

from shared.config import DEFAULT_METRICS_NAMESPACE

REPO_ROOT = Path(__file__).resolve().parent.parent

APP_NAME = "Steadfast"
DEFAULT_STAGE = "dev"
# Stages treated as production: retained data, deletion protection, no sandbox vendor API.
PRODUCTION_STAGES = frozenset({"prod", "production"})


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


# --- context keys (`cdk synth -c key=value`) -------------------------------------------------------
CTX_STAGE = "stage"
# "false" skips the pip step: the asset holds only `shared/` and `functions/` (tests, quick synths).
CTX_BUNDLE = "bundle"
CTX_NAT_GATEWAYS = "natGateways"
CTX_ALARM_EMAIL = "alarmEmail"
CTX_LWA_LAYER_VERSION = "lwaLayerVersion"
# Environment fallback for CTX_BUNDLE, so that `make test` need not pass context.
ENV_BUNDLE = "STEADFAST_CDK_BUNDLE"

# --- construct ids ---------------------------------------------------------------------------------
ID_NETWORK = "Network"
ID_DATA = "Data"
ID_QUEUES = "Queues"
ID_CACHE = "Cache"
ID_SECRETS = "Secrets"
ID_FUNCTIONS = "Functions"
ID_HTTP_APIS = "HttpApis"
ID_STREAMING = "Streaming"
ID_SCHEDULES = "Schedules"
ID_MONITORING = "Monitoring"

# --- stack outputs ---------------------------------------------------------------------------------
# One URL output per HTTP-facing function, named after it: SubmitUrl (the CLI's STEADFAST_API_URL),
# StreamUrl (STEADFAST_STREAM_URL), SandboxUrl in non-production stages.
OUTPUT_URL_SUFFIX = "Url"
OUTPUT_REDIS_ENDPOINT = "RedisEndpoint"
OUTPUT_SECRET_ARN = "AppSecretArn"  # noqa: S105 - a name, not a secret
OUTPUT_DASHBOARD = "DashboardName"
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"

# --- environment variables set on every function ---------------------------------------------------
ENV_STAGE = "STEADFAST_STAGE"
ENV_REDIS_URL = "REDIS_URL"
ENV_SECRET_ARN = "STEADFAST_SECRET_ARN"  # noqa: S105 - a name, not a secret
ENV_KMS_KEY_ID = "STEADFAST_KMS_KEY_ID"
OUTPUT_DATA_KEY_ARN = "DataKeyArn"
# The local stack's stream-token key; never set in AWS, where shared.stage_secret reads the secret.
ENV_STREAM_TOKEN_SECRET = "STEADFAST_STREAM_TOKEN_SECRET"  # noqa: S105 - a name, not a secret
ENV_ALLOW_PRIVATE = "STEADFAST_ALLOW_PRIVATE_TARGETS"
ENV_STREAM_BASE_PATH = "STEADFAST_STREAM_BASE_PATH"


def env_url(function_name: str) -> str:
    """The variable through which other functions learn an HTTP API's base URL (STEADFAST_SANDBOX_URL)."""
    return f"STEADFAST_{function_name.upper()}_URL"


METRICS_NAMESPACE = DEFAULT_METRICS_NAMESPACE

# Keys of the per-stage JSON secret (see README.md, "Deploy to AWS with CDK"). The functions read
# them at run time: shared.stage_secret (this key) and shared.telemetry.credentials (vendor keys).
SECRET_KEY_STREAM_TOKEN = "stream_token_key"  # noqa: S105 - a name, not a secret
# Vendor keys match the `secret:<key>` references of shared/telemetry/settings.py.
SECRET_VENDOR_KEYS = ("growatt_token", "enphase_api_key", "enphase_access_token")

# --- Lambda Web Adapter ----------------------------------------------------------------------------
# Published by AWS in account 753240598075 in every commercial region; version 30 is the newest
# referenced by public templates at the time of writing. Override with `-c lwaLayerVersion=N`.
LWA_LAYER_ACCOUNT = "753240598075"
LWA_LAYER_NAME = "LambdaAdapterLayerX86"
LWA_LAYER_VERSION = 30
STREAM_RUN_SCRIPT = "functions/stream/run.sh"

# --- tunables --------------------------------------------------------------------------------------
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
HTTP_API_RATE_LIMIT = 200  # requests/s per stage, steady state
HTTP_API_BURST_LIMIT = 400
# The public ingest route's own throttle: a provider's burst (a Stripe backlog after an outage) cannot
# starve the tenants' API of the stage's rate, and a flood of forged requests is capped.
INGEST_RATE_LIMIT = 100
INGEST_BURST_LIMIT = 200
STREAM_API_RATE_LIMIT = 50  # new SSE connections/s; each one holds a Lambda for up to 15 min
STREAM_API_BURST_LIMIT = 100
# ApproximateAgeOfOldestMessage counts in-flight messages too, so a job parked invisible for a long
# retry raises it (SQS stops counting a message after its third receive). 30 min catches a stalled
# worker without paging for every long backoff.
OLDEST_MESSAGE_ALARM_S = 30 * 60
POLLER_ERRORS_ALARM_THRESHOLD = 3  # per 5 minutes: one failed tick is noise, three is an outage
# AWS recommends an SQS visibility timeout of at least six times the consuming function's timeout.
VISIBILITY_TO_TIMEOUT_FACTOR = 6
# ElastiCache Serverless caps: they bound the bill, not the design.
CACHE_MAX_DATA_GB = 1
CACHE_MAX_ECPU_PER_SECOND = 5000
