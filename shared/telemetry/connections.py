"""Connections (SPEC §3): a tenant's own vendor credentials, checked by listing the account's devices.

    ConnectionCreate   what `POST /v1/connections` takes; `checked_credentials()` holds `credentials` to the
                       brand's credentials model (CREDENTIALS), field errors under /credentials/…
    Connection         what the API returns: never the credentials
    ConnectionRecord   the stored form: the credentials sealed (`shared.telemetry.vault`)

A connection id names whose credentials a poll uses; an inverter without one uses the stage's shared
connection for its brand (`SHARED`), under which a (brand, serial) belongs to one tenant.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.errors import Unprocessable
from shared.problems import field_errors
from shared.telemetry.models import Brand
from shared.timestamps import Timestamp

SHARED = "shared"
Secret = Annotated[str, StringConstraints(min_length=1, max_length=2048, strip_whitespace=True)]


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SandboxCredentials(_Credentials):
    token: Secret


class GrowattCredentials(_Credentials):
    """An OpenAPI v4 token (the `token` header)."""

    token: Secret


class EnphaseCredentials(_Credentials):
    """The app's API key (`?key=`) and the system owner's OAuth access token (`Authorization: Bearer`)."""

    api_key: Secret
    access_token: Secret


class SolarEdgeCredentials(_Credentials):
    """A Monitoring API V2 key (`X-API-Key`): 300 requests a day for the key and for each site."""

    api_key: Secret


CREDENTIALS: dict[Brand, type[_Credentials]] = {
    Brand.sandbox: SandboxCredentials, Brand.growatt: GrowattCredentials, Brand.enphase: EnphaseCredentials,
    Brand.solaredge: SolarEdgeCredentials,
}


class Device(BaseModel):
    """A device as the vendor account lists it; `device_type` None: the vendor does not say (the sandbox's
    shared account makes a device the type it is first asked for)."""

    model_config = ConfigDict(frozen=True)

    serial: str
    device_type: str | None
    name: str | None = None


class ConnectionCreate(BaseModel):
    """`credentials` is only an object here; `checked_credentials` holds it to the brand's model, so that each
    field's problem points into it (`/credentials/token`), which a model validator's error cannot."""

    model_config = ConfigDict(extra="forbid")

    brand: Brand
    name: str | None = Field(default=None, max_length=100)
    credentials: dict[str, Any] = Field(max_length=8)

    def checked_credentials(self) -> dict[str, str]:
        """The credentials as the brand takes them; Unprocessable (422) naming each field, never a value."""
        try:
            checked = CREDENTIALS[self.brand].model_validate(self.credentials)
        except ValidationError as exc:
            # Without the input: the values are secrets.
            details = [{"loc": ("body", "credentials", *e["loc"]), "msg": e["msg"], "type": e["type"]}
                       for e in exc.errors(include_input=False)]
            raise Unprocessable(f"these are not {self.brand} credentials",
                                errors=field_errors(details, {"credentials": self.credentials})) from None
        return {k: v for k, v in checked.model_dump().items() if isinstance(v, str)}


class Connection(BaseModel):
    """A connection as the API returns it (never its credentials)."""

    id: str
    brand: Brand
    name: str | None
    status: Literal["active"]
    devices: list[Device]
    created_at: Timestamp


class ConnectionPage(BaseModel):
    items: list[Connection]
    next_cursor: str | None


class DeviceList(BaseModel):
    items: list[Device]


class ConnectionRecord(BaseModel):
    id: str
    tenant: str
    brand: Brand
    name: str | None
    devices: list[Device]
    sealed_credentials: str
    created_at: datetime
    status: Literal["active"] = "active"

    def public(self) -> Connection:
        return Connection(id=self.id, brand=self.brand, name=self.name, status=self.status, devices=self.devices,
                          created_at=self.created_at)


def new_connection_id() -> str:
    return f"con_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"
