"""Alert evaluation, run by the poller after each cycle's store step (`Poller.observer`).

Per (inverter, rule) a track exists only while the condition holds:

    condition      no track          pending                          open
    holds          → pending(since)  since + for_s ≤ now → open:      –
                                     incident written, job "open"
    stops          –                 → no track (nothing was sent)    → incident resolved, job "resolved",
                                                                        no track
    can't tell     –                 –                                –

Which pairs are looked at: every inverter of the cycle (due, polled or failed) against its tenant's
rules, and every pending track whose for_s ran out (the sparse `by_check` index), whether or not its
inverter was due: an offline device backs off for hours, yet its incident opens on time.

Each step is idempotent, so that a crash anywhere is healed by the next cycle: the incident id is
derived from (rule, inverter, since), its write is conditional, and the job is submitted under an
idempotency key of the incident and the transition (`shared.alerts.notify`); the track is moved on last.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger

from shared.alerts.conditions import observe
from shared.alerts.models import AlertRule, Incident, IncidentState, Track, TrackState
from shared.alerts.notify import JobNotifier
from shared.alerts.store import AlertStore
from shared.telemetry.models import InverterRecord

logger = Logger(child=True)


class InverterLookup(Protocol):
    def find(self, inverter_id: str) -> InverterRecord | None: ...


def incident_id(rule_id: str, inverter_id: str, since: datetime) -> str:
    """Deterministic, sorted by the condition's start: the same transition always names the same incident."""
    digest = hashlib.sha256(f"{rule_id}|{inverter_id}|{since.isoformat()}".encode()).hexdigest()[:16]
    return f"inc_{int(since.timestamp() * 1000):012x}{digest}"


@dataclass
class EvaluationReport:
    evaluated: int = 0
    opened: int = 0
    resolved: int = 0
    notifications: list[str] = field(default_factory=list)  # job ids


@dataclass
class AlertEvaluator:
    store: AlertStore
    inverters: InverterLookup
    notifier: JobNotifier

    async def observe(self, devices: Sequence[InverterRecord], now: datetime) -> None:
        report = await asyncio.to_thread(self.evaluate, devices, now)
        if report.opened or report.resolved:
            logger.info("alerts evaluated", extra={"evaluated": report.evaluated, "opened": report.opened,
                                                   "resolved": report.resolved})

    def evaluate(self, devices: Sequence[InverterRecord], now: datetime) -> EvaluationReport:
        report = EvaluationReport()
        rules = {tenant: self.store.rules(tenant) for tenant in {d.tenant for d in devices}}
        seen: set[str] = set()
        for device in devices:
            applicable = [r for r in rules[device.tenant] if r.applies_to(device.id)]
            tracks = self.store.tracks(device.id) if applicable else {}
            for rule in applicable:
                self._step(rule, device, tracks.pop(rule.id, None), now, report)
            for stale in tracks:  # its rule was deleted
                self.store.delete_track(device.id, stale)
            seen.add(device.id)
        for inverter_id, rule_id in self.store.due_checks(now):
            if inverter_id in seen:
                continue
            track = self.store.track(inverter_id, rule_id)
            found = self.inverters.find(inverter_id)
            checked = self.store.rule(found.tenant, rule_id) if found else None
            if track is None or found is None or checked is None:
                self.store.delete_track(inverter_id, rule_id)
                continue
            self._step(checked, found, track, now, report)
        return report

    def _step(self, rule: AlertRule, device: InverterRecord, track: Track | None, now: datetime,
              report: EvaluationReport) -> None:
        report.evaluated += 1
        seen = observe(rule, device, now)
        if seen.holds is None:
            return
        if seen.holds:
            if track is None:
                track = Track(tenant=device.tenant, inverter_id=device.id, rule_id=rule.id, state=TrackState.pending,
                              since=seen.since or now)
                due = track.since + timedelta(seconds=rule.for_s)
                if due > now:
                    self.store.put_track(track, check_at=due)
                    return
            if track.state == TrackState.pending and now >= track.since + timedelta(seconds=rule.for_s):
                self._open(rule, device, track, now, report)
            return
        if track is None:
            return
        if track.state == TrackState.open and track.incident_id:
            self._resolve(rule, device, track, now, report)
        self.store.delete_track(device.id, rule.id)

    def _open(self, rule: AlertRule, device: InverterRecord, track: Track, now: datetime,
              report: EvaluationReport) -> None:
        incident = self.store.open_incident(device.tenant, Incident(
            id=incident_id(rule.id, device.id, track.since), rule_id=rule.id, inverter_id=device.id,
            condition=rule.condition, state=IncidentState.open, since=track.since, opened_at=now,
            reading=device.latest))
        job_id = self.notifier.send(device.tenant, rule, incident, IncidentState.open)
        self.store.put_track(track.model_copy(update={"state": TrackState.open, "incident_id": incident.id}))
        report.opened += 1
        report.notifications.append(job_id)
        logger.info("incident opened", extra={"incident_id": incident.id, "rule_id": rule.id,
                                              "inverter_id": device.id, "condition": rule.condition.value,
                                              "job_id": job_id, "tenant": device.tenant})

    def _resolve(self, rule: AlertRule, device: InverterRecord, track: Track, now: datetime,
                 report: EvaluationReport) -> None:
        assert track.incident_id is not None
        incident = self.store.resolve_incident(device.tenant, track.incident_id, now, device.latest)
        if incident is None:
            return
        job_id = self.notifier.send(device.tenant, rule, incident, IncidentState.resolved)
        report.resolved += 1
        report.notifications.append(job_id)
        logger.info("incident resolved", extra={"incident_id": incident.id, "rule_id": rule.id,
                                                "inverter_id": device.id, "job_id": job_id, "tenant": device.tenant})
