"""What the schedules API does, independent of HTTP: create, read, edit, delete and trigger schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from shared.envelope import SealedValueInvalid
from shared.errors import Conflict, Unprocessable
from shared.jobs.credentials import opened_schedule_spec
from shared.jobs.models import JobSpec, utcnow
from shared.schedules import cron
from shared.schedules.models import SchedulePatch, ScheduleSpec
from shared.schedules.record import ScheduleRecord, new_schedule_id, rfc3339
from shared.schedules.store import ScheduleStore

if TYPE_CHECKING:
    # The scheduler's fires import this module; only those related to other jobs need the job service
    # (shared.schedules.scheduler), so a tick that fires none does not import it.
    from shared.jobs.service import JobService
    from shared.jobs.store import Created

logger = Logger(child=True)
EDIT_TRIES = 5


def schedule_labels(schedule_id: str, fire_time: datetime) -> dict[str, str]:
    return {"schedule_id": schedule_id, "scheduled_for": rfc3339(fire_time)}


def fired_spec(spec: JobSpec, schedule_id: str, fire_time: datetime) -> JobSpec:
    """The job a schedule creates for `fire_time`: its job spec, labelled with the schedule and the time."""
    return spec.model_copy(update={"labels": {**spec.labels, **schedule_labels(schedule_id, fire_time)}})


def job_spec_to_run(record: ScheduleRecord) -> JobSpec:
    """The schedule's job spec with its sealed credential headers opened: what a fire or a trigger submits
    (the job's own write seals them again). One that does not open (another stage's key, a tampered item)
    stays sealed: its job is written and fails as any job whose credential does not open, visibly, instead
    of stopping the tick for every other schedule."""
    try:
        return opened_schedule_spec(record.tenant, record.id, record.job)
    except SealedValueInvalid:
        logger.error("a schedule's sealed credential header does not open",
                     extra={"schedule_id": record.id, "tenant": record.tenant})
        return record.job


@dataclass
class ScheduleService:
    store: ScheduleStore
    # None where only pause and resume are offered (the dashboard, in the stream app).
    jobs: JobService | None

    def _check_job(self, tenant: str, spec: JobSpec) -> None:
        """Refuse a job spec that `POST /v1/jobs` would refuse (the model checked the fields already)."""
        if self.jobs is None:
            raise Unprocessable("this endpoint cannot change a schedule's job")
        if not self.jobs.allow_private_targets:
            from shared.jobs.service import check_targets

            check_targets(spec)
        self.jobs.check_parents(tenant, spec.depends_on, "/job")

    def set_paused(self, tenant: str, schedule_id: str, paused: bool) -> ScheduleRecord:
        return self.patch(tenant, schedule_id, SchedulePatch(paused=paused))

    def create(self, tenant: str, spec: ScheduleSpec, now: datetime | None = None) -> ScheduleRecord:
        now = now or utcnow()
        self._check_job(tenant, spec.job)
        record = ScheduleRecord(id=new_schedule_id(), tenant=tenant, name=spec.name, cron=" ".join(spec.cron.split()),
                                timezone=spec.timezone, job=spec.job, overlap=spec.overlap, paused=spec.paused,
                                created_at=now, updated_at=now).rescheduled(now)
        self.store.create(record)
        logger.info("schedule created", extra={"schedule_id": record.id, "tenant": tenant, "cron": record.cron,
                                               "timezone": record.timezone, "next_fire_at": str(record.next_fire_at)})
        return record

    def patch(self, tenant: str, schedule_id: str, patch: SchedulePatch,
              now: datetime | None = None) -> ScheduleRecord:
        changes = patch.model_dump(exclude_unset=True)
        for _ in range(EDIT_TRIES):
            current = self.store.get(tenant, schedule_id)
            now = now or utcnow()
            fields = {k: getattr(patch, k) for k in changes}
            if "cron" in fields:
                fields["cron"] = " ".join(fields["cron"].split())
            edited = current.model_copy(update={**fields, "updated_at": now, "version": current.version + 1})
            try:
                cron.check(edited.cron, edited.timezone)
            except cron.CronError as exc:
                raise Unprocessable(str(exc), errors=[{"pointer": "/cron" if "cron" in fields else "/timezone",
                                                      "detail": str(exc)}]) from exc
            if "job" in fields:
                self._check_job(tenant, edited.job)
            if {"cron", "timezone"} & fields.keys() or edited.paused != current.paused:
                edited = edited.rescheduled(now)
            try:
                self.store.replace(edited, current.version)
            except Conflict:
                continue  # a fire moved it on meanwhile: apply the edit to what it is now
            logger.info("schedule updated", extra={"schedule_id": schedule_id, "tenant": tenant,
                                                   "fields": sorted(fields), "paused": edited.paused})
            return edited
        raise Conflict(f"schedule {schedule_id} is changing too often to edit; retry")

    def delete(self, tenant: str, schedule_id: str) -> None:
        self.store.delete(tenant, schedule_id)
        logger.info("schedule deleted", extra={"schedule_id": schedule_id, "tenant": tenant})

    def trigger(self, tenant: str, schedule_id: str) -> Created:
        """One extra run now, beside the schedule's own fire times (it does not move them)."""
        record = self.store.get(tenant, schedule_id)
        now = utcnow()
        if self.jobs is None:
            raise Unprocessable("this endpoint cannot trigger schedules")
        created = self.jobs.submit(tenant, job_spec_to_run(record), now=now, labels=schedule_labels(record.id, now))
        self.store.record_run(record.id, created.job.id, now)
        logger.info("schedule triggered", extra={"schedule_id": record.id, "tenant": tenant,
                                                 "job_id": created.job.id})
        return created
