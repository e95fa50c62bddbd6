"""Onboarding, independent of HTTP: connections checked against the vendor, inverters registered from
what the vendor lists (SPEC §3, Connections).

    create_connection   the credentials list the account's devices (refused → 422 with the vendor's
                        reason), then are sealed and stored with that device list
    devices_now         what the vendor account sees now
    register_inverter   the serial must be one the connection sees; its type comes from the vendor.
                        Without connection_id the stage's shared connection for the brand is used, and
                        the inverter store's owner guard makes a (brand, serial) one tenant's (409)

Vendor calls are async (the adapters' httpx client); the API's handlers are sync, so each call runs its
own short event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from shared.errors import NotFound, Unavailable, Unprocessable
from shared.problems import field_problem
from shared.telemetry.adapters.base import VendorRefused, VendorUnreachable
from shared.telemetry.connection_store import ConnectionStore
from shared.telemetry.connections import ConnectionCreate, ConnectionRecord, Device, new_connection_id
from shared.telemetry.credentials import Credentials
from shared.telemetry.inverter_store import InverterStore
from shared.telemetry.models import DEFAULT_DEVICE_TYPE, Brand, InverterCreate, InverterRecord, utcnow
from shared.telemetry.registry import register
from shared.telemetry.settings import TelemetryEnv
from shared.telemetry.vault import Vault
from shared.telemetry.vendors import VENDORS, base_url, shared_credentials

logger = Logger(child=True)


@dataclass
class Onboarding:
    connections: ConnectionStore
    inverters: InverterStore
    vault: Vault
    tenv: TelemetryEnv
    stage_credentials: Credentials
    timeout_s: float = 10.0

    def create_connection(self, tenant: str, spec: ConnectionCreate) -> ConnectionRecord:
        credentials = spec.checked_credentials()
        devices = self._discover(spec.brand, credentials, None)
        connection_id = new_connection_id()
        record = ConnectionRecord(
            id=connection_id, tenant=tenant, brand=spec.brand, name=spec.name, devices=devices, created_at=_now_ms(),
            sealed_credentials=self.vault.seal(tenant, connection_id, spec.brand.value, credentials))
        logger.info("connection created", extra={"connection_id": connection_id, "tenant": tenant,
                                                  "vendor": spec.brand.value, "devices": len(devices)})
        return self.connections.create(record)

    def devices_now(self, tenant: str, connection_id: str) -> list[Device]:
        record = self.connections.get(tenant, connection_id)
        return self._discover(record.brand, self._open(record), None)

    def register_inverter(self, tenant: str, spec: InverterCreate) -> InverterRecord:
        if spec.connection_id is not None:
            try:
                connection = self.connections.get(tenant, spec.connection_id)
            except NotFound:
                raise field_problem("connection_id", f"no connection {spec.connection_id!r}") from None
            if connection.brand != spec.brand:
                raise field_problem("connection_id",
                             f"connection {connection.id} is a {connection.brand} connection, not {spec.brand}")
            found = self._find(spec, self._discover(spec.brand, self._open(connection), spec.serial))
            return register(self.inverters, tenant, spec, found)
        creds = shared_credentials(spec.brand, self.tenv, self.stage_credentials)
        if creds is None:
            raise Unprocessable(f"this stage has no shared {spec.brand} connection: create a connection with your "
                                "own credentials (POST /v1/connections) and register with its connection_id")
        try:
            devices = self._discover(spec.brand, creds, spec.serial, unreachable_ok=True)
        except VendorUnreachable as exc:
            # The shared path may go on without the vendor: its owner guard, not discovery, decides whose
            # serial it is, and a serial the stage's account cannot read gets no readings. Only a type that
            # nobody named would be a guess.
            if spec.device_type is None and DEFAULT_DEVICE_TYPE.get(spec.brand) is None:
                raise Unavailable(f"{spec.brand} could not be asked for the device's type: {exc}") from exc
            logger.warning("registering without discovery: vendor unreachable",
                           extra={"vendor": spec.brand.value, "error": str(exc)[:200]})
            return register(self.inverters, tenant, spec, Device(serial=spec.serial, device_type=None))
        return register(self.inverters, tenant, spec, self._find(spec, devices))

    # -- plumbing --------------------------------------------------------------------------------
    @staticmethod
    def _find(spec: InverterCreate, devices: list[Device]) -> Device:
        found = next((d for d in devices if d.serial == spec.serial), None)
        if found is None:
            raise field_problem("serial", f"{spec.brand} serial {spec.serial!r} is not among the devices this "
                                          "connection's account sees")
        return found

    def _open(self, record: ConnectionRecord) -> dict[str, str]:
        return self.vault.open(record.tenant, record.id, record.brand.value, record.sealed_credentials)

    def _discover(self, brand: Brand, credentials: Mapping[str, str], serial: str | None,
                  unreachable_ok: bool = False) -> list[Device]:
        import httpx

        vendor, url = VENDORS[brand], base_url(brand, self.tenv)

        async def ask() -> list[Device]:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                return await vendor.discover(http, url, credentials, serial, self.timeout_s)

        try:
            return asyncio.run(ask())
        except VendorRefused as exc:
            raise Unprocessable(f"{brand} refused the credentials: {exc.reason}") from None
        except VendorUnreachable as exc:
            if unreachable_ok:
                raise
            raise Unavailable(f"{brand} could not be asked for the account's devices: {exc}") from None


def _now_ms() -> datetime:
    """Whole milliseconds, as stored: the create answer equals every later read."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
