"""Credential headers of a job at rest: sealed on every write, opened only to build the call to the target.

`shared.redaction` decides which headers are credentials; their values are stored as envelope-sealed
strings (`shared.envelope`, AES-GCM under a KMS-wrapped data key), bound to the tenant, the job and the
header name, so a sealed value copied into another job or tenant does not open. Sealing happens at the
storage boundary (`stored_spec`), so every path that writes a job (submit, batch, schedules, sources,
callbacks) stores it sealed; a value read back is already sealed and is left as it is. Every read shows
`[redacted]` (`JobRecord.public`); only `open_headers`, called by the delivery, sees the plaintext.
Schedules keep a job spec too (the job each fire time creates): it is sealed the same way under the
schedule's own context (`sealed_schedule_spec`) and opened only when a fire or a trigger builds the job
(`opened_schedule_spec`), whose write seals it again under the job's context.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.config import env
from shared.envelope import PREFIX, Sealer, sealer
from shared.jobs.models import JobSpec
from shared.redaction import is_secret_header

# header name → the AES-GCM associated data its sealed value is bound to
Context = Callable[[str], dict[str, str]]


def _context(tenant: str, job_id: str, header: str) -> dict[str, str]:
    return {"purpose": "job-header", "tenant": tenant, "job": job_id, "header": header.lower()}


def _schedule_context(tenant: str, schedule_id: str) -> Context:
    return lambda header: {"purpose": "schedule-header", "tenant": tenant, "schedule": schedule_id,
                           "header": header.lower()}


def _seal_all(s: Sealer, context: Context, headers: Mapping[str, str]) -> dict[str, str]:
    return {k: s.seal(v, context(k)) if is_secret_header(k) and not v.startswith(PREFIX) else v
            for k, v in headers.items()}


def _open_all(s: Sealer, context: Context, headers: Mapping[str, str]) -> dict[str, str]:
    return {k: s.open(v, context(k)) if is_secret_header(k) and v.startswith(PREFIX) else v
            for k, v in headers.items()}


def _map_headers(spec: JobSpec, fn: Callable[[Mapping[str, str]], dict[str, str]]) -> JobSpec:
    request = spec.request.model_copy(update={"headers": fn(spec.request.headers)})
    fallbacks = [f if f.headers is None else f.model_copy(update={"headers": fn(f.headers)}) for f in spec.fallbacks]
    return spec.model_copy(update={"request": request, "fallbacks": fallbacks})


def _heads(spec: JobSpec) -> list[Mapping[str, str]]:
    return [spec.request.headers, *(f.headers or {} for f in spec.fallbacks)]


def needs_sealing(spec: JobSpec) -> bool:
    return any(is_secret_header(k) and not v.startswith(PREFIX) for h in _heads(spec) for k, v in h.items())


def is_sealed(spec: JobSpec) -> bool:
    """Whether some credential header of the spec holds a sealed value (it must be opened before use)."""
    return any(is_secret_header(k) and v.startswith(PREFIX) for h in _heads(spec) for k, v in h.items())


def stored_spec(tenant: str, job_id: str, spec: JobSpec) -> JobSpec:
    """The spec as it is stored: every credential header's value sealed (a no-op when it already is)."""
    if not needs_sealing(spec):
        return spec
    s = sealer(env())
    return _map_headers(spec, lambda h: _seal_all(s, lambda k: _context(tenant, job_id, k), h))


def open_headers(tenant: str, job_id: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to send: sealed values opened (raises SealedValueInvalid for one that does not open)."""
    if not any(v.startswith(PREFIX) for v in headers.values()):
        return dict(headers)
    return _open_all(sealer(env()), lambda k: _context(tenant, job_id, k), headers)


def sealed_schedule_spec(tenant: str, schedule_id: str, spec: JobSpec) -> JobSpec:
    """A schedule's job spec as it is stored: credential header values sealed for this schedule."""
    if not needs_sealing(spec):
        return spec
    return _map_headers(spec, lambda h: _seal_all(sealer(env()), _schedule_context(tenant, schedule_id), h))


def opened_schedule_spec(tenant: str, schedule_id: str, spec: JobSpec) -> JobSpec:
    """The job spec a fire or a trigger submits: the schedule's sealed values opened (SealedValueInvalid for
    one that does not open); writing the job seals them again under the job's own context."""
    if not is_sealed(spec):
        return spec
    return _map_headers(spec, lambda h: _open_all(sealer(env()), _schedule_context(tenant, schedule_id), h))
