"""Credential headers of a job at rest: sealed on every write, opened only to build the call to the target.

`shared.redaction` decides which headers are credentials; their values are stored as envelope-sealed
strings (`shared.envelope`, AES-GCM under a KMS-wrapped data key), bound to the tenant, the job and the
header name, so a sealed value copied into another job or tenant does not open. Sealing happens at the
storage boundary (`stored_spec`), so every path that writes a job (submit, batch, schedules, sources,
callbacks) stores it sealed; a value read back is already sealed and is left as it is. Every read shows
`[redacted]` (`JobRecord.public`); only `open_headers`, called by the delivery, sees the plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.config import env
from shared.envelope import PREFIX, Sealer, sealer
from shared.jobs.models import JobSpec
from shared.redaction import is_secret_header


def _context(tenant: str, job_id: str, header: str) -> dict[str, str]:
    return {"purpose": "job-header", "tenant": tenant, "job": job_id, "header": header.lower()}


def _seal_all(s: Sealer, tenant: str, job_id: str, headers: Mapping[str, str]) -> dict[str, str]:
    return {k: s.seal(v, _context(tenant, job_id, k)) if is_secret_header(k) and not v.startswith(PREFIX) else v
            for k, v in headers.items()}


def needs_sealing(spec: JobSpec) -> bool:
    heads = [spec.request.headers, *(f.headers or {} for f in spec.fallbacks)]
    return any(is_secret_header(k) and not v.startswith(PREFIX) for h in heads for k, v in h.items())


def stored_spec(tenant: str, job_id: str, spec: JobSpec) -> JobSpec:
    """The spec as it is stored: every credential header's value sealed (a no-op when it already is)."""
    if not needs_sealing(spec):
        return spec
    s = sealer(env())
    request = spec.request.model_copy(update={"headers": _seal_all(s, tenant, job_id, spec.request.headers)})
    fallbacks = [f if f.headers is None else f.model_copy(update={"headers": _seal_all(s, tenant, job_id, f.headers)})
                 for f in spec.fallbacks]
    return spec.model_copy(update={"request": request, "fallbacks": fallbacks})


def open_headers(tenant: str, job_id: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to send: sealed values opened (raises SealedValueInvalid for one that does not open)."""
    if not any(v.startswith(PREFIX) for v in headers.values()):
        return dict(headers)
    s = sealer(env())
    return {k: s.open(v, _context(tenant, job_id, k)) if is_secret_header(k) and v.startswith(PREFIX) else v
            for k, v in headers.items()}
