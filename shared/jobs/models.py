"""Pydantic models of the jobs API (SPEC §3): what a caller submits and what it reads back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.envelope import PREFIX
from shared.redaction import SECRET_HEADER
from shared.timestamps import Rfc3339, Timestamp
from shared.timestamps import iso as iso  # the stored form, re-exported for the stores

MAX_BODY_BYTES = 256 * 1024
MAX_RESULT_BODY_BYTES = 64 * 1024
MAX_URL_LENGTH = 2048
MAX_DELAY_S = 30 * 24 * 3600
# A call may take up to Lambda's own limit; the worker's lease is renewed meanwhile (shared.jobs.heartbeat).
MAX_TIMEOUT_S = 900
# Headers a caller may not set: they belong to the transport or to Steadfast's own delivery contract.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer",
    "keep-alive", "proxy-connection", "idempotency-key", "steadfast-attempt",
    "webhook-id", "webhook-timestamp", "webhook-signature",
})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# RFC 9110 5.5 field-value: visible ASCII, SP and HTAB. obs-text (0x80-0xFF) is refused too: a target reads it
# as Latin-1 or not at all, and httpx refuses to send it.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")


class Strict(BaseModel):
    """The base of every request body (jobs, batches, workflows, schedules, redrive, sources): unknown fields are
    refused, and JSON types are taken as they are (pydantic's strict mode). Lax mode read "yes", "true" and 1 as
    true, "10" as a number and true as 1; a JSON API's caller expects a 422 for each (an integer where a float
    goes still passes). Enums and times come as JSON strings (strict mode would take only an enum member or a
    datetime object, which a JSON body never holds), so their fields say `strict=False`."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


class Method(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"


class Jitter(StrEnum):
    none = "none"
    full = "full"
    equal = "equal"
    decorrelated = "decorrelated"


class Status(StrEnum):
    waiting = "waiting"
    pending = "pending"
    running = "running"
    retrying = "retrying"
    completed = "completed"
    failed = "failed"
    dead = "dead"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.completed, Status.failed, Status.dead, Status.cancelled})


class OnDependencyFailure(StrEnum):
    cancel = "cancel"  # a parent that ends failed, dead or cancelled cancels this job (the default)
    run = "run"        # this job runs once every parent has ended, however they ended


class Priority(StrEnum):
    """Which of the jobs waiting for the same capacity goes first (`shared.jobs.priority`: with aging)."""

    high = "high"
    normal = "normal"
    low = "low"


class Outcome(StrEnum):
    success = "success"
    retryable = "retryable"
    permanent = "permanent"


def check_url(value: str) -> str:
    """Syntax only (scheme, host, length); whether the address may be called is `shared.netguard`'s call."""
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(c in value for c in "\r\n\t ") or any(ord(c) < 0x20 for c in value):
        raise ValueError("URL contains whitespace or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("only http and https URLs are allowed")
    if not parts.hostname:
        raise ValueError("URL has no host")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed; send an Authorization header")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("URL has an invalid port") from exc
    return value


Url = Annotated[str, Field(min_length=8, max_length=MAX_URL_LENGTH)]


# Validation context of a spec read back from the store, whose credential headers hold sealed values
# (`shared.jobs.credentials`): longer than 8 KiB may be, and with the envelope prefix, which a caller's may not.
STORED = {"stored": True}
_MAX_SEALED_VALUE = 12 * 1024


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def check_headers(headers: dict[str, str], stored: bool = False) -> dict[str, str]:
    if len(headers) > 50:
        raise ValueError("at most 50 headers")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name[:40]!r}")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by Steadfast and cannot be overridden")
        sealed = stored and value.startswith(PREFIX)
        if len(value) > (_MAX_SEALED_VALUE if sealed else 8192):
            raise ValueError(f"value of header {name!r} is over 8 KiB")
        if not stored and value.startswith(PREFIX) and SECRET_HEADER.search(name):
            raise ValueError(f"value of header {name!r} starts with {PREFIX!r}, the prefix of sealed values")
        if not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"value of header {name!r} has a control or non-ASCII character (RFC 9110 field-value: "
                             "visible ASCII, space and tab only)")
    return headers


class RequestSpec(Strict):
    url: Url
    method: Method = Field(default=Method.POST, strict=False)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    timeout_s: float = Field(default=10, gt=0, le=MAX_TIMEOUT_S)

    _url = field_validator("url")(check_url)
    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return check_headers(v, _stored(info))

    @field_validator("body")
    @classmethod
    def _body_size(cls, v: str | None) -> str | None:
        if v is not None and len(v.encode()) > MAX_BODY_BYTES:
            raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes")
        return v


RetryOn = int | Literal["4xx", "5xx"]
DEFAULT_RETRY_ON: list[RetryOn] = [408, 425, 429, "5xx"]


class RetrySpec(Strict):
    max_attempts: int = Field(default=5, ge=1, le=50)
    base_delay_s: float = Field(default=1, ge=0, le=3600)
    max_delay_s: float = Field(default=3600, ge=0, le=7 * 24 * 3600)
    jitter: Jitter = Field(default=Jitter.full, strict=False)
    retry_on: list[RetryOn] = Field(default_factory=lambda: list(DEFAULT_RETRY_ON), max_length=50)

    @field_validator("retry_on")
    @classmethod
    def _codes(cls, v: list[RetryOn]) -> list[RetryOn]:
        for code in v:
            if isinstance(code, int) and not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code")
        return v

    @model_validator(mode="after")
    def _cap(self) -> RetrySpec:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")
        return self


class Fallback(Strict):
    url: Url
    headers: dict[str, str] | None = None

    _url = field_validator("url")(check_url)

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        return None if v is None else check_headers(v, _stored(info))


class FlowControl(Strict):
    """Per-key flow control, as QStash offers it: at most `rate` calls a second and `parallelism` calls at
    once for every job of this tenant that names `key`. A job that cannot start now waits; it never fails
    for it."""

    key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@/-]+$")
    rate: float | None = Field(default=None, gt=0, le=1000)
    parallelism: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _some_limit(self) -> FlowControl:
        if self.rate is None and self.parallelism is None:
            raise ValueError("flow_control needs rate, parallelism or both")
        return self


# What an ordering key may hold; a list filter by a key is held to it too (a key it could never match is a 422).
ORDERING_KEY_PATTERN = r"^[A-Za-z0-9._:@/-]+$"
OrderingKey = Annotated[str, Field(min_length=1, max_length=128, pattern=ORDERING_KEY_PATTERN)]


class JobSpec(Strict):
    """What a caller submits to `POST /v1/jobs`. Only `request.url` is required."""

    request: RequestSpec
    retry: RetrySpec = Field(default_factory=RetrySpec)
    delay_s: float | None = Field(default=None, ge=0, le=MAX_DELAY_S)
    not_before: Rfc3339 | None = None
    fallbacks: list[Fallback] = Field(default_factory=list, max_length=5)
    callback_url: Url | None = None
    failure_callback_url: Url | None = None
    labels: dict[str, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict, max_length=20)
    flow_control: FlowControl | None = None
    # Ids of this tenant's jobs that must complete first (inside a workflow: refs of its jobs).
    depends_on: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    on_dependency_failure: OnDependencyFailure = Field(default=OnDependencyFailure.cancel, strict=False)
    # This tenant's jobs with the same key run one at a time, in the order accepted (shared.jobs.ordering).
    ordering_key: OrderingKey | None = None
    priority: Priority = Field(default=Priority.normal, strict=False)

    @field_validator("depends_on")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("depends_on names a job twice")
        return v

    @field_validator("callback_url", "failure_callback_url")
    @classmethod
    def _cb(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not 1 <= len(k) <= 64:
                raise ValueError("label keys are 1 to 64 characters")
        return v

    # A field validator, not a model one: its problems point at /not_before, not at the whole body.
    @field_validator("not_before")
    @classmethod
    def _when(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        if v is None:
            return v
        if info.data.get("delay_s") is not None:
            raise ValueError("give delay_s or not_before, not both")
        # a zone and the years 1 to 9999 in UTC: Rfc3339 (shared.timestamps) has made sure of both
        if v > datetime.now(UTC) + timedelta(seconds=MAX_DELAY_S):
            raise ValueError("not_before is more than 30 days ahead")
        return v

    def first_attempt_at(self, now: datetime) -> datetime:
        if self.not_before is not None:
            return max(now, self.not_before.astimezone(UTC))
        return now + timedelta(seconds=self.delay_s or 0)

    def target(self, index: int) -> tuple[str, dict[str, str]]:
        """URL and headers of target `index`: 0 is the request itself, then the fallbacks in order."""
        if index == 0:
            return self.request.url, self.request.headers
        fb = self.fallbacks[index - 1]
        return fb.url, self.request.headers if fb.headers is None else fb.headers

    @property
    def target_count(self) -> int:
        return 1 + len(self.fallbacks)


class Result(BaseModel):
    status_code: int
    headers: dict[str, str]
    body: str
    body_truncated: bool = False
    duration_ms: int


class Attempt(BaseModel):
    n: int
    target_index: int
    started_at: Timestamp
    duration_ms: int
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    next_delay_s: float | None = None
    run: int = 0


class Job(BaseModel):
    """A job as the API returns it."""

    id: str
    status: Status
    attempts: int
    max_attempts: int
    created_at: Timestamp
    updated_at: Timestamp
    next_attempt_at: Timestamp | None
    request: RequestSpec
    retry: RetrySpec
    labels: dict[str, str]
    target_index: int
    last_error: str | None
    result: Result | None
    fallbacks: list[Fallback] = Field(default_factory=list)
    callback_url: str | None = None
    failure_callback_url: str | None = None
    flow_control: FlowControl | None = None
    depends_on: list[str] = Field(default_factory=list)
    on_dependency_failure: OnDependencyFailure = OnDependencyFailure.cancel
    workflow_id: str | None = None
    ordering_key: str | None = None
    # A manual retry or a redrive starts a new run with a fresh budget: `attempts` counts every run's,
    # `run_attempts` this run's (run 0 is the first), so `6 / 2` reads "2 of 2 in run 2, 6 in all".
    run: int = 0
    run_attempts: int = 0
    priority: Priority = Priority.normal


def utcnow() -> datetime:
    return datetime.now(UTC)
