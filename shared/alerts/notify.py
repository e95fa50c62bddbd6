"""An incident's opening or resolution as a job of the engine: a POST of the SPEC's JSON to the rule's
notify_url, with the engine's retries, signing (the tenant's Standard Webhooks secret) and dead letters.

Sent once per transition: the job's id is derived from the incident id and the transition (the engine's
caller-chosen `job_id`), and its body is built from the stored incident only, so that an evaluation
repeated after a crash submits the same job again and the engine answers with the one it already has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.alerts.models import AlertRule, Incident, IncidentState
from shared.jobs.models import JobSpec, RequestSpec, RetrySpec
from shared.jobs.store import Created

# Generous: an alert is worth retrying through a receiver's outage of minutes, then it is a dead letter.
ALERT_RETRY = RetrySpec(max_attempts=12, base_delay_s=1, max_delay_s=300)


class Submitter(Protocol):
    """What the notifier needs of `shared.jobs.service.JobService`."""

    def submit(self, tenant: str, spec: JobSpec, idempotency_key: str | None = None, now: datetime | None = None,
               *, job_id: str | None = None, labels: Mapping[str, str] | None = None) -> Created: ...


def transition_job_id(incident_id: str, state: IncidentState) -> str:
    """`job_alert_<incident>_<open|resolved>`: one job per transition, whoever submits it how often."""
    return f"job_alert_{incident_id.removeprefix('inc_')}_{state.value}"


def job_spec(rule: AlertRule, incident: Incident, state: IncidentState) -> JobSpec:
    body = json.dumps(incident.notification(state), separators=(",", ":"), sort_keys=True)
    return JobSpec(
        request=RequestSpec(url=rule.notify_url, headers={"content-type": "application/json"}, body=body),
        retry=ALERT_RETRY,
    )


@dataclass
class JobNotifier:
    jobs: Submitter

    def send(self, tenant: str, rule: AlertRule, incident: Incident, state: IncidentState) -> str:
        """Submit (or find again) the job of this transition; returns its id."""
        labels = {"alert_rule_id": rule.id, "incident_id": incident.id, "inverter_id": incident.inverter_id,
                  "incident_state": state.value}
        job_id = transition_job_id(incident.id, state)
        created = self.jobs.submit(tenant, job_spec(rule, incident, state), job_id=job_id, labels=labels)
        return created.job.id
