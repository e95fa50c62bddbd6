"""Creating, listing and deleting alert rules, independent of HTTP."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from shared import netguard
from shared.alerts.models import MAX_RULES_PER_TENANT, AlertRule, AlertRuleCreate, Condition
from shared.alerts.store import AlertStore
from shared.errors import NotFound, Unprocessable
from shared.problems import field_errors
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import utcnow


def new_rule_id() -> str:
    return f"alr_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def _field(name: str, message: str) -> Unprocessable:
    # A body field's problem, in the shape every other one has (`{pointer, detail, type}`).
    return Unprocessable(message, errors=field_errors([{"loc": ("body", name), "msg": message, "type": "value_error"}]))


def create_rule(store: AlertStore, inverters: InverterStore, tenant: str, spec: AlertRuleCreate, *,
                allow_private_targets: bool = False, now: datetime | None = None) -> AlertRule:
    if not allow_private_targets:
        # The one URL check at submit; the worker checks what the name resolves to at connect.
        netguard.check_url(spec.notify_url)
    if spec.inverter_id is not None:
        try:
            inverter = inverters.get(tenant, spec.inverter_id)
        except NotFound as exc:
            raise _field("inverter_id", f"no inverter {spec.inverter_id!r}") from exc
        if spec.condition == Condition.no_production and (inverter.latitude is None or inverter.longitude is None):
            raise _field("inverter_id", "no_production needs the inverter's latitude and longitude "
                                        "(register it with them)")
    if len(store.rules(tenant)) >= MAX_RULES_PER_TENANT:
        raise Unprocessable(f"at most {MAX_RULES_PER_TENANT} alert rules per tenant")
    rule = AlertRule(id=new_rule_id(), inverter_id=spec.inverter_id, condition=spec.condition,
                     threshold=spec.threshold, for_s=spec.for_s, notify_url=spec.notify_url,
                     created_at=now or utcnow())
    store.put_rule(tenant, rule)
    return rule
