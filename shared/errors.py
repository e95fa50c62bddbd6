"""One exception tree for the domain; `shared.problems` maps it to RFC 9457 responses in one place.

    SteadfastError                    500  something we did not expect (never raised on bad input)
    ├── BadRequest                    400  a request that cannot be read (not JSON, bad cursor)
    ├── Unauthorized                  401  no or unknown API key / stream token
    ├── Forbidden                     403  a valid credential for something else
    ├── NotFound                      404  absent, or another tenant's (never tell them apart)
    ├── Conflict                      409  the resource's state forbids the operation
    │   └── IdempotencyInFlight       409  the same Idempotency-Key is still being accepted
    ├── PayloadTooLarge               413
    ├── Unprocessable                 422  well-formed but invalid (field errors in `errors`)
    │   ├── IdempotencyMismatch       422  the same Idempotency-Key with a different body
    │   └── BlockedTarget             422  a private, loopback or metadata address
    └── Unavailable                   503  a dependency (DynamoDB, SQS) failed; safe to retry
"""

from __future__ import annotations

from typing import Any, ClassVar


class SteadfastError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"
    # Response headers the status itself calls for (a 401's challenge, RFC 9110 §15.5.2).
    response_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers: dict[str, str] = dict(self.response_headers)


class BadRequest(SteadfastError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(SteadfastError):
    status, title, slug = 401, "Unauthorized", "unauthorized"
    response_headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(SteadfastError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(SteadfastError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(SteadfastError):
    status, title, slug = 409, "Conflict", "conflict"


class IdempotencyInFlight(Conflict):
    title, slug = "Idempotent request in flight", "idempotency-in-flight"


class PayloadTooLarge(SteadfastError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class Unprocessable(SteadfastError):
    status, title, slug = 422, "Validation failed", "validation"


class IdempotencyMismatch(Unprocessable):
    title, slug = "Idempotency-Key reused with a different request", "idempotency-mismatch"


class BlockedTarget(Unprocessable):
    title, slug = "Target address not allowed", "blocked-target"


class Unavailable(SteadfastError):
    status, title, slug = 503, "Service unavailable", "unavailable"
